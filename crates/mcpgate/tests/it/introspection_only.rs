//! An `McpServer` whose only verifier is RFC 7662 introspection (no JWT
//! verifier, no keys): served over real HTTP on 127.0.0.1 against a loopback
//! introspection endpoint. An active token passes end to end through the
//! rmcp client; an inactive one is a 401; an endpoint that is down is a 503
//! with `Retry-After`, never an accept.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Form;
use axum::extract::State;
use axum::routing::post;
use http::{StatusCode, header};
use mcpgate::auth::introspection::{
    ClientAuthMethod, ClientSecret, IntrospectionSettings, IntrospectionVerifier,
};
use mcpgate::{McpUrl, ProtectedResource};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::support::*;

const ISSUER: &str = "https://id.example.com";
const CLIENT_ID: &str = "mcp-server";
const SECRET: &str = "introspection-secret";
const ACTIVE: &str = "opaque-active-token";
const REVOKED: &str = "opaque-revoked-token";

/// The introspection stand-in: answers for two known tokens, after checking
/// the resource server's `client_secret_post` credentials.
#[derive(Clone, Default)]
struct Endpoint {
    requests: Arc<AtomicUsize>,
}

async fn introspect(
    State(endpoint): State<Endpoint>,
    Form(form): Form<HashMap<String, String>>,
) -> (StatusCode, axum::Json<Value>) {
    endpoint.requests.fetch_add(1, Ordering::SeqCst);
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(SECRET)
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        );
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let answer = match form.get("token").map(String::as_str) {
        Some(ACTIVE) => json!({
            "active": true,
            "iss": ISSUER,
            "sub": "usr_opaque",
            "client_id": "cli_opaque",
            "scope": "mcp:tools",
            "token_type": "Bearer",
            "iat": now,
            "exp": now + 600,
        }),
        _ => json!({"active": false}),
    };
    (StatusCode::OK, axum::Json(answer))
}

/// Serves the stand-in on a loopback port; returns its introspection URL.
async fn start_endpoint(endpoint: Endpoint) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/oauth2/introspect", post(introspect))
        .with_state(endpoint);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/oauth2/introspect")
}

/// A loopback URL nothing listens on: the port was bound, then released.
async fn dead_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/oauth2/introspect")
}

/// The sample server protected by introspection at `endpoint` only.
async fn serve(endpoint: String) -> Running {
    Running::start(move |mcp_url| {
        let settings = IntrospectionSettings::new(
            endpoint,
            ISSUER,
            CLIENT_ID,
            ClientSecret::new(SECRET.to_owned()),
            [mcp_url],
        )
        .client_auth(ClientAuthMethod::ClientSecretPost);
        let verifier = IntrospectionVerifier::new(settings).expect("introspection settings");
        let resource = ProtectedResource::opaque_builder(McpUrl::parse(mcp_url).unwrap(), verifier)
            .required_scopes(["mcp:tools"])
            .build()
            .expect("an opaque-only resource");
        scalekit_server::server().auth(resource)
    })
    .await
}

#[tokio::test]
async fn an_active_opaque_token_passes_end_to_end() {
    let endpoint = Endpoint::default();
    let server = serve(start_endpoint(endpoint.clone()).await).await;

    let metadata: Value = server
        .http
        .get(server.metadata_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["authorization_servers"], json!([ISSUER]));
    assert_eq!(metadata["resource"], server.mcp_url.as_str());

    let client = connect(&server.mcp_url, Some(ACTIVE))
        .await
        .expect("the rmcp client connects with an active opaque token");
    let result = client
        .call_tool(CallToolRequestParams::new("inspect_token"))
        .await
        .expect("tools/call");
    let claims = result.structured_content.expect("claims");
    assert_eq!(claims["sub"], "usr_opaque");
    assert_eq!(claims["iss"], ISSUER);
    client.cancel().await.ok();
    assert!(endpoint.requests.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn an_inactive_opaque_token_is_a_401() {
    let endpoint = Endpoint::default();
    let server = serve(start_endpoint(endpoint.clone()).await).await;
    let response = server.initialize(Some(REVOKED)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with(
            r#"Bearer error="invalid_token", error_description="token is not active""#
        ),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!(r#"resource_metadata="{}""#, server.metadata_url())),
        "{challenge}"
    );
    // With no JWT verifier, a JWT-shaped token is introspected too (not
    // refused as malformed): the authorization server decides.
    let before = endpoint.requests.load(Ordering::SeqCst);
    let jwt_shaped =
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJpc3MiOiJodHRwczovL2lkLmV4YW1wbGUuY29tIn0.c2ln";
    let response = server.initialize(Some(jwt_shaped)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    assert!(challenge.contains("token is not active"), "{challenge}");
    assert_eq!(endpoint.requests.load(Ordering::SeqCst), before + 1);
    // No token at all is still the challenge without an error.
    let response = server.initialize(None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    assert!(!challenge.contains("error="), "{challenge}");
}

#[tokio::test]
async fn an_introspection_endpoint_that_is_down_is_a_503_not_an_accept() {
    let server = serve(dead_endpoint().await).await;
    let response = server.initialize(Some(ACTIVE)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(
        body["error_description"],
        "the authorization server could not be reached to check the token; retry later"
    );
}
