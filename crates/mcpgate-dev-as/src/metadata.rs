//! Discovery documents: RFC 8414 authorization server metadata (resource-scoped,
//! at both paths Scalekit serves), the environment-level OpenID configuration,
//! and the JWKS.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::OAuthError;
use crate::exchange::GRANT_TYPE;
use crate::keys::jwks;
use crate::state::{AppState, Shared, unix_now_ms};

/// Verifiers cache the JWKS for this long; short, so a rotation is picked up
/// quickly even by a verifier that does not refetch on an unknown `kid`.
const JWKS_MAX_AGE_SECS: u32 = 300;

/// The RFC 8414 document for this server's resource.
pub(crate) fn authorization_server_metadata(state: &Shared) -> Value {
    let env = &state.env_url;
    let mut doc = json!({
        "issuer": state.resource_issuer(),
        "authorization_endpoint": format!("{env}/oauth/authorize"),
        "token_endpoint": format!("{env}/oauth/token"),
        "jwks_uri": format!("{env}/keys"),
        "revocation_endpoint": format!("{env}/oauth/revoke"),
        "scopes_supported": state.config.scopes_supported,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", GRANT_TYPE],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
    });
    // Scalekit omits each field when the feature is off for the server.
    if state.config.dynamic_client_registration {
        doc["registration_endpoint"] = format!(
            "{env}/api/v1/resources/{}/clients:register",
            state.resource_id
        )
        .into();
    }
    if state.config.client_id_metadata_documents {
        doc["client_id_metadata_document_supported"] = true.into();
    }
    doc
}

/// `GET /.well-known/oauth-authorization-server/resources/{res_id}` and
/// `GET /resources/{res_id}/.well-known/oauth-authorization-server`.
pub(crate) async fn as_metadata(
    State(state): State<AppState>,
    Path(resource_id): Path<String>,
) -> Response {
    if resource_id != state.resource_id {
        return OAuthError::not_found().into_response();
    }
    Json(authorization_server_metadata(&state)).into_response()
}

/// `GET /.well-known/openid-configuration`: environment level, issuer `{env}`,
/// no registration endpoint (registration is per resource). A client may
/// discover the server through this document alone (MCP allows OIDC discovery),
/// so it advertises RFC 9207 `iss` and metadata documents as the RFC 8414
/// document does.
pub(crate) async fn openid_configuration(State(state): State<AppState>) -> Json<Value> {
    Json(openid_configuration_document(&state))
}

/// The environment-level OpenID configuration.
pub(crate) fn openid_configuration_document(state: &Shared) -> Value {
    let env = &state.env_url;
    let mut doc = json!({
        "issuer": env,
        "authorization_endpoint": format!("{env}/oauth/authorize"),
        "token_endpoint": format!("{env}/oauth/token"),
        "jwks_uri": format!("{env}/keys"),
        "revocation_endpoint": format!("{env}/oauth/revoke"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [state.keys().current().algorithm().as_str()],
        "scopes_supported": state.config.scopes_supported,
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", GRANT_TYPE],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
    });
    if state.config.client_id_metadata_documents {
        doc["client_id_metadata_document_supported"] = true.into();
    }
    doc
}

/// The JWKS currently published.
pub(crate) fn current_jwks(state: &Shared) -> Value {
    let ring = state.keys();
    jwks(ring.published(unix_now_ms()))
}

/// `GET /keys`.
pub(crate) async fn keys(State(state): State<AppState>) -> Response {
    let mut response = Json(current_jwks(&state)).into_response();
    // Infallible: digits and ASCII only.
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={JWKS_MAX_AGE_SECS}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    response
}
