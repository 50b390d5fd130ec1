//! The HTTP surface of a protected MCP endpoint (axum and tower only): the
//! Host/Origin checks, CORS, `WWW-Authenticate` challenges, RFC 9728 metadata,
//! the RFC 8414 forwarder, session binding, and the guard that runs them in
//! order. [`ProtectedEndpoint`] assembles them around any MCP service.

mod as_metadata;
mod challenge;
pub mod cors;
mod endpoint;
mod guard;
mod origin;
mod prm;
mod session;

pub use endpoint::{DEFAULT_SESSION_BINDING_TTL, ProtectedEndpoint};
pub use guard::{GuardLayer, GuardService};
