//! The HTTP surface of a protected MCP endpoint (axum and tower only): the
//! Host/Origin checks, CORS, `WWW-Authenticate` challenges, RFC 9728 metadata,
//! the RFC 8414 forwarder, session binding and limits, rate limits, the guard
//! that runs them in order, and [`serve`], which serves a router with
//! bounded connections. [`ProtectedEndpoint`] assembles them around any MCP
//! service.

mod as_metadata;
mod authorize;
mod challenge;
pub mod cors;
mod endpoint;
mod guard;
mod origin;
mod prm;
mod rate_limit;
mod serve;
mod session;

pub use authorize::{DEFAULT_POLICY_BODY_LIMIT, PolicyStats, ResourceTemplates};
pub use challenge::challenge_response;
pub use endpoint::{
    DEFAULT_CLIENT_RATE_LIMIT, DEFAULT_PRINCIPAL_RATE_LIMIT, DEFAULT_RATE_LIMIT_KEYS,
    DEFAULT_SESSION_BINDING_TTL, ProtectedEndpoint,
};
pub use guard::{GuardLayer, GuardService};
pub use rate_limit::RateLimit;
pub use serve::{
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_SHUTDOWN_GRACE, ServeLimits, serve, shutdown_signal,
};
pub use session::{
    DEFAULT_MAX_SESSIONS, DEFAULT_MAX_SESSIONS_PER_PRINCIPAL, SessionHook, SessionLimits,
};
