//! RFC 8693 token exchange over real HTTP: a confidential client (standing
//! for an MCP gateway) exchanges a user's token for one whose audience is an
//! upstream, and every way the exchange must be refused is refused.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mcpgate_dev_as::{SigningKey, TokenRequest};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Fixture, MCP_URL, config, start_with};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const UPSTREAM: &str = "http://127.0.0.1:9/upstream/mcp";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

async fn start() -> Fixture {
    start_with(config().with_exchange_audiences([UPSTREAM, "billing-api"])).await
}

/// A confidential client (the gateway) registered for token exchange;
/// returns (id, secret).
async fn register_gateway(f: &Fixture) -> (String, String) {
    register_confidential(f, &[GRANT]).await
}

/// A confidential client with these grant types; returns (id, secret).
async fn register_confidential(f: &Fixture, grant_types: &[&str]) -> (String, String) {
    let body: Value = f
        .register(json!({
            "client_name": "Gateway",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": grant_types,
        }))
        .await
        .json()
        .await
        .unwrap();
    (
        body["client_id"].as_str().unwrap().to_owned(),
        body["client_secret"].as_str().unwrap().to_owned(),
    )
}

fn user_token(f: &Fixture, scopes: &[&str]) -> String {
    f.server
        .mint_token(
            TokenRequest::user("usr_42")
                .with_scopes(scopes.iter().copied())
                .with_session_id("ses_7"),
        )
        .unwrap()
}

/// Posts a token-exchange request as `client` (Basic auth) with `extra`
/// parameters after the grant type.
async fn exchange(
    f: &Fixture,
    client: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = f.http.post(f.url("/oauth/token"));
    if let Some((id, secret)) = client {
        request = request.basic_auth(id, Some(secret));
    }
    let mut all = vec![("grant_type", GRANT)];
    all.extend_from_slice(form);
    let response = request.form(&all).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn subject<'a>(token: &'a str, audience: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("subject_token", token),
        ("subject_token_type", ACCESS_TOKEN),
        ("resource", audience),
    ]
}

/// Verifies `token` against the published JWKS for `audience`.
async fn verify_for(f: &Fixture, token: &str, audience: &str) -> Value {
    let jwks = f.jwks().await;
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks.find(&header.kid.unwrap()).expect("published kid");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&f.server.issuers());
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims
}

fn error(result: &(StatusCode, Value)) -> (StatusCode, &str) {
    (result.0, result.1["error"].as_str().unwrap_or("<none>"))
}

#[tokio::test]
async fn exchange_issues_a_token_for_the_upstream_acting_for_the_user() {
    let f = start().await;
    let (id, secret) = register_gateway(&f).await;
    let token = user_token(&f, &["mcp:tools", "email", "profile"]);
    let mut form = subject(&token, UPSTREAM);
    form.push(("scope", "mcp:tools email"));
    let (status, body) = exchange(&f, Some((&id, &secret)), &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "mcp:tools email");
    assert!(body.get("refresh_token").is_none());
    let expires_in = body["expires_in"].as_u64().unwrap();
    assert!(expires_in > 0 && expires_in <= 3600);

    let claims = verify_for(&f, body["access_token"].as_str().unwrap(), UPSTREAM).await;
    assert_eq!(claims["aud"], json!([UPSTREAM]), "only the upstream");
    assert_eq!(claims["sub"], "usr_42");
    assert_eq!(claims["act"], json!({"sub": id}));
    assert_eq!(claims["client_id"], id);
    assert_eq!(claims["scope"], "mcp:tools email");
    assert_eq!(claims["sid"], "ses_7");

    // The exchanged token is for the upstream, not for the MCP resource:
    // it cannot be exchanged again as if it were the user's.
    let again = exchange(
        &f,
        Some((&id, &secret)),
        &subject(body["access_token"].as_str().unwrap(), UPSTREAM),
    )
    .await;
    assert_eq!(error(&again), (StatusCode::BAD_REQUEST, "invalid_grant"));

    // A logical audience via `audience`; without `scope`, all held scopes.
    let (status, body) = exchange(
        &f,
        Some((&id, &secret)),
        &[
            ("subject_token", &token),
            ("subject_token_type", ACCESS_TOKEN),
            ("audience", "billing-api"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "mcp:tools email profile");
    let claims = verify_for(&f, body["access_token"].as_str().unwrap(), "billing-api").await;
    assert_eq!(claims["aud"], json!(["billing-api"]));
}

#[tokio::test]
async fn exchanged_token_does_not_outlive_the_subject_token() {
    let f = start().await;
    let (id, secret) = register_gateway(&f).await;
    let short = f
        .server
        .mint_token(
            TokenRequest::user("usr_1")
                .with_scopes(["mcp:tools"])
                .with_lifetime(std::time::Duration::from_secs(120)),
        )
        .unwrap();
    let (status, body) = exchange(&f, Some((&id, &secret)), &subject(&short, UPSTREAM)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["expires_in"].as_u64().unwrap() <= 120);
    let claims = verify_for(&f, body["access_token"].as_str().unwrap(), UPSTREAM).await;
    assert!(claims["exp"].as_i64().unwrap() <= now() + 120);
}

#[tokio::test]
async fn expired_subject_token_is_refused() {
    let f = start().await;
    let (id, secret) = register_gateway(&f).await;
    let expired = f
        .server
        .mint_token(
            TokenRequest::user("usr_1")
                .with_scopes(["mcp:tools"])
                .with_claim("iat", now() - 7200)
                .with_claim("nbf", now() - 7200)
                .with_claim("exp", now() - 5),
        )
        .unwrap();
    let result = exchange(&f, Some((&id, &secret)), &subject(&expired, UPSTREAM)).await;
    assert_eq!(error(&result), (StatusCode::BAD_REQUEST, "invalid_grant"));
    assert_eq!(result.1["error_description"], "subject_token has expired");
}

#[tokio::test]
async fn foreign_and_forged_subject_tokens_are_refused() {
    let f = start().await;
    let (id, secret) = register_gateway(&f).await;
    let good = user_token(&f, &["mcp:tools"]);
    let claims = verify_for(&f, &good, MCP_URL).await;
    let stranger = SigningKey::generate().unwrap();

    // Another issuer's key, its own kid: not a token of this server.
    let foreign = stranger.sign(&claims).unwrap();
    let result = exchange(&f, Some((&id, &secret)), &subject(&foreign, UPSTREAM)).await;
    assert_eq!(error(&result), (StatusCode::BAD_REQUEST, "invalid_grant"));
    assert_eq!(
        result.1["error_description"],
        "subject_token was not issued by this server"
    );

    // Forged: this server's kid in the header, signed by another key.
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": f.server.current_kid()});
    let forged = stranger.sign_with_raw_header(&header, &claims).unwrap();
    let result = exchange(&f, Some((&id, &secret)), &subject(&forged, UPSTREAM)).await;
    assert_eq!(error(&result), (StatusCode::BAD_REQUEST, "invalid_grant"));
    assert_eq!(
        result.1["error_description"],
        "subject_token signature is invalid"
    );

    // Signed by this server but for another audience.
    let elsewhere = f
        .server
        .mint_token(
            TokenRequest::user("usr_1")
                .with_scopes(["mcp:tools"])
                .with_claim("aud", json!(["http://127.0.0.1:9/other"])),
        )
        .unwrap();
    let result = exchange(&f, Some((&id, &secret)), &subject(&elsewhere, UPSTREAM)).await;
    assert_eq!(
        result.1["error_description"],
        "subject_token was not issued for this resource"
    );

    // Not a JWT at all, and the wrong token type.
    let result = exchange(&f, Some((&id, &secret)), &subject("opaque", UPSTREAM)).await;
    assert_eq!(error(&result), (StatusCode::BAD_REQUEST, "invalid_grant"));
    let result = exchange(
        &f,
        Some((&id, &secret)),
        &[
            ("subject_token", &good),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:refresh_token",
            ),
            ("resource", UPSTREAM),
        ],
    )
    .await;
    assert_eq!(error(&result), (StatusCode::BAD_REQUEST, "invalid_request"));
}

#[tokio::test]
async fn scope_escalation_is_refused() {
    let f = start().await;
    let (id, secret) = register_gateway(&f).await;
    let token = user_token(&f, &["mcp:tools"]);
    let mut form = subject(&token, UPSTREAM);
    form.push(("scope", "mcp:tools email"));
    let result = exchange(&f, Some((&id, &secret)), &form).await;
    assert_eq!(error(&result), (StatusCode::BAD_REQUEST, "invalid_scope"));
    assert_eq!(
        result.1["error_description"],
        "scope email is not held by the subject token"
    );
}

#[tokio::test]
async fn unknown_or_several_audiences_are_refused() {
    let f = start().await;
    let (id, secret) = register_gateway(&f).await;
    let token = user_token(&f, &["mcp:tools"]);
    let result = exchange(
        &f,
        Some((&id, &secret)),
        &subject(&token, "http://127.0.0.1:9/not-configured"),
    )
    .await;
    assert_eq!(error(&result), (StatusCode::BAD_REQUEST, "invalid_target"));
    let mut two = subject(&token, UPSTREAM);
    two.push(("audience", "billing-api"));
    let result = exchange(&f, Some((&id, &secret)), &two).await;
    assert_eq!(error(&result), (StatusCode::BAD_REQUEST, "invalid_target"));
    let result = exchange(
        &f,
        Some((&id, &secret)),
        &[
            ("subject_token", &token),
            ("subject_token_type", ACCESS_TOKEN),
        ],
    )
    .await;
    assert_eq!(error(&result), (StatusCode::BAD_REQUEST, "invalid_request"));
    // The MCP resource itself is a known audience (a narrower token for it).
    let (status, body) = exchange(&f, Some((&id, &secret)), &subject(&token, MCP_URL)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn unauthenticated_and_public_clients_are_refused() {
    let f = start().await;
    let (id, _) = register_gateway(&f).await;
    let token = user_token(&f, &["mcp:tools"]);
    // No client authentication at all.
    let result = exchange(&f, None, &subject(&token, UPSTREAM)).await;
    assert_eq!(error(&result), (StatusCode::UNAUTHORIZED, "invalid_client"));
    // The wrong secret.
    let result = exchange(&f, Some((&id, "wrong")), &subject(&token, UPSTREAM)).await;
    assert_eq!(error(&result), (StatusCode::UNAUTHORIZED, "invalid_client"));
    // A public client only names itself: that proves nothing.
    let public = f.register_public().await;
    let mut form = subject(&token, UPSTREAM);
    form.push(("client_id", &public));
    let result = exchange(&f, None, &form).await;
    assert_eq!(
        error(&result),
        (StatusCode::BAD_REQUEST, "unauthorized_client")
    );
}

#[tokio::test]
async fn metadata_advertises_token_exchange() {
    let f = start().await;
    for doc in [
        f.server.metadata(),
        f.http
            .get(f.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap(),
    ] {
        assert!(
            doc["grant_types_supported"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g == GRANT),
            "{doc}"
        );
    }
}

#[tokio::test]
async fn only_clients_registered_for_the_grant_may_exchange() {
    let f = start().await;
    let token = user_token(&f, &["mcp:tools"]);
    // Confidential, but registered for client_credentials only.
    let (id, secret) = register_confidential(&f, &["client_credentials"]).await;
    let result = exchange(&f, Some((&id, &secret)), &subject(&token, UPSTREAM)).await;
    assert_eq!(
        error(&result),
        (StatusCode::BAD_REQUEST, "unauthorized_client")
    );
    assert!(
        result.1["error_description"]
            .as_str()
            .unwrap()
            .contains("grant_types"),
        "{}",
        result.1
    );
    // Registered for it: the same request succeeds.
    let (id, secret) = register_confidential(&f, &["client_credentials", GRANT]).await;
    let (status, body) = exchange(&f, Some((&id, &secret)), &subject(&token, UPSTREAM)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A public client cannot even register for it: it could not prove it is the actor.
    let response = f
        .register(json!({
            "client_name": "Public",
            "token_endpoint_auth_method": "none",
            "grant_types": [GRANT],
        }))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client_metadata");
}
