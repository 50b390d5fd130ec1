//! The token endpoint, `POST /oauth/token`: the `authorization_code`,
//! `refresh_token` and `client_credentials` grants, and RFC 8693 token
//! exchange (in `exchange`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::authorize::check_resources;
use crate::client_auth::{Authenticated, authenticate};
use crate::error::OAuthError;
use crate::exchange;
use crate::keys::random_digits_id;
use crate::mint::{ScopeClaim, TokenRequest};
use crate::params::{Params, split_scopes};
use crate::pending::Redeemed;
use crate::secret::{hash, is_pkce_value, pkce_s256_matches, random_token};
use crate::state::{AppState, Shared, unix_now};
use crate::store::{Family, RefreshOutcome};

const OFFLINE_ACCESS: &str = "offline_access";

/// `POST /oauth/token`.
pub(crate) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&state, &headers, &body).await {
        Ok(body) => {
            let mut response = Json(body).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
                .headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(e) => {
            tracing::debug!(
                error = e.code(),
                description = e.description(),
                "token request refused"
            );
            e.into_response()
        }
    }
}

async fn handle(state: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let params = Params::parse(body).map_err(OAuthError::invalid_request)?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    if !matches!(
        grant_type,
        "authorization_code" | "refresh_token" | "client_credentials" | exchange::GRANT_TYPE
    ) {
        return Err(OAuthError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("grant_type {grant_type} is not supported"),
        ));
    }
    // Token exchange may target upstream audiences; it checks `resource` itself.
    if grant_type != exchange::GRANT_TYPE {
        check_resources(state, params.resources()).map_err(OAuthError::invalid_target)?;
    }
    let client = authenticate(state, headers, &params).await?;
    match grant_type {
        "authorization_code" => authorization_code(state, &params, client),
        "refresh_token" => refresh_token(state, &params, client),
        exchange::GRANT_TYPE => exchange::token_exchange(state, &params, client),
        _ => client_credentials(state, &params, client),
    }
}

fn authorization_code(
    state: &Shared,
    params: &Params,
    client: Authenticated,
) -> Result<Value, OAuthError> {
    let code_value = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let code = match state.pending.redeem_code(code_value) {
        Redeemed::Fresh(code) => code,
        Redeemed::Replayed(family) => {
            // OAuth 2.1 §4.1.3: a replayed code means it leaked; what it issued is suspect.
            if let Some(family_id) = family {
                state.store.revoke_family(&family_id, unix_now())?;
            }
            tracing::warn!(
                client_id = client.client.client_id,
                "authorization code replayed"
            );
            return Err(OAuthError::invalid_grant(
                "authorization code has already been used",
            ));
        }
        Redeemed::Invalid => {
            return Err(OAuthError::invalid_grant(
                "authorization code is invalid or expired",
            ));
        }
    };
    if code.client_id != client.client.client_id {
        return Err(OAuthError::invalid_grant(
            "authorization code was issued to another client",
        ));
    }
    match params.get("redirect_uri") {
        Some(uri) if uri != code.redirect_uri => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        None if code.redirect_uri_in_request => {
            return Err(OAuthError::invalid_request("redirect_uri is required"));
        }
        _ => {}
    }
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| OAuthError::invalid_request("code_verifier is required"))?;
    if !is_pkce_value(verifier) {
        return Err(OAuthError::invalid_request(
            "code_verifier must be 43-128 unreserved characters",
        ));
    }
    if !pkce_s256_matches(verifier, &code.code_challenge) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }

    let request = TokenRequest::user(code.subject.clone())
        .with_scopes(code.scopes.clone())
        .with_client_id(client.client.client_id.clone())
        .with_session_id(code.session_id.clone());
    let access_token = state.mint(&request)?;
    let refresh_token = if code.scopes.iter().any(|s| s == OFFLINE_ACCESS) {
        let family = Family {
            family_id: random_digits_id("rtf_"),
            client_id: client.client.client_id.clone(),
            subject: code.subject.clone(),
            scopes: code.scopes.clone(),
            session_id: code.session_id.clone(),
        };
        let token = random_token();
        let now = unix_now();
        state
            .store
            .create_family(&family, &hash(&token), now, refresh_expiry(state, now))?;
        state.pending.set_code_family(code_value, family.family_id);
        Some(token)
    } else {
        None
    };
    Ok(success(state, access_token, &code.scopes, refresh_token))
}

fn refresh_token(
    state: &Shared,
    params: &Params,
    client: Authenticated,
) -> Result<Value, OAuthError> {
    let presented = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    // A narrower scope may be asked for (RFC 6749 §6), never a wider one.
    let requested = params.get("scope").map(split_scopes);
    // OAuth 2.1 §4.3.1: public clients' refresh tokens are sender-constrained by
    // rotation, so every use returns a new token and spends the old one.
    let next = random_token();
    let now = unix_now();
    let outcome = state.store.rotate_refresh(
        &hash(presented),
        &client.client.client_id,
        requested.as_deref(),
        &hash(&next),
        now,
        refresh_expiry(state, now),
    )?;
    let family = match outcome {
        RefreshOutcome::Rotated(family) => family,
        RefreshOutcome::Reused => {
            tracing::warn!(
                client_id = client.client.client_id,
                "refresh token reused; family revoked"
            );
            return Err(OAuthError::invalid_grant(
                "refresh token has already been used; its grant is revoked",
            ));
        }
        RefreshOutcome::Invalid(why) => return Err(OAuthError::invalid_grant(why)),
        RefreshOutcome::ScopeNotGranted(bad) => {
            return Err(OAuthError::invalid_scope(format!(
                "scope {bad} was not granted"
            )));
        }
    };
    let scopes = requested.unwrap_or_else(|| family.scopes.clone());
    let request = TokenRequest::user(family.subject.clone())
        .with_scopes(scopes.clone())
        .with_client_id(family.client_id.clone())
        .with_session_id(family.session_id.clone());
    let access_token = state.mint(&request)?;
    Ok(success(state, access_token, &scopes, Some(next)))
}

fn client_credentials(
    state: &Shared,
    params: &Params,
    client: Authenticated,
) -> Result<Value, OAuthError> {
    let client = client.client;
    if !client.is_confidential() {
        return Err(OAuthError::unauthorized_client(
            "client_credentials requires a confidential client",
        ));
    }
    if !client.has_grant_type("client_credentials") {
        return Err(OAuthError::unauthorized_client(
            "the client is not registered for client_credentials",
        ));
    }
    let scopes = match params.get("scope") {
        Some(scope) => split_scopes(scope),
        None => client.scope.clone().unwrap_or_default(),
    };
    if let Some(bad) = scopes
        .iter()
        .find(|s| !state.config.scopes_supported.contains(s))
    {
        return Err(OAuthError::invalid_scope(format!(
            "scope {bad} is not supported"
        )));
    }
    if !client.may_request(&scopes) {
        return Err(OAuthError::invalid_scope(
            "the client did not register for all requested scopes",
        ));
    }
    let request = TokenRequest::machine(client.client_id.clone()).with_scopes(scopes.clone());
    debug_assert_eq!(request.scope_claim, ScopeClaim::Scopes);
    let access_token = state.mint(&request)?;
    Ok(success(state, access_token, &scopes, None))
}

fn refresh_expiry(state: &Shared, now: i64) -> i64 {
    now.saturating_add(
        i64::try_from(state.config.refresh_token_lifetime.as_secs()).unwrap_or(i64::MAX),
    )
}

fn success(
    state: &Shared,
    access_token: String,
    scopes: &[String],
    refresh_token: Option<String>,
) -> Value {
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": state.config.token_lifetime.as_secs(),
        "scope": scopes.join(" "),
    });
    if let Some(rt) = refresh_token {
        body["refresh_token"] = rt.into();
    }
    body
}
