//! Integration tests of mcpgate-auth through its public API.
//!
//! One binary with a module per area keeps link time down.

mod introspection;
mod policy;
mod properties;
mod providers;
mod readme;
mod standin;
