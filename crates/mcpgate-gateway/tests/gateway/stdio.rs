//! A stdio upstream behind the gateway: forwarding, per-principal isolation,
//! the shared mode, crashes and the child cap.

use mcpgate_gateway::{GatewayConfig, Isolation};

use crate::support::{Running, call_text, stdio_upstream};

#[tokio::test]
async fn tools_are_listed_and_called_through_the_gateway() {
    let gw = Running::start(GatewayConfig::new(stdio_upstream())).await;
    let client = gw.client("alice").await;
    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for expected in ["pid", "incr", "crash", "progress"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert_eq!(call_text(&client, "incr").await.unwrap(), "1");
    assert_eq!(call_text(&client, "incr").await.unwrap(), "2");
    // The server name is the upstream's.
    let info = client.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("stdio fixture")
    );
    drop(client);
    gw.stop().await;
}

#[tokio::test]
async fn each_principal_gets_its_own_child_and_state() {
    let gw = Running::start(GatewayConfig::new(stdio_upstream())).await;
    let alice = gw.client("alice").await;
    let bob = gw.client("bob").await;
    let alice_pid = call_text(&alice, "pid").await.unwrap();
    let bob_pid = call_text(&bob, "pid").await.unwrap();
    assert_ne!(alice_pid, bob_pid, "two principals share a child");
    assert_eq!(gw.monitor.live_upstreams(), 2);
    assert_eq!(call_text(&alice, "incr").await.unwrap(), "1");
    assert_eq!(call_text(&alice, "incr").await.unwrap(), "2");
    // Bob's counter is his own.
    assert_eq!(call_text(&bob, "incr").await.unwrap(), "1");
    // A second session of the same principal reaches the same child.
    let alice_again = gw.client("alice").await;
    assert_eq!(call_text(&alice_again, "pid").await.unwrap(), alice_pid);
    assert_eq!(call_text(&alice_again, "incr").await.unwrap(), "3");
    drop((alice, bob, alice_again));
    gw.stop().await;
}

#[tokio::test]
async fn shared_mode_uses_one_child_for_everyone() {
    let gw =
        Running::start(GatewayConfig::new(stdio_upstream()).isolation(Isolation::Shared)).await;
    let alice = gw.client("alice").await;
    let bob = gw.client("bob").await;
    assert_eq!(
        call_text(&alice, "pid").await.unwrap(),
        call_text(&bob, "pid").await.unwrap()
    );
    assert_eq!(call_text(&alice, "incr").await.unwrap(), "1");
    assert_eq!(call_text(&bob, "incr").await.unwrap(), "2");
    assert_eq!(gw.monitor.live_upstreams(), 1);
    drop((alice, bob));
    gw.stop().await;
}

#[tokio::test]
async fn a_crash_fails_only_its_call_and_the_child_restarts() {
    let gw = Running::start(GatewayConfig::new(stdio_upstream())).await;
    let alice = gw.client("alice").await;
    let bob = gw.client("bob").await;
    let alice_pid = call_text(&alice, "pid").await.unwrap();
    let bob_pid = call_text(&bob, "pid").await.unwrap();

    // The crashing call gets a JSON-RPC error, not a hang.
    let error = call_text(&alice, "crash")
        .await
        .expect_err("a crashed call fails");
    assert!(error.contains("upstream MCP server exited"), "{error}");

    // Bob's child is untouched.
    assert_eq!(call_text(&bob, "pid").await.unwrap(), bob_pid);
    // Alice's next call starts a new child.
    let restarted = call_text(&alice, "pid")
        .await
        .expect("restarted on the next request");
    assert_ne!(restarted, alice_pid);
    assert_eq!(
        call_text(&alice, "incr").await.unwrap(),
        "1",
        "a fresh process"
    );
    drop((alice, bob));
    gw.stop().await;
}

#[tokio::test]
async fn beyond_the_child_cap_a_new_principal_gets_503_with_retry_after() {
    let gw = Running::start(GatewayConfig::new(stdio_upstream()).max_children(1)).await;
    let alice = gw.client("alice").await;
    call_text(&alice, "pid").await.unwrap();

    let response = reqwest::Client::new()
        .post(&gw.mcp_url)
        .bearer_auth(gw.token("bob"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_eq!(gw.monitor.live_upstreams(), 1);

    // The principal that has a child keeps being served.
    assert_eq!(call_text(&alice, "incr").await.unwrap(), "1");
    drop(alice);
    gw.stop().await;
}

#[tokio::test]
async fn progress_reaches_the_caller_under_its_own_token() {
    use std::sync::{Arc, Mutex};

    use rmcp::model::{
        CallToolRequestParams, ClientRequest, ProgressNotificationParam, ProgressToken, Request,
        ServerResult,
    };
    use rmcp::service::{NotificationContext, PeerRequestOptions};
    use rmcp::{ClientHandler, RoleClient, ServiceExt};

    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<ProgressNotificationParam>>>);
    impl ClientHandler for Recorder {
        async fn on_progress(
            &self,
            params: ProgressNotificationParam,
            _: NotificationContext<RoleClient>,
        ) {
            self.0.lock().unwrap().push(params);
        }
    }

    let gw = Running::start(GatewayConfig::new(stdio_upstream())).await;
    let config =
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            gw.mcp_url.as_str(),
        )
        .auth_header(gw.token("alice"));
    let recorder = Recorder::default();
    let client = recorder
        .clone()
        .serve(rmcp::transport::StreamableHttpClientTransport::from_config(
            config,
        ))
        .await
        .unwrap();
    let handle = client
        .send_request_with_option(
            ClientRequest::CallToolRequest(Request::new(CallToolRequestParams::new("progress"))),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    let token: ProgressToken = handle.progress_token.clone();
    let result = crate::support::guard("progress call", handle.await_response())
        .await
        .unwrap();
    let ServerResult::CallToolResult(result) = result else {
        panic!("{result:?}")
    };
    assert_eq!(crate::support::text_of(&result), "finished");
    let seen = recorder.0.lock().unwrap().clone();
    assert!(!seen.is_empty(), "no progress relayed");
    assert!(seen.iter().all(|p| p.progress_token == token), "{seen:?}");
    assert!(
        seen.iter().any(|p| p.message.as_deref() == Some("half")),
        "{seen:?}"
    );
    drop(client);
    gw.stop().await;
}
