//! # mcpgate
//!
//! OAuth-protected MCP servers in Rust: write tools as async functions, attach
//! [`ScalekitProvider`], and the server becomes an OAuth 2.1 protected resource
//! (RFC 9728 metadata, `WWW-Authenticate` challenges, strict JWT validation).
//!
//! ```no_run
//! use mcpgate::{AccessToken, McpServer, ScalekitProvider};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), mcpgate::ServeError> {
//!     McpServer::new("My Scalekit Protected Server")
//!         .auth(ScalekitProvider::new("https://acme.scalekit.com", "res_123", "http://localhost:8000/mcp"))
//!         .tool("whoami", "Returns the caller's subject", |t: AccessToken| async move {
//!             t.subject().to_owned()
//!         })
//!         .serve_http_at_mcp_url()
//!         .await
//! }
//! ```
//!
//! # Layout
//! A request flows one way: Host/Origin → bearer → verifier → claims →
//! session binding (all in [`mcpgate_auth`], re-exported here as [`auth`]) →
//! rmcp → the registries → your handler, whose extractors hand it the caller.
//!
//! This crate is the server API over rmcp:
//! - `handler`: async functions of extractors as handlers ([`Args`],
//!   [`AccessToken`], [`Claims`], [`Context`], [`State`], [`Call`]).
//! - `definition`, `macros`: [`ToolDef`] / [`PromptDef`] and `tool!` / `prompt!`.
//! - `tools`, `resources`, `prompts`: registries and result conversions.
//! - `context`: progress, logging, sampling, elicitation and roots from a handler.
//! - [`input`]: input from the client in both eras (a session's back channel,
//!   or 2026-07-28 input-required results with a sealed `requestState`).
//! - `server`: [`McpServer`] (builder), auth resolution, HTTP and stdio
//!   serving, and the rmcp adapter — the only rmcp `ServerHandler`.
//! - `error`: [`ServeError`] and [`CallError`].
//!
//! rmcp (the official Rust SDK, pinned `~3.11`) is an implementation detail
//! except for the protocol types re-exported in [`model`].

// The README's Rust examples are compiled (not run) as doc tests, so the
// quick start cannot drift from the API.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

mod context;
mod definition;
mod error;
pub mod handler;
pub mod input;
#[doc(hidden)]
pub mod macros;
mod prompts;
mod resources;
mod server;
mod tools;

pub use mcpgate_auth as auth;
pub use mcpgate_auth::http::{RateLimit, ServeLimits, SessionLimits};
pub use mcpgate_auth::{
    AccessToken, AuthError, AuthProvider, ConfigError, Env, OidcProvider, ProtectedResource,
    ScalekitProvider, TokenRejection, bearer_token, config, jwks, providers, types, verify,
};
pub use mcpgate_auth::{BearerToken, EnvironmentUrl, McpUrl, Scope, ScopeSet};

pub use context::{Context, LogLevel};
pub use definition::{Definition, PromptDef, ToolDef};
pub use error::{CallError, ServeError};
pub use handler::{Args, Call, Claims, FromCall, Handler, State};
pub use input::{InputKind, InputRequest, InputResponse, InputResponses, Root};
pub use prompts::IntoPromptResult;
pub use resources::{Blob, IntoResourceBody, ResourceBody};
pub use server::{CompletionRequest, HttpApp, McpServer, Notifier};
pub use tools::{IntoToolResult, Json};

/// Defaults of the server builder.
pub mod defaults {
    pub use crate::server::{DEFAULT_MAX_BODY_BYTES, DEFAULT_SESSION_IDLE_TIMEOUT};
    pub use mcpgate_auth::http::{
        DEFAULT_BODY_READ_TIMEOUT, DEFAULT_CLIENT_RATE_LIMIT, DEFAULT_HEADER_READ_TIMEOUT,
        DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_SESSIONS, DEFAULT_MAX_SESSIONS_PER_PRINCIPAL,
        DEFAULT_PRINCIPAL_RATE_LIMIT, DEFAULT_SHUTDOWN_GRACE,
    };
}

/// MCP protocol types, re-exported from rmcp (the official Rust SDK, pinned
/// `~3.11`) for building rich results. These are rmcp's own types: their
/// shape follows rmcp's releases, not mcpgate's.
pub mod model {
    pub use rmcp::model::{
        CallToolResult, ContentBlock, ElicitResult, ElicitationAction, GetPromptResult, JsonObject,
        PromptMessage, Resource, ResourceContents, ResourceTemplate, Role,
    };
}
