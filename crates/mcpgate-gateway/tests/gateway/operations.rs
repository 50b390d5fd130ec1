//! Operations: Prometheus metrics on the admin address (requests by method
//! and outcome, refusals by reason, the upstream latency histogram, live
//! children) and `/readyz` following an HTTP upstream's reachability.

use mcpgate::McpServer;
use mcpgate_auth::http::ProtectedEndpoint;
use mcpgate_auth::{AuthProvider, ScalekitProvider};
use mcpgate_dev_as::{DevAuthServer, DevAuthServerConfig, Storage, TokenRequest};
use mcpgate_gateway::{Gateway, GatewayApp, GatewayConfig, HttpUpstream, Upstream};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use tokio::net::TcpListener;

use crate::support::{guard, stdio_upstream};

/// A gateway with its own authorization server, built here rather than with
/// `support::Running` because these tests need the app before it serves.
struct Started {
    app: GatewayApp,
    mcp_listener: TcpListener,
    mcp_url: String,
    auth: mcpgate_dev_as::DevAuthServerHandle,
}

async fn start(config: GatewayConfig) -> Started {
    let mcp_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let auth_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mcp_url = format!(
        "http://127.0.0.1:{}/mcp",
        mcp_listener.local_addr().unwrap().port()
    );
    let auth = DevAuthServer::start(
        auth_listener,
        DevAuthServerConfig::new(url::Url::parse(&mcp_url).unwrap()).with_storage(Storage::Memory),
    )
    .await
    .expect("dev authorization server");
    let provider = ScalekitProvider::new(
        auth.server().env_url(),
        auth.server().resource_id(),
        mcp_url.as_str(),
    );
    let protection = AuthProvider::build(Box::new(provider)).expect("provider");
    let app = Box::pin(Gateway::start(config))
        .await
        .expect("gateway start")
        .into_http(ProtectedEndpoint::new(protection))
        .expect("gateway app");
    Started {
        app,
        mcp_listener,
        mcp_url,
        auth,
    }
}

/// The value of one sample line (`name{labels} value`) in an exposition.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

async fn post_initialize(http: &reqwest::Client, url: &str, token: Option<&str>) -> u16 {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn metrics_count_calls_refusals_latency_and_children_on_the_admin_address_only() {
    let started = start(GatewayConfig::new(stdio_upstream())).await;
    let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_url = format!("http://{}/metrics", admin_listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let admin = tokio::spawn(
        started
            .app
            .admin()
            .serve(admin_listener, wait(stopped.clone())),
    );
    let mcp_url = started.mcp_url.clone();
    let gateway = tokio::spawn(started.app.serve(started.mcp_listener, wait(stopped)));
    let http = reqwest::Client::new();

    // Two refusals by the guard, for different reasons.
    assert_eq!(post_initialize(&http, &mcp_url, None).await, 401);
    assert_eq!(
        post_initialize(&http, &mcp_url, Some("not-a-jwt")).await,
        401
    );

    // One authenticated call through a stdio child.
    let token = started
        .auth
        .server()
        .mint_token(TokenRequest::user("alice").with_scopes(["openid", "mcp:tools"]))
        .unwrap();
    let config = StreamableHttpClientTransportConfig::with_uri(mcp_url.as_str()).auth_header(token);
    let client = guard(
        "connect",
        ().serve(StreamableHttpClientTransport::from_config(config)),
    )
    .await
    .unwrap();
    guard("pid", client.call_tool(CallToolRequestParams::new("pid")))
        .await
        .unwrap();

    let response = http.get(&metrics_url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    assert_eq!(
        sample(
            &text,
            r#"mcpgate_gateway_requests_total{method="tools/call",outcome="ok"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"mcpgate_gateway_rejections_total{reason="missing_token"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"mcpgate_gateway_rejections_total{reason="invalid_token"}"#
        ),
        1.0
    );
    // Every forwarded request (tools/call, and what the client asked on
    // connecting) was timed; all of them are within the +Inf bucket.
    let count = sample(
        &text,
        "mcpgate_gateway_upstream_request_duration_seconds_count",
    );
    assert!(count >= 1.0, "{text}");
    assert_eq!(
        sample(
            &text,
            r#"mcpgate_gateway_upstream_request_duration_seconds_bucket{le="+Inf"}"#
        ),
        count
    );
    // Alice's own child (the start-up check's process was stopped).
    assert_eq!(
        sample(&text, r#"mcpgate_gateway_live_upstreams{upstream=""}"#),
        1.0
    );

    // No call is waiting for input (no 2026-07-28 round was asked for).
    assert_eq!(sample(&text, "mcpgate_gateway_parked_calls"), 0.0);

    // The metrics are not on the MCP address.
    let origin = mcp_url.trim_end_matches("/mcp");
    let on_mcp = http.get(format!("{origin}/metrics")).send().await.unwrap();
    assert_eq!(on_mcp.status(), 404);

    client.cancel().await.ok();
    stop.send(true).unwrap();
    guard("gateway shutdown", gateway).await.unwrap().unwrap();
    guard("admin shutdown", admin).await.unwrap().unwrap();
}

#[tokio::test]
async fn readyz_follows_the_http_upstreams_reachability() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://127.0.0.1:{}/mcp", addr.port());
    let router = McpServer::new("http upstream")
        .allow_unauthenticated()
        .mcp_url(url.clone())
        .tool("hello", "Says hello", || async { "hello".to_owned() })
        .into_http(Some(addr))
        .unwrap()
        .into_router();
    let upstream = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .ok();
    });

    let started = start(GatewayConfig::new(Upstream::Http(
        HttpUpstream::new(&url).unwrap(),
    )))
    .await;
    let origin = started.mcp_url.trim_end_matches("/mcp").to_owned();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let gateway = tokio::spawn(started.app.serve(started.mcp_listener, async move {
        stopped.await.ok();
    }));
    let http = reqwest::Client::new();
    let readyz = || async {
        let response = http.get(format!("{origin}/readyz")).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };

    let (status, body) = readyz().await;
    assert_eq!(status, 200, "{body}");

    // The upstream goes away (its listener is dropped with the task).
    upstream.abort();
    let _ = upstream.await;
    let (status, body) = readyz().await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not reachable"), "{body}");

    let _ = stop.send(());
    guard("gateway shutdown", gateway).await.unwrap().unwrap();
}
