//! Cancellation, the per-call timeout and idle shutdown, against the stdio
//! fixture. Waits for a state are bounded by the hang guard only; no
//! assertion depends on how long anything took.

use std::sync::Arc;
use std::time::Duration;

use mcpgate_gateway::GatewayConfig;
use rmcp::model::{CallToolRequestParams, ClientRequest, ProgressNotificationParam, Request};
use rmcp::service::{NotificationContext, PeerRequestOptions};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use tokio::sync::Notify;

use crate::support::{Running, call_text, guard, stdio_upstream};

/// Polls `check` until it holds (bounded by the hang guard).
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    guard(what, async {
        while !Box::pin(check()).await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[derive(Clone, Default)]
struct Started(Arc<Notify>);

impl ClientHandler for Started {
    async fn on_progress(&self, _: ProgressNotificationParam, _: NotificationContext<RoleClient>) {
        self.0.notify_one();
    }
}

#[tokio::test]
async fn a_cancelled_call_is_cancelled_upstream() {
    let gw = Running::start(GatewayConfig::new(stdio_upstream())).await;
    let started = Started::default();
    let config =
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            gw.mcp_url.as_str(),
        )
        .auth_header(gw.token("alice"));
    let client = started
        .clone()
        .serve(rmcp::transport::StreamableHttpClientTransport::from_config(
            config,
        ))
        .await
        .unwrap();
    let handle = client
        .send_cancellable_request(
            ClientRequest::CallToolRequest(Request::new(CallToolRequestParams::new("wait"))),
            PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    // The upstream runs the call (its progress came through); now cancel it.
    guard("the wait call to start", started.0.notified()).await;
    handle.cancel(Some("test".to_owned())).await.unwrap();

    let check = gw.client("alice").await;
    eventually("the upstream to see the cancellation", async || {
        call_text(&check, "cancellations").await.unwrap() == "1"
    })
    .await;
    drop((client, check));
    gw.stop().await;
}

#[tokio::test]
async fn a_call_beyond_the_timeout_fails_and_is_cancelled_upstream() {
    let gw =
        Running::start(GatewayConfig::new(stdio_upstream()).call_timeout(Duration::from_secs(1)))
            .await;
    let client = gw.client("alice").await;
    let error = call_text(&client, "wait").await.expect_err("timed out");
    assert!(error.contains("per-call timeout"), "{error}");
    eventually("the upstream to see the cancellation", async || {
        call_text(&client, "cancellations").await.unwrap() == "1"
    })
    .await;
    drop(client);
    gw.stop().await;
}

#[tokio::test]
async fn an_idle_upstream_is_stopped_and_restarted_on_the_next_call() {
    let gw =
        Running::start(GatewayConfig::new(stdio_upstream()).idle_timeout(Duration::from_secs(1)))
            .await;
    let client = gw.client("alice").await;
    let first = call_text(&client, "pid").await.unwrap();
    assert_eq!(gw.monitor.live_upstreams(), 1);
    eventually("the idle upstream to stop", async || {
        gw.monitor.live_upstreams() == 0
    })
    .await;
    let second = call_text(&client, "pid").await.unwrap();
    assert_ne!(first, second, "a new child after the idle stop");
    drop(client);
    gw.stop().await;
}
