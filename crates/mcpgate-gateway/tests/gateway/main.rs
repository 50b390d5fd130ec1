//! The gateway over loopback with real programs: the dev authorization
//! server issues the tokens, rmcp's client calls through the gateway, and the
//! upstream is a stdio child (the `stdio_fixture` example) or an mcpgate
//! server over Streamable HTTP without auth.

mod fast_forward;
mod http_upstream;
mod input_required;
mod limits;
mod list_changed;
mod listen;
mod mounts;
mod on_behalf_of;
mod operations;
mod policies;
mod sampling;
mod stateless_upstream;
mod stdio;
mod subscriptions;
mod support;
