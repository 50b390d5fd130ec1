//! Integration tests of `mcpgate`, over real HTTP on 127.0.0.1 (and an
//! in-memory pipe for stdio). One binary with a module per area: the shared
//! support code is compiled and linked once.

mod support;

mod challenges;
mod env_config;
mod fast_path;
mod hardening;
mod http_surface;
mod input_required;
mod introspection_only;
mod jwks_cache;
mod policies;
mod protocol_versions;
mod rmcp_client;
mod server_api;
mod sessions;
mod signing_algorithms;
mod stateless;
mod stdio;
mod subscriptions;
mod token_validation;
