//! Errors: [`Error`] for the Rust API, and the crate-private OAuth error responses
//! (RFC 6749 §5.2) that endpoints send over the wire.

use std::borrow::Cow;
use std::path::PathBuf;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::keys::KeyError;

/// Errors from starting, driving or stopping a dev authorization server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable; the message names the field.
    #[error("invalid dev authorization server configuration: {0}")]
    Config(String),
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database could not be opened, migrated, read or written.
    #[error("database {location}: {source}")]
    Store {
        /// The database file, or `:memory:`.
        location: String,
        /// The underlying failure.
        source: StoreError,
    },
    /// A signing key stored in the database cannot be loaded. Keys are never
    /// regenerated silently: fix or delete the file deliberately.
    #[error("signing key {kid} stored in {location} cannot be loaded: {source}")]
    LoadKey {
        /// The database file.
        location: String,
        /// The key's id.
        kid: String,
        /// Why loading failed.
        source: KeyError,
    },
    /// Generating a key or signing a token failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Client metadata passed to [`register_client`](crate::DevAuthServer::register_client)
    /// was refused; `code` is the RFC 7591 error code.
    #[error("{code}: {description}")]
    ClientMetadata {
        /// `invalid_redirect_uri` or `invalid_client_metadata`.
        code: &'static str,
        /// What is wrong.
        description: String,
    },
    /// [`register_client`](crate::DevAuthServer::register_client) was refused
    /// because [`max_registered_clients`](crate::DevAuthServerConfig::max_registered_clients)
    /// clients are registered already.
    #[error("too many registered clients (the limit is {limit})")]
    TooManyClients {
        /// The configured limit.
        limit: usize,
    },
    /// The HTTP client used to fetch client metadata documents could not be built.
    #[error("cannot build HTTP client: {0}")]
    HttpClient(String),
    /// Serving failed (for instance the listener's address is unavailable).
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A background task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

/// A database failure, kept opaque so the public API does not expose the SQLite
/// binding's types.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct StoreError(#[from] pub(crate) rusqlite::Error);

/// An OAuth error response: `{"error": code, "error_description": …}` with
/// `Cache-Control: no-store`, as RFC 6749 §5.2 prescribes for the token endpoint
/// and RFC 7591 §3.2.2 for registration.
#[derive(Debug)]
pub(crate) struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: Cow<'static, str>,
    /// RFC 6749 §5.2: a client that tried HTTP Basic must get a `WWW-Authenticate`.
    basic_challenge: bool,
}

impl OAuthError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            basic_challenge: false,
        }
    }

    pub(crate) fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub(crate) fn invalid_client(
        description: impl Into<Cow<'static, str>>,
        basic_challenge: bool,
    ) -> Self {
        Self {
            basic_challenge,
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
        }
    }

    pub(crate) fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    pub(crate) fn unauthorized_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }

    pub(crate) fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    pub(crate) fn invalid_target(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_target", description)
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    /// A failure on our side; the cause is logged, never sent.
    pub(crate) fn server_error(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "dev authorization server internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error, see the server log",
        )
    }

    pub(crate) fn code(&self) -> &'static str {
        self.code
    }

    pub(crate) fn description(&self) -> &str {
        &self.description
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        Self::server_error(&e)
    }
}

impl From<KeyError> for OAuthError {
    fn from(e: KeyError) -> Self {
        Self::server_error(&e)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.code, "error_description": self.description });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if self.basic_challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"mcpgate-dev-as\""),
            );
        }
        response
    }
}
