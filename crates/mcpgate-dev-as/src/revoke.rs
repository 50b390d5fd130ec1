//! Token revocation, `POST /oauth/revoke` (RFC 7009).
//!
//! Like Scalekit, only confidential clients may revoke: a public client gets
//! `invalid_client`. Revoking a refresh token revokes its whole family. Access
//! tokens are self-contained JWTs and stay valid until they expire (Scalekit
//! advises resource servers to keep a `jti` deny-list if that matters).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::client_auth::{Proof, authenticate};
use crate::error::OAuthError;
use crate::params::Params;
use crate::secret::hash;
use crate::state::{AppState, Shared, unix_now};
use crate::store::RevokeOutcome;

/// `POST /oauth/revoke`.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&state, &headers, &body).await {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn handle(state: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
    let params = Params::parse(body).map_err(OAuthError::invalid_request)?;
    let auth = authenticate(state, headers, &params).await?;
    if auth.proof == Proof::None {
        return Err(OAuthError::invalid_client(
            "revocation requires client authentication",
            false,
        ));
    }
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    match state
        .store
        .revoke_refresh(&hash(token), &auth.client.client_id, unix_now())?
    {
        RevokeOutcome::Revoked => {
            tracing::info!(
                client_id = auth.client.client_id,
                "refresh token family revoked"
            );
            Ok(())
        }
        // RFC 7009 §2.2: an unknown token (or an access token) is not an error.
        RevokeOutcome::Unknown => Ok(()),
        RevokeOutcome::OtherClient => Err(OAuthError::unauthorized_client(
            "the token was not issued to this client",
        )),
    }
}
