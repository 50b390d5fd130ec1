//! A Streamable HTTP upstream without auth behind the gateway: calls pass,
//! each principal gets its own upstream session, and the caller's token
//! never reaches the upstream.

use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::middleware::Next;
use mcpgate::McpServer;
use mcpgate_gateway::{GatewayConfig, HttpUpstream, Identity, Upstream};
use tokio::net::TcpListener;

use crate::support::{Running, call_text};

/// The headers of every request the upstream received.
pub(crate) type Seen = Arc<Mutex<Vec<http::HeaderMap>>>;

pub(crate) async fn upstream() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://127.0.0.1:{}/mcp", addr.port());
    let app = McpServer::new("http upstream")
        .allow_unauthenticated()
        .mcp_url(url.clone())
        .tool("hello", "Says hello", || async {
            "hello from upstream".to_owned()
        })
        .resource(
            mcpgate::model::Resource::new("docs://motd", "Message of the day"),
            || async { "motd text" },
        )
        .prompt("greet", "Greets", || async { "Say hello." })
        .tool(
            "sample",
            "Asks the client's model",
            |cx: mcpgate::Context| async move {
                match cx.sample("Say something.", 20).await {
                    Ok(text) => format!("sampled: {text}"),
                    Err(e) => format!("sampling failed: {e}"),
                }
            },
        )
        .into_http(Some(addr))
        .unwrap();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let router = app.into_router().layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(request.headers().clone());
                next.run(request).await
            }
        },
    ));
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .ok();
    });
    (url, seen)
}

#[tokio::test]
async fn the_callers_token_never_reaches_an_http_upstream() {
    let (url, seen) = upstream().await;
    let target = HttpUpstream::new(&url)
        .unwrap()
        .header("x-api-key", "gateway-key")
        .unwrap();
    let gw = Running::start(GatewayConfig::new(Upstream::Http(target))).await;
    let alice = gw.client("alice").await;
    assert_eq!(
        call_text(&alice, "hello").await.unwrap(),
        "hello from upstream"
    );
    let bob = gw.client("bob").await;
    assert_eq!(
        call_text(&bob, "hello").await.unwrap(),
        "hello from upstream"
    );

    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    for headers in &seen {
        assert!(
            headers.get("authorization").is_none(),
            "Authorization reached the upstream: {headers:?}"
        );
        assert_eq!(
            headers.get("x-api-key").map(|v| v.to_str().unwrap()),
            Some("gateway-key")
        );
        for value in headers.values() {
            let value = value.to_str().unwrap_or_default();
            assert!(
                !value.contains(&gw.token("alice")[..20]),
                "a token reached the upstream"
            );
        }
    }
    // One upstream session per principal (plus the start-up check's).
    let sessions: std::collections::HashSet<String> = seen
        .iter()
        .filter_map(|h| {
            h.get("mcp-session-id")
                .map(|v| v.to_str().unwrap().to_owned())
        })
        .collect();
    assert!(sessions.len() >= 2, "{sessions:?}");
    assert_eq!(gw.monitor.live_upstreams(), 2);
    drop((alice, bob));
    gw.stop().await;
}

#[tokio::test]
async fn a_request_without_a_token_is_challenged_and_never_forwarded() {
    let (url, seen) = upstream().await;
    let gw = Running::start(GatewayConfig::new(Upstream::Http(
        HttpUpstream::new(&url).unwrap(),
    )))
    .await;
    let before = seen.lock().unwrap().len();
    let response = reqwest::Client::new()
        .post(&gw.mcp_url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ")
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        before,
        "an unauthenticated request reached the upstream"
    );
    gw.stop().await;
}

#[tokio::test]
async fn the_callers_identity_reaches_an_http_upstream_only_as_configured_headers() {
    let (url, seen) = upstream().await;
    let target = HttpUpstream::new(&url)
        .unwrap()
        .identity_header(Identity::Subject, "x-mcp-subject")
        .unwrap();
    let gw = Running::start(GatewayConfig::new(Upstream::Http(target))).await;
    let alice = gw.client("alice").await;
    call_text(&alice, "hello").await.unwrap();
    let bob = gw.client("bob").await;
    call_text(&bob, "hello").await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let subjects: std::collections::HashSet<&str> = seen
        .iter()
        .filter_map(|h| h.get("x-mcp-subject").map(|v| v.to_str().unwrap()))
        .collect();
    assert_eq!(subjects, ["alice", "bob"].into_iter().collect());
    for headers in &seen {
        assert!(headers.get("authorization").is_none(), "{headers:?}");
    }
    drop((alice, bob));
    gw.stop().await;
}

#[test]
fn identity_headers_are_refused_for_a_shared_upstream_and_as_authorization() {
    let shared = GatewayConfig::new(Upstream::Http(
        HttpUpstream::new("http://127.0.0.1:9/mcp")
            .unwrap()
            .identity_header(Identity::Subject, "x-sub")
            .unwrap(),
    ))
    .isolation(mcpgate_gateway::Isolation::Shared);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let error = runtime
        .block_on(mcpgate_gateway::Gateway::start(shared))
        .unwrap_err()
        .to_string();
    assert!(error.contains("per principal"), "{error}");
    let error = HttpUpstream::new("http://127.0.0.1:9/mcp")
        .unwrap()
        .identity_header(Identity::Subject, "Authorization")
        .unwrap_err()
        .to_string();
    assert!(error.contains("never passed on"), "{error}");
}

#[tokio::test]
async fn a_body_that_is_no_json_rpc_is_a_json_rpc_error_and_never_forwarded() {
    let (url, seen) = upstream().await;
    let gw = Running::start(GatewayConfig::new(Upstream::Http(
        HttpUpstream::new(&url).unwrap(),
    )))
    .await;
    let before = seen.lock().unwrap().len();
    for (body, code) in [("{not json", -32700), (r#"{"hello":1}"#, -32600)] {
        let response = reqwest::Client::new()
            .post(&gw.mcp_url)
            .bearer_auth(gw.token("alice"))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let message: serde_json::Value = response.json().await.unwrap();
        assert_eq!(message["error"]["code"], code, "{body}: {message}");
    }
    assert_eq!(seen.lock().unwrap().len(), before);
    gw.stop().await;
}
