//! End-to-end tests of the dev authorization server over real HTTP on 127.0.0.1.
//!
//! One binary with a module per area keeps link time down.

mod common;

mod abuse_limits;
mod authorize;
mod cimd;
mod cimd_policy;
mod consent_scopes;
mod cors_allowlist;
mod exchange;
mod keys;
mod mcp_2026;
mod metadata;
mod register;
mod registration_limits;
mod revoke;
mod token;
