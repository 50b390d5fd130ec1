//! Protocol version negotiation in the session era (`initialize` plus
//! `Mcp-Session-Id`): each revision the server implements is answered as
//! asked; a newer one gets the newest the server has. Later requests carry
//! the negotiated version in `MCP-Protocol-Version`.
//!
//! 2025-11-25 is the newest revision with `initialize`, so a client asking
//! for anything later in the handshake is answered with it. The stateless
//! 2026-07-28 revision has no handshake: its negotiation (`server/discover`,
//! the version in each request) is tested in `stateless.rs`.

use http::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// The newest revision the server implements.
const NEWEST: &str = "2025-11-25";

/// Opens a session asking for `requested`; returns the version the server
/// answered with and the session id.
async fn initialize_with(server: &TestServer, token: &str, requested: &str) -> (String, String) {
    let response = server
        .post(Some(token))
        .json(&json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": requested,
                "capabilities": {},
                "clientInfo": {"name": "mcpgate-tests", "version": "0.0.0"},
            },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "initialize {requested}");
    let session = response
        .headers()
        .get("mcp-session-id")
        .unwrap_or_else(|| panic!("Mcp-Session-Id for {requested}"))
        .to_str()
        .unwrap()
        .to_owned();
    let message = read_jsonrpc(response).await;
    let negotiated = message["result"]["protocolVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("a protocolVersion for {requested}: {message}"))
        .to_owned();
    (negotiated, session)
}

/// A request in `session` carrying `MCP-Protocol-Version: version`.
async fn send(
    server: &TestServer,
    token: &str,
    session: &str,
    version: &str,
    body: Value,
) -> reqwest::Response {
    server
        .post(Some(token))
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", version)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Finishes the handshake and lists the tools with the negotiated version.
async fn assert_session_works(server: &TestServer, token: &str, session: &str, version: &str) {
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = send(server, token, session, version, initialized).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED, "{version}");
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let response = send(server, token, session, version, list).await;
    assert_eq!(response.status(), StatusCode::OK, "{version}");
    let message = read_jsonrpc(response).await;
    assert_eq!(
        message["result"]["tools"].as_array().map(Vec::len),
        Some(3),
        "{version}: {message}"
    );
}

#[tokio::test]
async fn each_supported_revision_is_negotiated_as_asked() {
    let server = TestServer::start().await;
    let token = server.token();
    for version in ["2024-11-05", "2025-03-26", "2025-06-18", NEWEST] {
        let (negotiated, session) = initialize_with(&server, &token, version).await;
        assert_eq!(negotiated, version);
        assert_session_works(&server, &token, &session, &negotiated).await;
    }
}

#[tokio::test]
async fn a_newer_revision_is_answered_with_the_newest_supported() {
    let server = TestServer::start().await;
    let token = server.token();
    let (negotiated, session) = initialize_with(&server, &token, "2099-01-01").await;
    assert_eq!(negotiated, NEWEST);
    assert_session_works(&server, &token, &session, &negotiated).await;

    // The header is read, not ignored: a version nobody knows is refused.
    let list = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"});
    let response = send(&server, &token, &session, "2099-01-01", list).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}
