//! Dynamic client registration, `POST /api/v1/resources/{res_id}/clients:register`
//! (RFC 7591), answering `201` with an `m2m_<digits>` client id as Scalekit does.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::client::{AuthMethod, ClientMetadata, MetadataError};
use crate::error::{OAuthError, StoreError};
use crate::keys::random_digits_id;
use crate::secret::{hash, random_token};
use crate::state::{AppState, Shared, unix_now};

/// A client created by dynamic registration.
#[derive(Clone)]
pub struct RegisteredClient {
    /// The new client's id, `m2m_<digits>`.
    pub client_id: String,
    /// The secret of a confidential client; `None` for public clients.
    ///
    /// Shown once: the server keeps only a hash.
    pub client_secret: Option<String>,
    /// The full RFC 7591 registration response.
    pub response: Value,
}

impl std::fmt::Debug for RegisteredClient {
    // Keep the secret out of logs and test failure output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredClient")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// Why a registration did not happen.
#[derive(Debug)]
pub(crate) enum RegisterError {
    Metadata(MetadataError),
    /// [`DevAuthServerConfig::max_registered_clients`](crate::DevAuthServerConfig::max_registered_clients) are registered already.
    TooManyClients(usize),
    Store(StoreError),
}

impl RegisterError {
    pub(crate) fn too_many_clients_description(limit: usize) -> String {
        format!(
            "this dev authorization server already has {limit} registered clients, its limit; \
             reuse a registered client, use a Client ID Metadata Document, or start over \
             with a fresh data directory (mcpgate dev --ephemeral)"
        )
    }
}

/// Validates `metadata`, stores the client and builds the registration response.
pub(crate) fn register(state: &Shared, metadata: Value) -> Result<RegisteredClient, RegisterError> {
    let parsed = ClientMetadata::parse(
        metadata,
        AuthMethod::ClientSecretBasic,
        Some(&state.config.scopes_supported),
    )
    .map_err(RegisterError::Metadata)?;
    let client_id = random_digits_id("m2m_");
    let client_secret = (parsed.auth_method != AuthMethod::None).then(random_token);
    let issued_at = unix_now();
    let limit = state.config.max_registered_clients;
    let stored = state
        .store
        .insert_client(
            &client_id,
            client_secret.as_deref().map(hash).as_deref(),
            &parsed.normalized,
            issued_at,
            limit,
        )
        .map_err(RegisterError::Store)?;
    if !stored {
        tracing::warn!(limit, "client registration refused: too many clients");
        return Err(RegisterError::TooManyClients(limit));
    }

    let mut response: Map<String, Value> = parsed.normalized;
    response.insert("client_id".into(), client_id.clone().into());
    response.insert("client_id_issued_at".into(), issued_at.into());
    if let Some(secret) = &client_secret {
        response.insert("client_secret".into(), secret.clone().into());
        // RFC 7591 §3.2.1: 0 means the secret does not expire.
        response.insert("client_secret_expires_at".into(), 0.into());
    }
    tracing::info!(
        client_id,
        auth_method = parsed.auth_method.as_str(),
        "registered client"
    );
    Ok(RegisteredClient {
        client_id,
        client_secret,
        response: Value::Object(response),
    })
}

/// `POST /api/v1/resources/{res_id}/clients:register`.
pub(crate) async fn register_endpoint(
    State(state): State<AppState>,
    Path(resource_id): Path<String>,
    body: Bytes,
) -> Response {
    if resource_id != state.resource_id || !state.config.dynamic_client_registration {
        return OAuthError::not_found().into_response();
    }
    let metadata: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_client_metadata",
                format!("the body is not valid JSON: {e}"),
            )
            .into_response();
        }
    };
    match register(&state, metadata) {
        Ok(client) => {
            let mut response = (StatusCode::CREATED, Json(client.response)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
                .headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(RegisterError::Metadata(e)) => {
            OAuthError::new(StatusCode::BAD_REQUEST, e.code, e.description).into_response()
        }
        Err(RegisterError::TooManyClients(limit)) => OAuthError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            RegisterError::too_many_clients_description(limit),
        )
        .into_response(),
        Err(RegisterError::Store(e)) => OAuthError::from(e).into_response(),
    }
}
