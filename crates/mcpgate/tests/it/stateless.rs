//! MCP 2026-07-28 on the wire: each POST is self-contained (no `initialize`,
//! no `Mcp-Session-Id`), carries `Mcp-Method`/`Mcp-Name` and its protocol
//! version, and is authenticated on its own — next to the session-era
//! revisions on the same endpoint.

use http::{StatusCode, header};
use serde_json::{Value, json};

use crate::support::*;

const STATELESS: &str = "2026-07-28";

/// A 2026-07-28 request as the official Python client sends it.
fn stateless(
    server: &Running,
    token: Option<&str>,
    method: &str,
    name: Option<&str>,
    params: Value,
) -> reqwest::RequestBuilder {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS,
        "io.modelcontextprotocol/clientInfo": {"name": "mcpgate-tests", "version": "0.0.0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let mut request = server
        .post(token)
        .header("mcp-protocol-version", STATELESS)
        .header("mcp-method", method);
    if let Some(name) = name {
        request = request.header("mcp-name", name);
    }
    request.json(&json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}))
}

async fn call_auth_status(server: &Running, token: Option<&str>) -> reqwest::Response {
    stateless(
        server,
        token,
        "tools/call",
        Some("auth_status"),
        json!({"name": "auth_status", "arguments": {}}),
    )
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn a_stateless_tool_call_is_authenticated_and_answered_without_a_session() {
    let server = TestServer::start().await;
    let claims = server.claims();
    let response = call_auth_status(&server, Some(&server.mint(&claims))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers().get("mcp-session-id").is_none(),
        "a 2026-07-28 request must never get a session"
    );
    let message = read_jsonrpc(response).await;
    assert_eq!(message["id"], 7, "{message}");
    let text = message["result"]["content"][0]["text"].as_str().unwrap();
    let status: Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        status["message"],
        format!("Authenticated as {}", claims["sub"].as_str().unwrap())
    );
}

#[tokio::test]
async fn server_discover_lists_the_revisions_served() {
    let server = TestServer::start().await;
    let response = stateless(
        &server,
        Some(&server.token()),
        "server/discover",
        None,
        json!({}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("mcp-session-id").is_none());
    let message = read_jsonrpc(response).await;
    let versions: Vec<&str> = message["result"]["supportedVersions"]
        .as_array()
        .unwrap_or_else(|| panic!("supportedVersions in {message}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for version in ["2025-03-26", "2025-06-18", "2025-11-25", STATELESS] {
        assert!(versions.contains(&version), "{version} not in {versions:?}");
    }
}

#[tokio::test]
async fn a_stateless_request_without_a_token_is_challenged() {
    let server = TestServer::start().await;
    let response = call_auth_status(&server, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        server.bare_challenge().as_str()
    );
}

#[tokio::test]
async fn a_stateless_request_with_an_expired_token_is_invalid_token() {
    let server = TestServer::start().await;
    let expired = server.mint(&with(server.claims(), "exp", json!(now() - 3600)));
    let response = call_auth_status(&server, Some(&expired)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        server.invalid_token("token expired").as_str()
    );
}

#[tokio::test]
async fn mcp_name_or_method_headers_that_disagree_with_the_body_are_400() {
    let server = TestServer::start().await;
    let token = server.token();
    // Mcp-Name names another tool than the body.
    let response = stateless(
        &server,
        Some(&token),
        "tools/call",
        Some("protected_action"),
        json!({"name": "auth_status", "arguments": {}}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("mcp-session-id").is_none());
    // Mcp-Method names another method than the body.
    let response = server
        .post(Some(&token))
        .header("mcp-protocol-version", STATELESS)
        .header("mcp-method", "tools/list")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "auth_status", "arguments": {},
            "_meta": {"io.modelcontextprotocol/protocolVersion": STATELESS,
                      "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"},
                      "io.modelcontextprotocol/clientCapabilities": {}}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn stateless_requests_do_not_count_against_the_session_cap() {
    // One principal may hold 16 sessions; stateless calls hold none, so 40 of
    // them in flight at once (a slow tool keeps them overlapping) are all served.
    let server = TestServer::start_server(
        StandIn::start().await,
        |p| p,
        |s| {
            s.rate_limit(None)
                .tool("slow", "Answers after a while", || async {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    "done"
                })
        },
    )
    .await;
    let token = server.token();
    let calls = (0..40).map(|_| {
        stateless(
            &server,
            Some(&token),
            "tools/call",
            Some("slow"),
            json!({"name": "slow", "arguments": {}}),
        )
        .send()
    });
    for response in futures::future::join_all(calls).await {
        let response = response.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("mcp-session-id").is_none());
    }
}

#[tokio::test]
async fn session_era_requests_keep_their_binding_next_to_stateless_ones() {
    let server = TestServer::start().await;
    let alice = server.token();
    let session = server.open_session(Some(&alice)).await;
    // Stateless traffic from Alice does not disturb her session...
    assert_eq!(
        call_auth_status(&server, Some(&alice)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        server.list_tools(Some(&alice), &session).await.status(),
        StatusCode::OK
    );
    // ...and another principal still cannot use it.
    let bob = server.mint(&with(server.claims(), "sub", json!("usr_bob")));
    let response = server.list_tools(Some(&bob), &session).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn methods_removed_in_the_stateless_revision_are_404_method_not_found() {
    let server = TestServer::start().await;
    let token = server.token();
    for method in [
        "initialize",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
    ] {
        let response = stateless(&server, Some(&token), method, None, json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], -32601, "{method}: {body}");
    }
    // The same methods still work in a session.
    let session = server.open_session(Some(&token)).await;
    let response = server
        .in_session(Some(&token), &session)
        .json(&json!({"jsonrpc": "2.0", "id": 3, "method": "logging/setLevel", "params": {"level": "info"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_stateless_request_gets_log_messages_only_at_the_level_it_asks_for() {
    let server = TestServer::start_server(
        StandIn::start().await,
        |p| p,
        |s| {
            s.tool(
                "chatty",
                "Logs, then answers",
                |ctx: mcpgate::Context| async move {
                    ctx.debug("a debug line").await;
                    ctx.warning("a warning line").await;
                    "done"
                },
            )
        },
    )
    .await;
    let token = server.token();
    let call = |log_level: Option<&str>| {
        let mut params = json!({"name": "chatty", "arguments": {}});
        let mut request = stateless(
            &server,
            Some(&token),
            "tools/call",
            Some("chatty"),
            params.clone(),
        );
        if let Some(level) = log_level {
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": STATELESS,
                "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/logLevel": level,
            });
            request = server
                .post(Some(&token))
                .header("mcp-protocol-version", STATELESS)
                .header("mcp-method", "tools/call")
                .header("mcp-name", "chatty")
                .json(
                    &json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}),
                );
        }
        request.send()
    };
    let body = call(None).await.unwrap().text().await.unwrap();
    assert!(!body.contains("notifications/message"), "{body}");
    assert!(body.contains("done"), "{body}");
    let body = call(Some("warning")).await.unwrap().text().await.unwrap();
    assert!(body.contains("a warning line"), "{body}");
    assert!(!body.contains("a debug line"), "{body}");
}
