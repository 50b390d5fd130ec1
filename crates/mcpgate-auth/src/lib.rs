//! # mcpgate-auth
//!
//! The auth core of mcpgate: everything that turns an MCP endpoint into an
//! OAuth 2.1 *protected resource*, and nothing about tools or handlers. The
//! `mcpgate` server API builds on it, and so can anything else that speaks MCP
//! over HTTP (a gateway in front of another server, a hand-written service).
//!
//! ```no_run
//! use mcpgate_auth::ScalekitProvider;
//! use mcpgate_auth::http::{ProtectedEndpoint, ServeLimits, serve};
//!
//! # fn mcp_service() -> axum::routing::MethodRouter { axum::routing::post(|| async { "{}" }) }
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let resource = ScalekitProvider::new("https://acme.scalekit.com", "res_123", "http://127.0.0.1:8000/mcp")
//!     .required_scopes(["mcp:tools"])
//!     .build()?;
//! // Any tower service that answers MCP requests; here an empty router.
//! let app = ProtectedEndpoint::new(resource).into_router(mcp_service())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! // Timeouts, a connection cap and the peer address the per-address limit needs.
//! serve(listener, app, ServeLimits::default(), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! A request flows one way: `http::origin` (Host/Origin) → `bearer` (header →
//! token) → `verify` (signature and claims, keys from `jwks`) → `claims`
//! ([`AccessToken`] in the request's extensions) → `http::session` (binding)
//! → the MCP service.
//!
//! The token layer has no HTTP framework in it:
//! - `types`: parsed URLs, scopes, a redacting bearer token.
//! - `error`: [`AuthError`], one variant per distinct answer.
//! - `bearer`, `verify`, `jwks`, `token_cache`, `claims`: header parsing,
//!   validation (RS256/384/512, PS256/384/512, ES256/384, EdDSA; the key must
//!   fit the algorithm), the key cache, the verified-token cache, the
//!   verified caller.
//! - `discovery`: issuer URL → `jwks_uri` (OpenID Connect or RFC 8414), exact
//!   issuer match.
//! - `introspection`: RFC 7662 for opaque tokens.
//! - `verifier_set`: several issuers at once (the token's `iss` picks the
//!   verifier) plus one optional opaque-token verifier.
//! - `protection`: [`ProtectedResource`], what a provider builds.
//! - `providers`: [`AuthProvider`], [`ScalekitProvider`], [`OidcProvider`]
//!   and its presets (Auth0, WorkOS AuthKit, Keycloak, Entra ID, Descope),
//!   [`ProviderConfig`](providers::ProviderConfig) (a provider as TOML/JSON)
//!   and the environment variables (FastMCP's names).
//! - `config`: [`Env`], the process environment and `.env`.
//! - [`policy`]: per-item authorization (tools, prompts, resources,
//!   templates): scopes, claim conditions, predicates; step-up or denial.
//!
//! [`http`] is the axum/tower surface: `origin`, `cors`, `challenge`, `prm`,
//! `as_metadata`, `session` (bindings and session caps), `rate_limit`,
//! `guard` (the tower layer), `endpoint` (the router that puts them
//! together) and `serve` (serving a router with timeouts and a connection cap).

mod bearer;
mod claims;
pub mod config;
pub mod discovery;
mod error;
pub mod http;
pub mod introspection;
pub mod jwks;
pub mod policy;
mod protection;
pub mod providers;
mod resource_description;
mod token_cache;
pub mod types;
mod verifier_set;
pub mod verify;

pub use bearer::bearer_token;
pub use claims::AccessToken;
pub use config::{ConfigError, Env};
pub use error::{AuthError, TokenRejection};
pub use protection::{ProtectedResource, ProtectedResourceBuilder};
pub use providers::AuthProvider;
pub use providers::oidc::OidcProvider;
pub use providers::scalekit::ScalekitProvider;
pub use types::{BearerToken, EnvironmentUrl, McpUrl, Scope, ScopeSet};
pub use verifier_set::OpaqueTokenVerifier;

/// Entry points for the fuzz targets in `fuzz/` (built with `--cfg fuzzing`
/// only): internals the public API does not reach without a network.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod __fuzz {
    use std::time::Duration;

    use crate::jwks::{JwksCache, JwksConfig};

    /// A key cache over `document` (a JWKS body) that never fetches.
    pub fn static_jwks(document: &[u8], config: JwksConfig) -> Result<JwksCache, String> {
        JwksCache::from_static_document(document, config)
    }

    /// The `kid`s a JWKS fetch would keep from `document`, sorted; `Err` when
    /// the document would be refused as a whole.
    pub fn jwks_document_kids(document: &[u8], max_keys: usize) -> Result<Vec<String>, String> {
        JwksCache::document_kids(document, max_keys)
    }

    /// How long a JWKS fetched with these response headers is kept.
    pub fn jwks_ttl(headers: &http::HeaderMap, config: &JwksConfig) -> Duration {
        crate::jwks::ttl_from_cache_control(headers, config)
    }
}
