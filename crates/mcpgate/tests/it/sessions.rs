//! Sessions are bound to the principal (issuer, subject, client id) that
//! created them; anyone else presenting the id is told it does not exist.

use http::{StatusCode, header};
use mcpgate::jwks::JwksCache;
use mcpgate::verify::{JwtVerifier, SigningAlgorithm, VerifierSettings};
use mcpgate::{McpUrl, ProtectedResource};
use serde_json::{Value, json};

use crate::support::*;

fn session_not_found() -> Value {
    json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "Session not found"}})
}

async fn assert_session_not_found(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    let body: Value = response.json().await.expect("JSON-RPC body");
    assert_eq!(body, session_not_found());
}

async fn assert_tools_listed(server: &Running, token: &str, session: &str) {
    let response = server.list_tools(Some(token), session).await;
    assert_eq!(response.status(), StatusCode::OK);
    let message = read_jsonrpc(response).await;
    assert_eq!(
        message["result"]["tools"].as_array().map(Vec::len),
        Some(3),
        "{message}"
    );
}

#[tokio::test]
async fn another_user_with_a_valid_token_cannot_use_a_session() {
    let server = TestServer::start().await;
    let alice = server.token();
    let session = server.open_session(Some(&alice)).await;
    assert_tools_listed(&server, &alice, &session).await;

    let bob = server.token(); // a different usr_… sub, valid in every other way
    assert_session_not_found(server.list_tools(Some(&bob), &session).await).await;

    // Alice keeps working in her session.
    assert_tools_listed(&server, &alice, &session).await;
}

#[tokio::test]
async fn same_user_through_another_client_cannot_use_the_session() {
    let server = TestServer::start().await;
    let claims = server.claims();
    let session = server.open_session(Some(&server.mint(&claims))).await;

    let other_client = with(claims.clone(), "client_id", json!("skc_999999999999999999"));
    assert_session_not_found(
        server
            .list_tools(Some(&server.mint(&other_client)), &session)
            .await,
    )
    .await;

    // A fresh token for the same user and client (new jti, new exp) is the owner.
    let renewed = with(
        with(claims, "jti", json!("tkn_000000000000000001")),
        "exp",
        json!(now() + 7200),
    );
    assert_tools_listed(&server, &server.mint(&renewed), &session).await;
}

/// The issuer is part of the owner: two issuers this server trusts may both
/// have a `usr_1` using client `skc_1`, and they are not the same caller.
#[tokio::test]
async fn same_subject_and_client_from_another_issuer_cannot_use_the_session() {
    let idp = StandIn::start().await;
    let issuer_a = idp.url().to_owned();
    let issuer_b = "https://unrelated-issuer.example.com".to_owned();
    // Both issuers trusted, both signing with the stand-in's keys.
    let server = Running::start(|mcp_url| {
        let verifier = JwtVerifier::new(
            JwksCache::new(format!("{}/keys", idp.url()), test_jwks_config()),
            VerifierSettings::new(
                [issuer_a.clone(), issuer_b.clone()],
                [mcp_url],
                [SigningAlgorithm::Rs256],
            ),
        )
        .expect("valid settings");
        let resource = ProtectedResource::builder(McpUrl::parse(mcp_url).unwrap(), verifier)
            .authorization_server(&issuer_a)
            .build()
            .expect("valid resource");
        scalekit_server::server().auth(resource)
    })
    .await;
    let from_a = with(idp.user_claims(&server.mcp_url), "iss", json!(issuer_a));
    let from_b = with(from_a.clone(), "iss", json!(issuer_b));
    let (token_a, token_b) = (idp.mint(&from_a), idp.mint(&from_b));
    let (mut claims_a, mut claims_b) = (payload_of(&token_a), payload_of(&token_b));
    assert_ne!(claims_a["iss"], claims_b["iss"]);
    claims_a.as_object_mut().unwrap().remove("iss");
    claims_b.as_object_mut().unwrap().remove("iss");
    assert_eq!(claims_a, claims_b, "the tokens differ only in `iss`");

    // Issuer B's token is valid here: it opens a session of its own.
    let own = server.open_session(Some(&token_b)).await;
    assert_tools_listed(&server, &token_b, &own).await;

    let session = server.open_session(Some(&token_a)).await;
    assert_session_not_found(server.list_tools(Some(&token_b), &session).await).await;
    // The owner keeps working in the session.
    assert_tools_listed(&server, &token_a, &session).await;
}

#[tokio::test]
async fn machine_client_cannot_use_a_user_session() {
    let server = TestServer::start().await;
    let user = server.claims();
    let session = server.open_session(Some(&server.mint(&user))).await;
    // The machine token's sub is the user's client id: still not the owner.
    let mut machine = server.idp.machine_claims(&server.mcp_url, &["todo:read"]);
    machine["sub"] = user["client_id"].clone();
    machine["client_id"] = user["client_id"].clone();
    assert_session_not_found(
        server
            .list_tools(Some(&server.mint(&machine)), &session)
            .await,
    )
    .await;
}

#[tokio::test]
async fn another_user_cannot_delete_a_session() {
    let server = TestServer::start().await;
    let alice = server.token();
    let session = server.open_session(Some(&alice)).await;
    let bob = server.token();
    let response = server
        .http
        .delete(&server.mcp_url)
        .bearer_auth(&bob)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", PROTOCOL_VERSION)
        .send()
        .await
        .unwrap();
    assert_session_not_found(response).await;
    assert_tools_listed(&server, &alice, &session).await;
}

#[tokio::test]
async fn foreign_session_is_indistinguishable_from_an_unknown_one() {
    let server = TestServer::start().await;
    let alice = server.token();
    let session = server.open_session(Some(&alice)).await;
    let bob = server.token();

    let foreign = server.list_tools(Some(&bob), &session).await;
    let unknown = server
        .list_tools(Some(&bob), "c0ffee00-0000-4000-8000-000000000000")
        .await;
    assert_eq!(foreign.status(), unknown.status());
    assert_eq!(
        foreign.headers().get(header::CONTENT_TYPE),
        unknown.headers().get(header::CONTENT_TYPE),
        "same content type"
    );
    assert_eq!(
        foreign.text().await.unwrap(),
        unknown.text().await.unwrap(),
        "same body"
    );
}

#[tokio::test]
async fn owner_can_delete_and_the_binding_goes_with_the_session() {
    let server = TestServer::start().await;
    let alice = server.token();
    let session = server.open_session(Some(&alice)).await;
    let response = server
        .http
        .delete(&server.mcp_url)
        .bearer_auth(&alice)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", PROTOCOL_VERSION)
        .send()
        .await
        .unwrap();
    // 204, not rmcp's 202: the Python SDK treats anything but 200/204 as a
    // failed termination.
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The session is gone for everyone, its owner included.
    assert_session_not_found(server.list_tools(Some(&alice), &session).await).await;
}
