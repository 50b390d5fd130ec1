//! RFC 7662 introspection against a loopback introspection endpoint (axum, in
//! this file) that checks client authentication and counts requests: active,
//! inactive, expired, endpoint down/erroring/slow/malformed (503-class, never
//! an accept), the answer cache (hits, expiry at `exp` and at the maximum TTL,
//! short negative caching, outages never cached), single flight under
//! concurrency, a secret that never prints, and the answers a protected
//! endpoint gives for opaque tokens (200, 401, 403 and 503).

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, StatusCode};
use mcpgate_auth::http::ProtectedEndpoint;
use mcpgate_auth::introspection::{
    ClientAuthMethod, ClientSecret, IntrospectionSettings, IntrospectionVerifier,
};
use mcpgate_auth::jwks::{JwksCache, JwksConfig};
use mcpgate_auth::verify::{JwtVerifier, SigningAlgorithm, VerifierSettings};
use mcpgate_auth::{
    AccessToken, AuthError, BearerToken, McpUrl, ProtectedResource, TokenRejection,
};
use serde_json::{Value, json};
use tower_service::Service;
use url::form_urlencoded;

const ISSUER: &str = "https://as.example";
const RESOURCE: &str = "https://mcp.example/mcp";
const CLIENT_ID: &str = "rs:gateway";
/// Characters that form-encoding changes, so a client that skips RFC 6749
/// §2.3.1's encoding step is caught.
const SECRET: &str = "s3cret value/+:%";

/// What the stand-in answers for one token.
#[derive(Clone)]
enum Reply {
    Json(Value),
    Status(StatusCode),
    /// Never answers.
    Hang,
    /// A 200 with this body.
    Raw(String),
}

/// A loopback introspection endpoint.
struct StandIn {
    /// Requests received (before any check).
    requests: AtomicUsize,
    /// The client authentication it requires.
    method: ClientAuthMethod,
    replies: Mutex<HashMap<String, Reply>>,
}

impl StandIn {
    fn answer(&self, token: &str, reply: Reply) {
        self.replies.lock().unwrap().insert(token.to_owned(), reply);
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Whether the request authenticates `CLIENT_ID`/`SECRET` with exactly the
    /// configured method (RFC 6749 §2.3: one method per request).
    fn authenticated(&self, headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
        let basic = headers.get(AUTHORIZATION);
        let posted = (form.get("client_id"), form.get("client_secret"));
        match self.method {
            ClientAuthMethod::ClientSecretBasic => {
                let Some(encoded) = basic
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Basic "))
                else {
                    return false;
                };
                let Some(pair) = STANDARD
                    .decode(encoded)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                else {
                    return false;
                };
                let Some((id, secret)) = pair.split_once(':') else {
                    return false;
                };
                let decode = |s: &str| {
                    form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                posted == (None, None) && decode(id) == CLIENT_ID && decode(secret) == SECRET
            }
            _ => {
                basic.is_none()
                    && posted.0.map(String::as_str) == Some(CLIENT_ID)
                    && posted.1.map(String::as_str) == Some(SECRET)
            }
        }
    }
}

async fn introspect(
    State(stand_in): State<Arc<StandIn>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    stand_in.requests.fetch_add(1, Ordering::SeqCst);
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let form_encoded = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_encoded || form.get("token_type_hint").map(String::as_str) != Some("access_token") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_request"})),
        )
            .into_response();
    }
    if !stand_in.authenticated(&headers, &form) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let Some(token) = form.get("token") else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let reply = stand_in.replies.lock().unwrap().get(token).cloned();
    match reply.unwrap_or(Reply::Json(json!({"active": false}))) {
        Reply::Json(v) => axum::Json(v).into_response(),
        Reply::Status(s) => s.into_response(),
        Reply::Hang => std::future::pending().await,
        Reply::Raw(body) => ([(CONTENT_TYPE, "application/json")], body).into_response(),
    }
}

/// Starts a stand-in requiring `method`; returns it and its endpoint URL.
async fn stand_in(method: ClientAuthMethod) -> (Arc<StandIn>, String) {
    let stand_in = Arc::new(StandIn {
        requests: AtomicUsize::new(0),
        method,
        replies: Mutex::new(HashMap::new()),
    });
    let app = Router::new()
        .route("/oauth2/introspect", post(introspect))
        .with_state(stand_in.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (stand_in, format!("http://{addr}/oauth2/introspect"))
}

fn settings(endpoint: &str) -> IntrospectionSettings {
    IntrospectionSettings::new(
        endpoint,
        ISSUER,
        CLIENT_ID,
        ClientSecret::new(SECRET),
        [RESOURCE],
    )
}

fn verifier(settings: IntrospectionSettings) -> IntrospectionVerifier {
    IntrospectionVerifier::new(settings).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An `active: true` answer as a typical server sends it.
fn active(sub: &str, exp: u64) -> Reply {
    Reply::Json(json!({
        "active": true,
        "sub": sub,
        "client_id": "app_1",
        "scope": "todo:read todo:write",
        "iss": ISSUER,
        "aud": RESOURCE,
        "exp": exp,
        "iat": now(),
        "token_type": "Bearer",
    }))
}

fn token(raw: &str) -> BearerToken {
    BearerToken::new(raw)
}

fn is_unavailable(result: &Result<Arc<AccessToken>, AuthError>) -> bool {
    matches!(result, Err(e @ AuthError::KeysUnavailable { .. }) if e.status() == StatusCode::SERVICE_UNAVAILABLE)
}

#[tokio::test]
async fn an_active_token_is_accepted_with_client_secret_basic() {
    let (stand_in, endpoint) = stand_in(ClientAuthMethod::ClientSecretBasic).await;
    stand_in.answer("opaque-1", active("usr_1", now() + 3600));
    let v = verifier(settings(&endpoint));
    let access = v.verify(&token("opaque-1")).await.unwrap();
    assert_eq!(access.subject(), "usr_1");
    assert_eq!(access.client_id(), Some("app_1"));
    assert_eq!(access.issuer(), ISSUER);
    assert_eq!(access.audiences(), [RESOURCE]);
    assert_eq!(access.provider(), "introspection");
    assert_eq!(access.scopes().to_space_separated(), "todo:read todo:write");
    assert_eq!(stand_in.requests(), 1);
}

#[tokio::test]
async fn client_secret_post_is_supported_and_wrong_credentials_are_a_503() {
    let (stand_in, endpoint) = stand_in(ClientAuthMethod::ClientSecretPost).await;
    stand_in.answer("opaque-1", active("usr_1", now() + 3600));
    let post = verifier(settings(&endpoint).client_auth(ClientAuthMethod::ClientSecretPost));
    assert_eq!(
        post.verify(&token("opaque-1")).await.unwrap().subject(),
        "usr_1"
    );

    // The stand-in wants the secret in the body; Basic is refused (401 from
    // the endpoint), which is our misconfiguration, not the client's bad token.
    let basic = verifier(settings(&endpoint));
    assert!(is_unavailable(&basic.verify(&token("opaque-1")).await));
    let mut wrong = settings(&endpoint).client_auth(ClientAuthMethod::ClientSecretPost);
    wrong.client_secret = ClientSecret::new("not the secret");
    assert!(is_unavailable(
        &verifier(wrong).verify(&token("opaque-1")).await
    ));
    assert_eq!(stand_in.requests(), 3);
}

#[tokio::test]
async fn an_inactive_token_is_invalid() {
    let (stand_in, endpoint) = stand_in(ClientAuthMethod::ClientSecretBasic).await;
    stand_in.answer("revoked", Reply::Json(json!({"active": false})));
    let v = verifier(settings(&endpoint));
    let err = v.verify(&token("revoked")).await.unwrap_err();
    assert_eq!(err, AuthError::InvalidToken(TokenRejection::Inactive));
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(err.error_code(), Some("invalid_token"));
    // A token the server has never seen gets the same answer.
    assert_eq!(
        v.verify(&token("never-issued")).await,
        Err(AuthError::InvalidToken(TokenRejection::Inactive))
    );
}

#[tokio::test]
async fn an_expired_token_is_invalid_even_when_the_server_says_active() {
    let (stand_in, endpoint) = stand_in(ClientAuthMethod::ClientSecretBasic).await;
    stand_in.answer("stale", active("usr_1", now() - 3600));
    let no_exp = json!({"active": true, "sub": "usr_1", "scope": "todo:read"});
    stand_in.answer("forever", Reply::Json(no_exp));
    stand_in.answer(
        "other-aud",
        Reply::Json(
            json!({"active": true, "sub": "u", "exp": now() + 60, "aud": "https://elsewhere"}),
        ),
    );
    stand_in.answer(
        "other-iss",
        Reply::Json(json!({"active": true, "sub": "u", "exp": now() + 60, "iss": "https://evil"})),
    );
    let v = verifier(settings(&endpoint));
    assert_eq!(
        v.verify(&token("stale")).await,
        Err(AuthError::InvalidToken(TokenRejection::Expired))
    );
    assert_eq!(
        v.verify(&token("forever")).await,
        Err(AuthError::InvalidToken(TokenRejection::MissingClaim("exp")))
    );
    assert_eq!(
        v.verify(&token("other-aud")).await,
        Err(AuthError::InvalidToken(TokenRejection::WrongAudience))
    );
    assert_eq!(
        v.verify(&token("other-iss")).await,
        Err(AuthError::InvalidToken(TokenRejection::WrongIssuer))
    );
}

#[tokio::test]
async fn an_endpoint_that_is_down_or_failing_is_a_503_never_an_accept() {
    // A port that was just free and is now closed: connection refused.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let down = verifier(settings(&format!("http://{closed}/oauth2/introspect")));
    let err = down.verify(&token("opaque-1")).await.unwrap_err();
    assert!(
        matches!(err, AuthError::KeysUnavailable { retry_after } if retry_after > Duration::ZERO)
    );
    assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);

    let (stand_in, endpoint) = stand_in(ClientAuthMethod::ClientSecretBasic).await;
    stand_in.answer("t500", Reply::Status(StatusCode::INTERNAL_SERVER_ERROR));
    stand_in.answer("t302", Reply::Status(StatusCode::FOUND));
    let v = verifier(settings(&endpoint));
    assert!(is_unavailable(&v.verify(&token("t500")).await));
    assert!(is_unavailable(&v.verify(&token("t302")).await));
    // Outages are never remembered: the next request asks again.
    assert!(is_unavailable(&v.verify(&token("t500")).await));
    assert_eq!(stand_in.requests(), 3);
}

#[tokio::test]
async fn a_slow_endpoint_times_out_into_a_503() {
    let (stand_in, endpoint) = stand_in(ClientAuthMethod::ClientSecretBasic).await;
    stand_in.answer("slow", Reply::Hang);
    let v = verifier(settings(&endpoint).request_timeout(Duration::from_millis(300)));
    assert!(is_unavailable(&v.verify(&token("slow")).await));
    assert_eq!(stand_in.requests(), 1);
}

#[tokio::test]
async fn malformed_answers_are_a_503_never_an_accept() {
    let (stand_in, endpoint) = stand_in(ClientAuthMethod::ClientSecretBasic).await;
    let exp = now() + 3600;
    let cases = [
        ("not-json", Reply::Raw("<html>login</html>".into())),
        (
            "array",
            Reply::Raw(format!(r#"[{{"active":true,"sub":"u","exp":{exp}}}]"#)),
        ),
        ("no-active", Reply::Json(json!({"sub": "u", "exp": exp}))),
        (
            "string-active",
            Reply::Json(json!({"active": "true", "sub": "u", "exp": exp})),
        ),
        (
            "numeric-active",
            Reply::Json(json!({"active": 1, "sub": "u", "exp": exp})),
        ),
        // Larger than the 64 KiB cap, and otherwise a valid `active: true`.
        (
            "huge",
            Reply::Json(
                json!({"active": true, "sub": "u", "exp": exp, "pad": "x".repeat(70 * 1024)}),
            ),
        ),
    ];
    let v = verifier(settings(&endpoint));
    for (name, reply) in cases {
        stand_in.answer(name, reply);
        let result = v.verify(&token(name)).await;
        assert!(is_unavailable(&result), "{name}: {result:?}");
    }
}

#[tokio::test]
async fn a_cached_answer_makes_no_second_request() {
    let (stand_in, endpoint) = stand_in(ClientAuthMethod::ClientSecretBasic).await;
    stand_in.answer("opaque-1", active("usr_1", now() + 3600));
    stand_in.answer("opaque-2", active("usr_2", now() + 3600));
    let v = verifier(settings(&endpoint));
    let first = v.verify(&token("opaque-1")).await.unwrap();
    let again = v.verify(&token("opaque-1")).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again), "the remembered answer");
    assert_eq!(stand_in.requests(), 1);
    // Only the identical token hits; clones share the cache.
    assert_eq!(
        v.clone()
            .verify(&token("opaque-2"))
            .await
            .unwrap()
            .subject(),
        "usr_2"
    );
    assert_eq!(stand_in.requests(), 2);

    // Caching off: every verification asks.
    let mut off = settings(&endpoint);
    off.cache_capacity = 0;
    let off = verifier(off);
    off.verify(&token("opaque-1")).await.unwrap();
    off.verify(&token("opaque-1")).await.unwrap();
    assert_eq!(stand_in.requests(), 4);
}

#[tokio::test]
async fn a_cached_answer_expires_at_exp() {
    let (stand_in, endpoint) = stand_in(ClientAuthMethod::ClientSecretBasic).await;
    stand_in.answer("opaque-1", active("usr_1", now() + 30));
    let v = verifier(settings(&endpoint).cache_ttls(Duration::from_secs(3600), Duration::ZERO));
    v.verify(&token("opaque-1")).await.unwrap();
    assert_eq!(stand_in.requests(), 1);

    // The cache's deadlines are on tokio's clock; move it, not the wall clock.
    advance(Duration::from_secs(20)).await;
    v.verify(&token("opaque-1")).await.unwrap();
    assert_eq!(stand_in.requests(), 1, "before exp: remembered");
    advance(Duration::from_secs(11)).await;
    v.verify(&token("opaque-1")).await.unwrap();
    assert_eq!(
        stand_in.requests(),
        2,
        "at exp: asked again although the TTL is an hour"
    );
}

#[tokio::test]
async fn a_cached_answer_expires_at_the_maximum_ttl() {
    let (stand_in, endpoint) = stand_in(ClientAuthMethod::ClientSecretBasic).await;
    stand_in.answer("opaque-1", active("usr_1", now() + 3600));
    let v = verifier(settings(&endpoint).cache_ttls(Duration::from_secs(10), Duration::ZERO));
    v.verify(&token("opaque-1")).await.unwrap();
    advance(Duration::from_secs(9)).await;
    v.verify(&token("opaque-1")).await.unwrap();
    assert_eq!(stand_in.requests(), 1);
    // Revoked meanwhile: seen once the TTL is over.
    stand_in.answer("opaque-1", Reply::Json(json!({"active": false})));
    advance(Duration::from_secs(2)).await;
    assert_eq!(
        v.verify(&token("opaque-1")).await,
        Err(AuthError::InvalidToken(TokenRejection::Inactive))
    );
    assert_eq!(stand_in.requests(), 2);
}

#[tokio::test]
async fn refusals_are_remembered_only_briefly() {
    let (stand_in, endpoint) = stand_in(ClientAuthMethod::ClientSecretBasic).await;
    stand_in.answer("revoked", Reply::Json(json!({"active": false})));
    let v =
        verifier(settings(&endpoint).cache_ttls(Duration::from_secs(60), Duration::from_secs(5)));
    for _ in 0..3 {
        assert_eq!(
            v.verify(&token("revoked")).await,
            Err(AuthError::InvalidToken(TokenRejection::Inactive))
        );
    }
    assert_eq!(stand_in.requests(), 1);
    advance(Duration::from_secs(6)).await;
    assert!(v.verify(&token("revoked")).await.is_err());
    assert_eq!(stand_in.requests(), 2);
}

#[tokio::test]
async fn concurrent_verifications_of_one_token_make_one_request() {
    let (stand_in, endpoint) = stand_in(ClientAuthMethod::ClientSecretBasic).await;
    stand_in.answer("opaque-1", active("usr_1", now() + 3600));
    stand_in.answer("revoked", Reply::Json(json!({"active": false})));
    stand_in.answer("t500", Reply::Status(StatusCode::INTERNAL_SERVER_ERROR));
    let v = verifier(settings(&endpoint));

    let t = token("opaque-1");
    let results = futures::future::join_all((0..32).map(|_| v.verify(&t))).await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|a| a.subject() == "usr_1"))
    );
    assert_eq!(stand_in.requests(), 1);

    // Refusals and outages are shared the same way (each flight asks once).
    let t = token("revoked");
    let results = futures::future::join_all((0..32).map(|_| v.verify(&t))).await;
    assert!(
        results
            .iter()
            .all(|r| r == &Err(AuthError::InvalidToken(TokenRejection::Inactive)))
    );
    let t = token("t500");
    let results = futures::future::join_all((0..32).map(|_| v.verify(&t))).await;
    assert!(results.iter().all(is_unavailable));
    assert_eq!(stand_in.requests(), 3);
}

#[tokio::test]
async fn a_caller_that_goes_away_does_not_cancel_the_flight_for_others() {
    let (stand_in, endpoint) = stand_in(ClientAuthMethod::ClientSecretBasic).await;
    stand_in.answer("opaque-1", active("usr_1", now() + 3600));
    let v = verifier(settings(&endpoint));
    let t = token("opaque-1");
    // Poll the leader once (it starts the flight), then drop it.
    let mut leader = Box::pin(v.verify(&t));
    assert!(futures::poll!(leader.as_mut()).is_pending());
    drop(leader);
    assert_eq!(v.verify(&t).await.unwrap().subject(), "usr_1");
    assert_eq!(stand_in.requests(), 1);
}

#[tokio::test]
async fn the_secret_never_prints() {
    let (_stand_in, endpoint) = stand_in(ClientAuthMethod::ClientSecretBasic).await;
    let s = settings(&endpoint);
    let v = verifier(s.clone());
    for printed in [
        format!("{s:?}"),
        format!("{v:?}"),
        format!("{:?}", s.client_secret),
    ] {
        assert!(!printed.contains("s3cret"), "{printed}");
    }
    assert!(format!("{v:?}").contains(CLIENT_ID), "the rest is shown");
}

#[tokio::test]
async fn oversized_tokens_are_refused_without_a_request() {
    let (stand_in, endpoint) = stand_in(ClientAuthMethod::ClientSecretBasic).await;
    let v = verifier(settings(&endpoint));
    let long = "a".repeat(v.max_token_bytes() + 1);
    assert_eq!(
        v.verify(&token(&long)).await,
        Err(AuthError::InvalidToken(TokenRejection::TooLarge))
    );
    assert_eq!(stand_in.requests(), 0);
}

/// Sends one request through `router` (as a server would, without a socket).
async fn send(router: &mut Router, request: Request) -> (StatusCode, HeaderMap) {
    poll_fn(|cx| <Router as Service<Request>>::poll_ready(router, cx))
        .await
        .expect("infallible");
    let response = <Router as Service<Request>>::call(router, request)
        .await
        .expect("infallible");
    (response.status(), response.headers().clone())
}

#[tokio::test]
async fn a_protected_endpoint_answers_opaque_tokens_200_401_403_or_503() {
    let (stand_in, endpoint) = stand_in(ClientAuthMethod::ClientSecretBasic).await;
    stand_in.answer("good", active("usr_1", now() + 3600));
    stand_in.answer(
        "read-only",
        Reply::Json(
            json!({"active": true, "sub": "usr_2", "exp": now() + 3600, "scope": "todo:read"}),
        ),
    );
    stand_in.answer("revoked", Reply::Json(json!({"active": false})));
    stand_in.answer("outage", Reply::Status(StatusCode::BAD_GATEWAY));
    // The JWT verifier's keys are never fetched: none of these tokens is a JWT.
    let keys = JwksCache::new("http://127.0.0.1:9/keys", JwksConfig::default());
    let jwt = JwtVerifier::new(
        keys,
        VerifierSettings::new([ISSUER], [RESOURCE], [SigningAlgorithm::Rs256]),
    )
    .unwrap();
    let resource = ProtectedResource::builder(McpUrl::parse(RESOURCE).unwrap(), jwt)
        .opaque_verifier(verifier(settings(&endpoint)))
        .authorization_server(ISSUER)
        .required_scopes(["todo:write"])
        .build()
        .unwrap();
    let mut router = ProtectedEndpoint::new(resource)
        .into_router(axum::routing::post(|| async { "{}" }))
        .unwrap();
    let mut call = async |bearer: &str| {
        let request = Request::post("/mcp")
            .header(HOST, "mcp.example")
            .header(AUTHORIZATION, format!("Bearer {bearer}"))
            .body(Body::from("{}"))
            .unwrap();
        send(&mut router, request).await
    };
    let challenge = |headers: &HeaderMap| {
        headers
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };

    assert_eq!(call("good").await.0, StatusCode::OK);
    let (status, headers) = call("read-only").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        challenge(&headers).contains("insufficient_scope"),
        "{headers:?}"
    );
    let (status, headers) = call("revoked").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge(&headers).contains("invalid_token"), "{headers:?}");
    let (status, headers) = call("outage").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.contains_key(RETRY_AFTER), "{headers:?}");
    assert_eq!(stand_in.requests(), 4);
}

/// Moves tokio's clock forward (the cache's deadlines are on it) without
/// touching the wall clock, which the answers' `exp` is compared with.
async fn advance(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}
