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
//! A request flows one way: `origin` (Host/Origin) → `bearer` (header →
//! token) → `verify` (signature and claims, keys from `jwks`) → `claims`
//! ([`AccessToken`] in the request) → `session` (binding) → rmcp → `tools`
//! (extractors hand the caller to your function).
//!
//! - `types`: parsed URLs, scopes, a redacting bearer token.
//! - `config`: environment and `.env` → provider settings; errors name the variable.
//! - `providers`: [`ScalekitProvider`] builds a [`ProtectedResource`].
//! - `protection`: the built setup; authenticates a request; the RFC 9728 document.
//! - `bearer`, `verify`, `jwks`, `claims`: token extraction, validation, key cache, caller.
//! - `error`, `challenge`: [`AuthError`] and the `WWW-Authenticate` answer.
//! - `prm`, `as_metadata`, `cors`: well-known documents and their CORS.
//! - `origin`, `guard`, `session`: the middleware in front of the MCP endpoint.
//! - `handler`: async functions of extractors as handlers ([`Args`], [`Claims`], [`Context`]).
//! - `tools`, `resources`, `prompts`: registries and result conversions.
//! - `context`: progress, logging, sampling and elicitation from a handler.
//! - `server`: the server itself (the only rmcp wiring).

mod as_metadata;
mod bearer;
mod challenge;
pub mod claims;
pub mod config;
pub mod context;
mod cors;
pub mod error;
mod guard;
pub mod handler;
pub mod jwks;
#[doc(hidden)]
pub mod macros;
pub mod origin;
mod prm;
pub mod prompts;
pub mod protection;
pub mod providers;
pub mod resources;
pub mod server;
mod session;
mod token_cache;
pub mod tools;
pub mod types;
pub mod verify;

pub use bearer::bearer_token;
pub use claims::AccessToken;
pub use config::{ConfigError, Env};
pub use context::{Context, LogLevel};
pub use error::{AuthError, TokenRejection};
pub use handler::{Args, Call, CallError, Claims, FromCall, Handler};
pub use macros::{PromptDef, ToolDef};
pub use prompts::IntoPromptResult;
pub use protection::ProtectedResource;
pub use providers::AuthProvider;
pub use providers::scalekit::ScalekitProvider;
pub use resources::{Blob, IntoResourceBody, ResourceBody};
pub use server::{CompletionRequest, HttpApp, McpServer, ServeError};
pub use tools::{IntoToolResult, Json};
pub use types::{BearerToken, EnvironmentUrl, McpUrl, Scope, ScopeSet};

/// MCP protocol types (re-exported from rmcp, the official Rust SDK, whose
/// version mcpgate pins), for building rich tool results.
pub mod model {
    pub use rmcp::model::{
        CallToolResult, ContentBlock, ElicitResult, ElicitationAction, GetPromptResult, JsonObject,
        PromptMessage, Resource, ResourceContents, ResourceTemplate, Role,
    };
}
