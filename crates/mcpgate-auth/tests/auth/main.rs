//! Integration tests of mcpgate-auth through its public API.
//!
//! One binary with a module per area keeps link time down.

mod properties;
