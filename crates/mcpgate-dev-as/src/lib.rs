//! A local authorization server that speaks Scalekit's wire contract.
//!
//! It stands in for a Scalekit environment during development (`mcpgate dev`)
//! and in tests: same URLs, same metadata, same token shape (RS256, `typ: JWT`,
//! `kid` `snk_…`, `aud: [mcp_url, res_…]`, `scope` or `scopes`), with OAuth 2.1
//! authorization code + PKCE, refresh-token rotation, client credentials,
//! dynamic client registration and Client ID Metadata Documents.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mcpgate_dev_as::Error> {
//! use mcpgate_dev_as::{DevAuthServer, DevAuthServerConfig, TokenRequest, Url};
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let mcp_url = Url::parse("http://127.0.0.1:3000/mcp").expect("valid URL");
//! let server = DevAuthServer::start(listener, DevAuthServerConfig::new(mcp_url)).await?;
//! let token = server.mint_token(TokenRequest::new().with_scopes(["mcp:tools"]))?;
//! # let _ = token;
//! server.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # Endpoints
//! | path | what |
//! |---|---|
//! | `GET /keys` | JWKS |
//! | `GET /.well-known/oauth-authorization-server/resources/{res}` | RFC 8414 metadata |
//! | `GET /resources/{res}/.well-known/oauth-authorization-server` | the same document |
//! | `GET /.well-known/openid-configuration` | environment-level OIDC discovery |
//! | `POST /api/v1/resources/{res}/clients:register` | RFC 7591 registration |
//! | `GET /oauth/authorize`, `POST /oauth/authorize/decision` | consent page and decision |
//! | `POST /oauth/token` | code, refresh and client-credentials grants |
//! | `POST /oauth/revoke` | RFC 7009 revocation (confidential clients) |
//! | `POST /admin/rotate-keys` | key rotation, loopback peers only |
//!
//! # Layout
//! - [`config`](DevAuthServerConfig): what the server is told at start.
//! - `server`: routes, [`DevAuthServer::start`], the handle and the Rust API.
//! - `state`: the state shared by endpoints; client lookup; token signing.
//! - [`keys`]: RSA signing keys, their JWK form; `keyring`: current and retired keys.
//! - `store`: SQLite persistence (clients, keys, refresh families, ids).
//! - `metadata`: discovery documents and the JWKS endpoint.
//! - `register`: dynamic client registration; `client`: client metadata rules;
//!   `cimd`: Client ID Metadata Documents.
//! - `authorize`: the authorization endpoint; `consent`: its HTML;
//!   `pending`: consents and codes awaiting use.
//! - `token`: the token endpoint; `client_auth`: client authentication;
//!   `mint`: the shape of access tokens; `revoke`: revocation.
//! - `params`, `secret`, `error`: request parsing, random secrets and
//!   hashes, error types (CORS comes from `mcpgate_auth::http::cors`).

mod authorize;
mod cimd;
mod client;
mod client_auth;
mod config;
mod consent;
mod error;
mod keyring;
pub mod keys;
mod metadata;
mod mint;
mod params;
mod pending;
mod register;
mod revoke;
mod secret;
mod server;
mod state;
mod store;
mod token;

pub use config::{DEFAULT_SCOPES, DevAuthServerConfig, IssuerForm, Storage};
pub use error::{Error, StoreError};
pub use keys::{KeyError, SigningKey};
pub use mint::{ScopeClaim, TokenRequest};
pub use register::RegisteredClient;
pub use server::{DevAuthServer, DevAuthServerHandle, MAX_BODY_BYTES};
/// The URL type [`DevAuthServerConfig::new`] takes.
pub use url::Url;
