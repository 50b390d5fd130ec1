//! RFC 8693 token exchange at the token endpoint: a confidential client (an
//! MCP server or gateway) turns a user's access token for the MCP resource
//! into one for another audience (an upstream API), with the user as `sub`
//! and the exchanging client named in `act`, so the user's own token is
//! never passed through.
//!
//! What is checked, in order: the client authenticated with its secret and
//! registered the token-exchange grant type (`grant_types`); the
//! subject token is an access token this server signed (a published key),
//! unexpired (no leeway: the same clock signed it), issued by this server
//! (either issuer form) for this MCP resource; the target is one audience
//! this server knows (the MCP resource or a configured upstream audience);
//! the requested scopes are a subset of the subject token's.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind, jwk::Jwk};
use serde_json::{Map, Value, json};
use url::Url;

use crate::client_auth::{Authenticated, Proof};
use crate::config::canonical_resource;
use crate::error::OAuthError;
use crate::keys::KeyAlgorithm;
use crate::mint::TokenRequest;
use crate::params::{Params, split_scopes};
use crate::state::{Shared, unix_now, unix_now_ms};

/// The `grant_type` of RFC 8693 token exchange.
pub(crate) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The token type of an access token (RFC 8693 §3), the only kind accepted
/// as subject and the kind issued.
pub(crate) const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// RFC 8693 §3's JWT token type, accepted as `requested_token_type`: the
/// access tokens issued are JWTs.
const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// The canonical form an audience or `resource` is compared in: URLs as the
/// MCP URL is canonicalised (no lone trailing `/`), anything else verbatim.
pub(crate) fn canonical_audience(value: &str) -> String {
    match Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => canonical_resource(&url),
        _ => value.to_owned(),
    }
}

/// Handles one token-exchange request from an identified client.
pub(crate) fn token_exchange(
    state: &Shared,
    params: &Params,
    client: Authenticated,
) -> Result<Value, OAuthError> {
    if client.proof == Proof::None {
        return Err(OAuthError::unauthorized_client(
            "token exchange requires a confidential client authenticated with its secret",
        ));
    }
    // As for client_credentials: a grant the client did not register for is
    // refused, so a client registered for browser sign-in cannot exchange.
    if !client.client.has_grant_type(GRANT_TYPE) {
        return Err(OAuthError::unauthorized_client(format!(
            "the client is not registered for {GRANT_TYPE}; add it to grant_types"
        )));
    }
    let client_id = client.client.client_id;
    let subject_token = params
        .get("subject_token")
        .ok_or_else(|| OAuthError::invalid_request("subject_token is required"))?;
    match params.get("subject_token_type") {
        Some(ACCESS_TOKEN_TYPE) => {}
        Some(other) => {
            return Err(OAuthError::invalid_request(format!(
                "subject_token_type {other} is not supported; use {ACCESS_TOKEN_TYPE}"
            )));
        }
        None => {
            return Err(OAuthError::invalid_request(
                "subject_token_type is required",
            ));
        }
    }
    if params.get("actor_token").is_some() || params.get("actor_token_type").is_some() {
        // The authenticated client is the actor; a separate actor token
        // would have to be validated against a trust relationship this dev
        // server does not model.
        return Err(OAuthError::invalid_request(
            "actor_token is not supported; the authenticated client is the actor",
        ));
    }
    if let Some(wanted) = params.get("requested_token_type")
        && wanted != ACCESS_TOKEN_TYPE
        && wanted != JWT_TOKEN_TYPE
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type {wanted} is not supported; this server issues {ACCESS_TOKEN_TYPE}"
        )));
    }
    let target = target_audience(state, params)?;
    let subject = verify_subject(state, subject_token)?;

    let held = subject_scopes(&subject);
    let scopes = match params.get("scope") {
        Some(scope) => split_scopes(scope),
        None => held.clone(),
    };
    if let Some(extra) = scopes.iter().find(|s| !held.contains(s)) {
        return Err(OAuthError::invalid_scope(format!(
            "scope {extra} is not held by the subject token"
        )));
    }

    let now = unix_now();
    let exp = subject.get("exp").and_then(Value::as_i64).unwrap_or(now);
    // The exchanged token never outlives the token it was exchanged for.
    let remaining = u64::try_from(exp.saturating_sub(now)).unwrap_or(0);
    let lifetime = state
        .config
        .token_lifetime
        .min(Duration::from_secs(remaining));
    if lifetime.is_zero() {
        return Err(OAuthError::invalid_grant("subject_token has expired"));
    }
    let sub = subject
        .get("sub")
        .and_then(Value::as_str)
        .ok_or_else(|| OAuthError::invalid_grant("subject_token has no subject"))?;
    // RFC 8693 §4.1: `act` names the current actor; an actor that already
    // acted (a token exchanged before) is kept nested inside it.
    let mut act = Map::new();
    act.insert("sub".into(), client_id.clone().into());
    if let Some(previous) = subject.get("act") {
        act.insert("act".into(), previous.clone());
    }
    let mut request = TokenRequest::user(sub)
        .with_scopes(scopes.clone())
        .with_client_id(client_id.clone())
        .with_lifetime(lifetime)
        .with_claim("aud", json!([target]))
        .with_claim("act", Value::Object(act));
    if let Some(sid) = subject.get("sid").and_then(Value::as_str) {
        request = request.with_session_id(sid);
    }
    let access_token = state.mint(&request)?;
    tracing::info!(client_id, sub, audience = target, "token exchanged");
    Ok(json!({
        "access_token": access_token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "scope": scopes.join(" "),
    }))
}

/// The one audience asked for through `resource` (RFC 8707, a URI) and/or
/// `audience` (RFC 8693, a logical name), if this server issues for it.
fn target_audience(state: &Shared, params: &Params) -> Result<String, OAuthError> {
    let mut targets: Vec<String> = Vec::new();
    for requested in params
        .resources()
        .iter()
        .map(String::as_str)
        .chain(params.get("audience"))
    {
        let canonical = canonical_audience(requested);
        if !targets.contains(&canonical) {
            targets.push(canonical);
        }
    }
    let target = match targets.as_slice() {
        [] => {
            return Err(OAuthError::invalid_request(
                "name the token's audience with resource or audience",
            ));
        }
        [one] => one,
        _ => {
            return Err(OAuthError::invalid_target(
                "ask for one audience per exchanged token",
            ));
        }
    };
    let known = *target == state.mcp_url
        || state
            .config
            .exchange_audiences
            .iter()
            .any(|a| canonical_audience(a) == *target);
    if !known {
        return Err(OAuthError::invalid_target(format!(
            "audience {target} is not one this authorization server issues tokens for"
        )));
    }
    Ok(target.clone())
}

/// The claims of `token` if this server issued it, for this resource, and
/// it has not expired.
fn verify_subject(state: &Shared, token: &str) -> Result<Map<String, Value>, OAuthError> {
    let invalid = |why: &'static str| OAuthError::invalid_grant(why);
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| invalid("subject_token is not a JWT"))?;
    let kid = header
        .kid
        .ok_or_else(|| invalid("subject_token was not issued by this server"))?;
    // Copy what is needed and let go of the key ring's lock before decoding.
    let (jwk, algorithm) = {
        let ring = state.keys();
        let key = ring
            .published(unix_now_ms())
            .into_iter()
            .find(|k| k.kid() == kid)
            .ok_or_else(|| invalid("subject_token was not issued by this server"))?;
        (key.jwk().clone(), key.algorithm())
    };
    let jwk: Jwk = serde_json::from_value(jwk).map_err(|e| OAuthError::server_error(&e))?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| OAuthError::server_error(&e))?;
    let mut validation = Validation::new(match algorithm {
        KeyAlgorithm::Rs256 => Algorithm::RS256,
        KeyAlgorithm::Es256 => Algorithm::ES256,
        KeyAlgorithm::EdDsa => Algorithm::EdDSA,
    });
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[state.env_url.as_str(), &state.resource_issuer()]);
    validation.set_audience(&[state.mcp_url.as_str(), state.resource_id.as_str()]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(
        |e| match e.kind() {
            ErrorKind::ExpiredSignature => invalid("subject_token has expired"),
            ErrorKind::ImmatureSignature => invalid("subject_token is not yet valid"),
            ErrorKind::InvalidAudience => invalid("subject_token was not issued for this resource"),
            ErrorKind::InvalidIssuer => invalid("subject_token was not issued by this server"),
            ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                invalid("subject_token signature is invalid")
            }
            _ => invalid("subject_token is malformed"),
        },
    )?;
    Ok(data.claims)
}

/// The subject token's scopes: `scope` (user tokens) and `scopes`
/// (machine tokens), in that order, without duplicates.
fn subject_scopes(claims: &Map<String, Value>) -> Vec<String> {
    let mut held = claims
        .get("scope")
        .and_then(Value::as_str)
        .map(split_scopes)
        .unwrap_or_default();
    for s in claims
        .get("scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !held.iter().any(|h| h == s) {
            held.push(s.to_owned());
        }
    }
    held
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_compare_in_canonical_form() {
        assert_eq!(
            canonical_audience("HTTP://Up.Example:80/"),
            "http://up.example"
        );
        assert_eq!(
            canonical_audience("https://api.example/v1"),
            "https://api.example/v1"
        );
        assert_eq!(canonical_audience("billing-api"), "billing-api");
    }

    #[test]
    fn scopes_come_from_both_claims() {
        let claims = json!({"scope": "a b", "scopes": ["b", "c"]});
        assert_eq!(subject_scopes(claims.as_object().unwrap()), ["a", "b", "c"]);
    }
}
