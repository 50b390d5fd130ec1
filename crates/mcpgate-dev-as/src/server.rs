//! The server: routes, start on a bound listener, shutdown, and the Rust API
//! tests and the CLI use to mint tokens, rotate keys and register clients.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mcpgate_auth::http::ServeLimits;
use mcpgate_auth::http::cors::{OAUTH_ENDPOINT, cors};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::authorize::{self, DECISION_PATH};
use crate::config::DevAuthServerConfig;
use crate::cors::allow_listed_cors;
use crate::error::{Error, OAuthError};
use crate::keys::SigningKey;
use crate::limits::{LimitClass, rate_limit};
use crate::metadata;
use crate::mint::TokenRequest;
use crate::register::{self, RegisterError, RegisteredClient};
use crate::state::{AppState, Shared};
use crate::{revoke, token};

/// Requests larger than this are refused with 413; the biggest legitimate body
/// here is a registration request of a few kilobytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Registration requests larger than this are refused with 413: ten redirect
/// URIs of the longest allowed length, a name and a scope fit with room to spare.
pub const MAX_REGISTRATION_BYTES: usize = 16 * 1024;

/// A dev authorization server: its state and its routes, not yet serving.
///
/// Cheap to clone. [`DevAuthServer::start`] is the usual entry point;
/// [`DevAuthServer::new`] and [`DevAuthServer::router`] let a caller mount the
/// routes in its own axum app.
#[derive(Debug, Clone)]
pub struct DevAuthServer {
    shared: AppState,
}

impl DevAuthServer {
    /// Opens storage and loads (or, on first use, creates) the signing key.
    ///
    /// `env_url` is the environment URL the server is reachable at, such as
    /// `http://127.0.0.1:8400`; a trailing slash is removed. All advertised
    /// endpoints and issuers are built from it.
    pub async fn new(
        config: DevAuthServerConfig,
        env_url: impl Into<String>,
    ) -> Result<Self, Error> {
        let env_url = env_url.into().trim_end_matches('/').to_owned();
        // SQLite I/O and RSA key generation block; keep them off the runtime's workers.
        let shared = tokio::task::spawn_blocking(move || Shared::open(config, env_url))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    /// Serves on an already-bound listener at `http://{listener address}`.
    ///
    /// Served by [`mcpgate_auth::http::serve`] with its default limits:
    /// `TCP_NODELAY`, header and body read timeouts, a connection cap, the
    /// peer's address for the per-IP limits. The server runs until
    /// [`DevAuthServerHandle::shutdown`] is called or the handle is dropped.
    pub async fn start(
        listener: TcpListener,
        config: DevAuthServerConfig,
    ) -> Result<DevAuthServerHandle, Error> {
        let local_addr = listener.local_addr()?;
        let server = Self::new(config, format!("http://{local_addr}")).await?;
        let app = server.router();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // A dropped sender also resolves the receiver, so dropping the handle stops the server.
            mcpgate_auth::http::serve(listener, app, ServeLimits::default(), async move {
                stopped.await.unwrap_or(());
            })
            .await
        });
        tracing::info!(
            env_url = server.env_url(),
            resource_id = server.resource_id(),
            "dev authorization server listening"
        );
        Ok(DevAuthServerHandle {
            server,
            local_addr,
            stop,
            task,
        })
    }

    /// The routes, ready to serve or to merge into another router.
    ///
    /// `POST /admin/rotate-keys` only answers requests whose
    /// [`ConnectInfo<SocketAddr>`] is a loopback address, so serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()` to use it. The
    /// per-IP rate limits ([`RateLimits`](crate::RateLimits)) read the peer from
    /// there too; without it every request counts against one shared budget.
    pub fn router(&self) -> Router {
        let limited = |class| from_fn_with_state((self.shared.clone(), class), rate_limit);
        // Public, read-only documents: any origin may read them (`*`).
        let documents = Router::new()
            .route("/keys", get(metadata::keys))
            .route(
                "/.well-known/oauth-authorization-server/resources/{res_id}",
                get(metadata::as_metadata),
            )
            .route(
                "/resources/{res_id}/.well-known/oauth-authorization-server",
                get(metadata::as_metadata),
            )
            .route(
                "/.well-known/openid-configuration",
                get(metadata::openid_configuration),
            )
            .layer(from_fn_with_state(&OAUTH_ENDPOINT, cors))
            .layer(limited(LimitClass::Documents));
        // Endpoints with effects: web pages on allowed origins only (see `cors`).
        let endpoints = Router::new()
            .route(
                "/api/v1/resources/{res_id}/clients:register",
                post(register::register_endpoint)
                    .layer(DefaultBodyLimit::max(MAX_REGISTRATION_BYTES))
                    .layer(limited(LimitClass::Registration)),
            )
            .route(
                "/oauth/token",
                post(token::token).layer(limited(LimitClass::Token)),
            )
            .route(
                "/oauth/revoke",
                post(revoke::revoke).layer(limited(LimitClass::Token)),
            )
            .layer(from_fn_with_state(self.shared.clone(), allow_listed_cors));
        Router::new()
            // The consent page is for the browser itself, not for cross-origin scripts.
            .route(
                "/oauth/authorize",
                get(authorize::authorize)
                    .layer(limited(LimitClass::Authorize))
                    .layer(axum::middleware::from_fn(
                        authorize::top_level_navigation_only,
                    )),
            )
            .route(DECISION_PATH, post(authorize::decision))
            .route("/admin/rotate-keys", post(admin_rotate_keys))
            .merge(documents)
            .merge(endpoints)
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(self.shared.clone())
    }

    /// The environment URL, `http://host:port` without a trailing slash; also the
    /// `iss` of tokens minted with [`IssuerForm::Env`](crate::IssuerForm::Env).
    pub fn env_url(&self) -> &str {
        &self.shared.env_url
    }

    /// The resource id, `res_<digits>` unless configured otherwise.
    pub fn resource_id(&self) -> &str {
        &self.shared.resource_id
    }

    /// `{env}/resources/{res_id}`: the issuer in the AS metadata and the `iss`
    /// of tokens minted with [`IssuerForm::Resource`](crate::IssuerForm::Resource).
    /// This is what the MCP server's protected resource metadata should list in
    /// `authorization_servers`.
    pub fn resource_issuer(&self) -> String {
        self.shared.resource_issuer()
    }

    /// Both issuer forms a verifier must accept: `[env_url, resource_issuer]`.
    pub fn issuers(&self) -> [String; 2] {
        [self.shared.env_url.clone(), self.shared.resource_issuer()]
    }

    /// The MCP server URL in canonical form, as it appears in `aud`.
    pub fn mcp_url(&self) -> &str {
        &self.shared.mcp_url
    }

    /// The RFC 8414 metadata URL (`{env}/.well-known/oauth-authorization-server/resources/{res_id}`).
    pub fn metadata_url(&self) -> String {
        format!(
            "{}/.well-known/oauth-authorization-server/resources/{}",
            self.env_url(),
            self.resource_id()
        )
    }

    /// The JWKS URL, `{env}/keys`.
    pub fn jwks_url(&self) -> String {
        format!("{}/keys", self.env_url())
    }

    /// The token endpoint, `{env}/oauth/token`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.env_url())
    }

    /// The dev user's id (`usr_<digits>`), the default `sub`; stable per data directory.
    pub fn dev_user_id(&self) -> &str {
        &self.shared.dev_user_id
    }

    /// The RFC 8414 metadata document, as served.
    pub fn metadata(&self) -> Value {
        metadata::authorization_server_metadata(&self.shared)
    }

    /// The JWKS currently published at `/keys`.
    pub fn jwks(&self) -> Value {
        metadata::current_jwks(&self.shared)
    }

    /// The `kid` of the key that signs new tokens.
    pub fn current_kid(&self) -> String {
        self.shared.keys().current().kid().to_owned()
    }

    /// Mints an access token directly, without any OAuth flow.
    pub fn mint_token(&self, request: TokenRequest) -> Result<String, Error> {
        Ok(self.shared.mint(&request)?)
    }

    /// Replaces the signing key; returns the new `kid`.
    ///
    /// The old key stays in the JWKS for the configured grace period, so tokens it
    /// signed keep verifying, and is dropped afterwards.
    pub async fn rotate_keys(&self) -> Result<String, Error> {
        let algorithm = self.shared.keys().current().algorithm();
        let key = tokio::task::spawn_blocking(move || SigningKey::generate_for(algorithm))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        let kid = key.kid().to_owned();
        self.shared.install_key(key)?;
        tracing::info!(kid, "rotated signing key");
        Ok(kid)
    }

    /// Registers a client as `POST …/clients:register` would, from RFC 7591 metadata.
    pub fn register_client(&self, metadata: Value) -> Result<RegisteredClient, Error> {
        register::register(&self.shared, metadata).map_err(|e| match e {
            RegisterError::Metadata(m) => Error::ClientMetadata {
                code: m.code,
                description: m.description,
            },
            RegisterError::TooManyClients(limit) => Error::TooManyClients { limit },
            RegisterError::Store(source) => Error::Store {
                location: self.shared.store.location().to_owned(),
                source,
            },
        })
    }
}

/// A running [`DevAuthServer`]. Dereferences to it for the token, key and client API.
///
/// Dropping the handle stops the server, as [`shutdown`](Self::shutdown) does
/// without waiting.
#[derive(Debug)]
pub struct DevAuthServerHandle {
    server: DevAuthServer,
    local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl DevAuthServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server, for callers that want to keep it beyond the handle.
    pub fn server(&self) -> &DevAuthServer {
        &self.server
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits.
    pub async fn shutdown(self) -> Result<(), Error> {
        let Self { stop, task, .. } = self;
        // The server may already have stopped on its own; nothing to signal then.
        let _ = stop.send(());
        task.await.map_err(|e| Error::Task(e.to_string()))??;
        Ok(())
    }
}

impl Deref for DevAuthServerHandle {
    type Target = DevAuthServer;

    fn deref(&self) -> &DevAuthServer {
        &self.server
    }
}

async fn not_found() -> Response {
    OAuthError::not_found().into_response()
}

/// `POST /admin/rotate-keys`: loopback peers only, and never from a web page
/// (a browser would send `Origin`), since any site could otherwise post here.
async fn admin_rotate_keys(State(state): State<AppState>, request: Request) -> Response {
    let loopback = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| peer.ip().is_loopback());
    if !loopback || request.headers().contains_key(header::ORIGIN) {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"error": "forbidden"})),
        )
            .into_response();
    }
    match (DevAuthServer { shared: state }).rotate_keys().await {
        Ok(kid) => axum::Json(json!({ "kid": kid })).into_response(),
        Err(e) => OAuthError::server_error(&e).into_response(),
    }
}
