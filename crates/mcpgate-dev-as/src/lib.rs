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
//! | `POST /oauth/token` | code, refresh and client-credentials grants, RFC 8693 token exchange |
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
//!   `mint`: the shape of access tokens; `exchange`: RFC 8693 token
//!   exchange; `revoke`: revocation.
//! - `cors`: which web origins may call the endpoints with effects (an
//!   allow-list; the discovery documents and JWKS stay public `*`, with the
//!   policy values of `mcpgate_auth::http::cors`).
//! - `limits`: per-IP rate limits (429 + `Retry-After`) of registration, the
//!   token and revocation endpoints and the authorization endpoint.
//! - `params`, `secret`, `error`: request parsing, random secrets and
//!   hashes, error types.
//!
//! # Running next to a browser
//! The server listens on the developer's machine, where any web page the
//! developer opens can send it requests. So, by default
//! ([`DevAuthServerConfig`] documents every knob):
//! - registration, token and revocation requests from a web page are served
//!   only for allowed origins (MCP Inspector's, plus
//!   [`with_allowed_origins`](DevAuthServerConfig::with_allowed_origins)),
//!   and the consent page only as a top-level page;
//! - Client ID Metadata Documents are fetched only over `https` from public
//!   addresses (loopback only from
//!   [`with_cimd_loopback_hosts`](DevAuthServerConfig::with_cimd_loopback_hosts)),
//!   and a failed fetch is reported to the client without details;
//! - registration keeps only the metadata the server uses, within size caps,
//!   up to [`DEFAULT_MAX_REGISTERED_CLIENTS`] clients;
//! - pending consents are capped per client, and the unauthenticated
//!   endpoints are rate-limited per IP ([`RateLimits`]).

mod authorize;
mod cimd;
mod client;
mod client_auth;
mod config;
mod consent;
mod cors;
mod error;
mod exchange;
mod keyring;
pub mod keys;
mod limits;
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

pub use config::{
    DEFAULT_ALLOWED_ORIGINS, DEFAULT_MAX_REGISTERED_CLIENTS, DEFAULT_SCOPES, DevAuthServerConfig,
    IssuerForm, RateLimit, RateLimits, Storage,
};
pub use error::{Error, StoreError};
pub use keys::{KeyAlgorithm, KeyError, SigningKey};
pub use mint::{ScopeClaim, TokenRequest};
pub use register::RegisteredClient;
pub use server::{DevAuthServer, DevAuthServerHandle, MAX_BODY_BYTES, MAX_REGISTRATION_BYTES};
/// The URL type [`DevAuthServerConfig::new`] takes.
pub use url::Url;

/// Entry points for the fuzz targets in `fuzz/` (built with `--cfg fuzzing`
/// only): request parsing and client-metadata validation, without a server.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod __fuzz {
    use serde_json::{Map, Value};

    use crate::client::{AuthMethod, ClientMetadata};

    /// Form or query parameters as the endpoints parse them.
    #[derive(Debug)]
    pub struct Params(crate::params::Params);

    impl Params {
        /// The value of a non-repeated parameter; empty values count as absent.
        pub fn get(&self, name: &str) -> Option<&str> {
            self.0.get(name)
        }

        /// Every non-empty `resource` value, in order.
        pub fn resources(&self) -> &[String] {
            self.0.resources()
        }
    }

    /// Parses `application/x-www-form-urlencoded` input; `Err` names a repeated parameter.
    pub fn parse_params(input: &[u8]) -> Result<Params, String> {
        crate::params::Params::parse(input).map(Params)
    }

    /// Splits a `scope` value as the endpoints do.
    pub fn split_scopes(scope: &str) -> Vec<String> {
        crate::params::split_scopes(scope)
    }

    /// Client metadata after validation.
    #[derive(Debug, Clone)]
    pub struct Metadata {
        /// `none`, `client_secret_post` or `client_secret_basic`.
        pub auth_method: &'static str,
        /// Validated grant types.
        pub grant_types: Vec<String>,
        /// Validated redirect URIs.
        pub redirect_uris: Vec<String>,
        /// Registered scopes, if any.
        pub scope: Option<Vec<String>>,
        /// The client name, if any.
        pub client_name: Option<String>,
        /// What is stored and answered: defaults filled in, server fields removed.
        pub normalized: Map<String, Value>,
    }

    /// Validates RFC 7591 client metadata the way registration (`default_auth`
    /// `client_secret_basic`, with the server's scopes) and metadata documents
    /// (`none`, no scope list) do. `Err` is (error code, description).
    pub fn client_metadata(
        metadata: Value,
        default_auth: &str,
        scopes_supported: Option<&[String]>,
    ) -> Result<Metadata, (&'static str, String)> {
        let default_auth = AuthMethod::parse(default_auth).unwrap_or(AuthMethod::None);
        let parsed = ClientMetadata::parse(metadata, default_auth, scopes_supported)
            .map_err(|e| (e.code, e.description))?;
        Ok(Metadata {
            auth_method: parsed.auth_method.as_str(),
            grant_types: parsed.grant_types,
            redirect_uris: parsed.redirect_uris,
            scope: parsed.scope,
            client_name: parsed.client_name,
            normalized: parsed.normalized,
        })
    }

    /// Whether a registered client with `redirect_uris` accepts `requested`,
    /// and which registered URI it designates.
    pub fn find_redirect_uri(redirect_uris: &[String], requested: &str) -> Option<String> {
        redirect_uris
            .iter()
            .find(|r| crate::client::redirect_uri_matches(r, requested))
            .cloned()
    }

    /// The redirect URI rules applied at registration.
    pub fn validate_redirect_uri(uri: &str) -> Result<(), String> {
        crate::client::validate_redirect_uri(uri)
    }

    /// Whether `client_id` is treated as a metadata document URL.
    pub fn is_metadata_url(client_id: &str) -> bool {
        crate::cimd::is_metadata_url(client_id)
    }

    /// The URL rules for a metadata document `client_id`; `Ok` is the parsed URL.
    pub fn check_metadata_url(client_id: &str) -> Result<url::Url, String> {
        crate::cimd::check_url(client_id).map_err(|e| e.to_string())
    }

    /// A client described by a metadata document, as the resolver builds it.
    #[derive(Debug, Clone)]
    pub struct DocumentClient {
        /// The document's URL.
        pub client_id: String,
        /// Always `none` for a document.
        pub auth_method: &'static str,
        /// Validated grant types.
        pub grant_types: Vec<String>,
        /// Validated redirect URIs.
        pub redirect_uris: Vec<String>,
        /// Registered scopes, if any.
        pub scope: Option<Vec<String>>,
    }

    /// What the resolver does with `client_id` and the document body fetched
    /// from it: the URL rules, then the document's validation.
    pub fn metadata_document(client_id: &str, body: &[u8]) -> Result<DocumentClient, String> {
        crate::cimd::check_url(client_id).map_err(|e| e.to_string())?;
        let client = crate::cimd::parse_document(client_id, body).map_err(|e| e.to_string())?;
        Ok(DocumentClient {
            client_id: client.client_id,
            auth_method: client.auth_method.as_str(),
            grant_types: client.grant_types,
            redirect_uris: client.redirect_uris,
            scope: client.scope,
        })
    }
}
