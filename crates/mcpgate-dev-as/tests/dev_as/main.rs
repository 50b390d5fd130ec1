//! End-to-end tests of the dev authorization server over real HTTP on 127.0.0.1.
//!
//! One binary with a module per area keeps link time down.

mod common;

mod authorize;
mod cimd;
mod keys;
mod metadata;
mod register;
mod revoke;
mod token;
