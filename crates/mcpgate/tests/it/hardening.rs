//! Issue 13, the MCP-server side: bounded resources and fail-closed defaults.
//! Each test reproduces one defect of the adversarial review over real HTTP
//! on loopback, with small configured limits so it runs fast. Nothing here
//! asserts on timing: a bound like "closed within 10 s" only keeps a broken
//! build from hanging the suite.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use http::{HeaderMap, StatusCode, header};
use mcpgate::auth::http::{ProtectedEndpoint, RateLimit, ServeLimits, SessionLimits, serve};
use mcpgate::{Env, McpServer, McpUrl, ScalekitProvider, State};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};

use crate::support::*;

/// Generous upper bound for something that must happen "soon"; only there so
/// a regression fails instead of hanging.
const BOUND: Duration = Duration::from_secs(10);

fn session_not_found() -> Value {
    json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "Session not found"}})
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get(header::RETRY_AFTER)
        .unwrap_or_else(|| panic!("Retry-After on {}", response.status()))
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds")
}

async fn delete_session(server: &Running, token: &str, session: &str) -> StatusCode {
    server
        .http
        .delete(&server.mcp_url)
        .bearer_auth(token)
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", PROTOCOL_VERSION)
        .send()
        .await
        .unwrap()
        .status()
}

/// Reads from `tcp` until the server closes the connection (or resets it);
/// returns what was read. Panics if the connection is still open after [`BOUND`].
async fn read_until_closed(tcp: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let outcome = tokio::time::timeout(BOUND, async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        outcome.is_ok(),
        "connection still open after {BOUND:?}; received {:?}",
        String::from_utf8_lossy(&received)
    );
    received
}

// --- 1. sessions are bounded -------------------------------------------------------

#[tokio::test]
async fn a_principal_cannot_open_sessions_beyond_its_cap_until_it_deletes_one() {
    let server = TestServer::start_server(
        StandIn::start().await,
        |p| p,
        |s| s.session_limits(SessionLimits::default().with_per_principal(2)),
    )
    .await;
    let alice = server.token();
    let first = server.open_session(Some(&alice)).await;
    let _second = server.open_session(Some(&alice)).await;

    let refused = server.initialize(Some(&alice)).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().get("mcp-session-id").is_none());
    assert!((1..=60).contains(&retry_after(&refused)));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32000, "{body}");

    // Another principal is not affected.
    server.open_session(Some(&server.token())).await;

    // Ending a session frees its slot.
    assert_eq!(
        delete_session(&server, &alice, &first).await,
        StatusCode::NO_CONTENT
    );
    server.open_session(Some(&alice)).await;
}

#[tokio::test]
async fn the_server_refuses_sessions_beyond_its_total_with_503() {
    let server = TestServer::start_server(
        StandIn::start().await,
        |p| p,
        |s| s.session_limits(SessionLimits::default().with_total(3)),
    )
    .await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let token = server.token();
        let session = server.open_session(Some(&token)).await;
        open.push((token, session));
    }
    let refused = server.initialize(Some(&server.token())).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!((1..=60).contains(&retry_after(&refused)));

    let (token, session) = &open[0];
    assert_eq!(
        delete_session(&server, token, session).await,
        StatusCode::NO_CONTENT
    );
    server.open_session(Some(&server.token())).await;
}

#[tokio::test]
async fn a_session_that_idles_out_frees_its_slot() {
    let server = TestServer::start_server(
        StandIn::start().await,
        |p| p,
        |s| {
            s.session_limits(SessionLimits::default().with_per_principal(1))
                .session_idle_timeout(Duration::from_secs(2))
        },
    )
    .await;
    let alice = server.token();
    let session = server.open_session(Some(&alice)).await;
    assert_eq!(
        server.initialize(Some(&alice)).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // rmcp closes the idle session; its slot comes back (polled, bounded).
    let reopened = tokio::time::timeout(BOUND, async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let response = server.initialize(Some(&alice)).await;
            if response.status() == StatusCode::OK {
                break;
            }
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        }
    })
    .await;
    assert!(reopened.is_ok(), "slot not freed within {BOUND:?}");
    // The idled-out session is gone for its owner too.
    let response = server.list_tools(Some(&alice), &session).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

// --- 2. slow clients ------------------------------------------------------------------

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let server = Running::start(|url| {
        McpServer::new("slow headers")
            .mcp_url(url)
            .allow_unauthenticated()
            .serve_limits(
                ServeLimits::default().with_header_read_timeout(Duration::from_millis(500)),
            )
    })
    .await;
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    tcp.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    read_until_closed(&mut tcp).await;
}

#[tokio::test]
async fn a_connection_whose_body_stalls_is_answered_408_and_closed() {
    let server = TestServer::start_server(
        StandIn::start().await,
        |p| p,
        |s| {
            s.serve_limits(
                ServeLimits::default().with_body_read_timeout(Duration::from_millis(500)),
            )
        },
    )
    .await;
    let token = server.token();
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Content-Length: 1000\r\n\r\n{{\"jsonrpc\":",
        server.port
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut tcp).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused_until_one_closes() {
    let server = Running::start(|url| {
        McpServer::new("two connections")
            .mcp_url(url)
            .allow_unauthenticated()
            .serve_limits(ServeLimits::default().with_max_connections(2))
    })
    .await;
    let addr = ("127.0.0.1", server.port);
    let mut held = vec![
        TcpStream::connect(addr).await.unwrap(),
        TcpStream::connect(addr).await.unwrap(),
    ];
    // Both are served: each answers a request (and stays open, keep-alive).
    for tcp in &mut held {
        let request = format!(
            "GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
            server.port
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut buf = [0u8; 12];
        tokio::time::timeout(BOUND, tcp.read_exact(&mut buf))
            .await
            .expect("answer in time")
            .unwrap();
        assert_eq!(&buf, b"HTTP/1.1 404");
    }

    let mut third = TcpStream::connect(addr).await.unwrap();
    let refused = read_until_closed(&mut third).await;
    let refused = String::from_utf8_lossy(&refused);
    assert!(
        refused.is_empty() || refused.starts_with("HTTP/1.1 503"),
        "{refused}"
    );

    // Closing one frees its slot (polled: the server notices the close).
    drop(held.pop());
    let served = tokio::time::timeout(BOUND, async {
        loop {
            let response = server.http.get(server.metadata_url()).send().await;
            if let Ok(response) = response {
                return response.status();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("a connection is served again");
    // Unauthenticated server: no metadata document, but an answer.
    assert_eq!(served, StatusCode::NOT_FOUND);
}

#[derive(Clone)]
struct Gate {
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish() {
    let gate = Gate {
        entered: Arc::new(Notify::new()),
        release: Arc::new(Notify::new()),
    };
    let server = Running::start(|url| {
        McpServer::new("drain")
            .mcp_url(url)
            .allow_unauthenticated()
            .with_state(gate.clone())
            .tool(
                "wait",
                "Waits for the test",
                |State(g): State<Gate>| async move {
                    g.entered.notify_one();
                    g.release.notified().await;
                    "done"
                },
            )
    })
    .await;
    let addr = ("127.0.0.1", server.port);
    let session = server.open_session(None).await;
    let call = server
        .in_session(None, &session)
        .json(
            &json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "wait"}}),
        )
        .send();
    let call = tokio::spawn(call);
    tokio::time::timeout(BOUND, gate.entered.notified())
        .await
        .expect("tool entered");

    let (stopped_tx, stopped_rx) = oneshot::channel();
    tokio::spawn(async move {
        let _ = stopped_tx.send(server.shutdown().await);
    });
    // Once the listener is closed, shutdown has begun; the tool finishes
    // then, and its answer still arrives.
    tokio::time::timeout(BOUND, async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("listener closed");
    gate.release.notify_one();
    let response = tokio::time::timeout(BOUND, call)
        .await
        .expect("answer in time")
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(response.status(), StatusCode::OK);
    let message = read_jsonrpc(response).await;
    assert_eq!(message["result"]["content"][0]["text"], "done", "{message}");
    tokio::time::timeout(BOUND, stopped_rx)
        .await
        .expect("server stopped")
        .unwrap()
        .expect("clean shutdown");
}

// --- 3. rate limits -------------------------------------------------------------------

#[tokio::test]
async fn a_principal_over_its_rate_gets_429_with_retry_after() {
    let server = TestServer::start_server(
        StandIn::start().await,
        |p| p,
        |s| s.rate_limit(RateLimit::per_minute(1).burst(4)),
    )
    .await;
    let alice = server.token();
    let session = server.open_session(Some(&alice)).await; // two requests
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = server.list_tools(Some(&alice), &session).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!((1..=60).contains(&retry_after(&response)));
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], -32000, "{body}");
            statuses.push(StatusCode::TOO_MANY_REQUESTS);
            break;
        }
        statuses.push(response.status());
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // Another principal has its own budget.
    server.open_session(Some(&server.token())).await;
}

#[tokio::test]
async fn one_address_is_limited_on_metadata_and_on_refused_requests() {
    let server = TestServer::start_server(
        StandIn::start().await,
        |p| p,
        |s| {
            s.client_rate_limit(RateLimit::per_minute(1).burst(3))
                .rate_limit_loopback(true)
        },
    )
    .await;
    for _ in 0..3 {
        let ok = server.http.get(server.metadata_url()).send().await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }
    let limited = server.http.get(server.metadata_url()).send().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!((1..=60).contains(&retry_after(&limited)));
    assert_eq!(
        limited
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        "*",
        "a browser can read the refusal"
    );
    // The 401 path shares the address's budget.
    let unauthenticated = server.initialize(None).await;
    assert_eq!(unauthenticated.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        unauthenticated
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .is_none()
    );
    // A valid token is limited per principal, not per address.
    server.open_session(Some(&server.token())).await;
}

#[tokio::test]
async fn refused_requests_from_one_address_are_limited_too() {
    let server = TestServer::start_server(
        StandIn::start().await,
        |p| p,
        |s| {
            s.client_rate_limit(RateLimit::per_minute(1).burst(2))
                .rate_limit_loopback(true)
        },
    )
    .await;
    let forged = server.mint(&with(server.claims(), "aud", json!("someone-else")));
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(server.initialize(Some(&forged)).await.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test]
async fn loopback_peers_are_exempt_from_the_address_limit_by_default() {
    let server = TestServer::start_server(
        StandIn::start().await,
        |p| p,
        |s| s.client_rate_limit(RateLimit::per_minute(1).burst(1)),
    )
    .await;
    for _ in 0..5 {
        let ok = server.http.get(server.metadata_url()).send().await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }
}

// --- 6. one authorization server, two issuer forms ----------------------------------------

/// (That unrelated issuers stay different principals is `sessions.rs`'s
/// `same_subject_and_client_from_another_issuer_cannot_use_the_session`.)
#[tokio::test]
async fn both_scalekit_issuer_forms_share_a_session() {
    let server = TestServer::start().await;
    let env_form = server.claims(); // iss = {env}
    let session = server.open_session(Some(&server.mint(&env_form))).await;

    // A refreshed token for the same user and client, in the other accepted form.
    let resource_form = with(
        with(env_form, "iss", json!(server.idp.resource_issuer())),
        "jti",
        json!("tkn_000000000000000002"),
    );
    let response = server
        .list_tools(Some(&server.mint(&resource_form)), &session)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let message = read_jsonrpc(response).await;
    assert!(message["result"]["tools"].is_array(), "{message}");
}

// --- 8. a session id without a binding ------------------------------------------------------

/// A stand-in MCP layer that accepts every session id (as one whose sessions
/// outlive their bindings would) and hands out `sess-N` on initialize,
/// creating each session only when `gate` (if any) lets it.
fn permissive_mcp(gate: Option<Gate>) -> axum::routing::MethodRouter {
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    axum::routing::any(move |headers: HeaderMap| {
        let counter = counter.clone();
        let gate = gate.clone();
        async move {
            let body = axum::Json(json!({"jsonrpc": "2.0", "id": 1, "result": {}}));
            match headers.get("mcp-session-id") {
                Some(_) => body.into_response(),
                None => {
                    let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if let Some(gate) = gate {
                        gate.entered.notify_one();
                        gate.release.notified().await;
                    }
                    ([("mcp-session-id", format!("sess-{n}"))], body).into_response()
                }
            }
        }
    })
}

struct Endpoint {
    base: String,
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl Endpoint {
    async fn start(build: impl FnOnce(&str) -> ProtectedEndpoint) -> Self {
        Self::start_gated(build, None).await
    }

    async fn start_gated(
        build: impl FnOnce(&str) -> ProtectedEndpoint,
        gate: Option<Gate>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let router: Router = build(&format!("{base}/mcp"))
            .into_router(permissive_mcp(gate))
            .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve(listener, router, ServeLimits::default(), async {
            let _ = stopped.await;
        }));
        Self {
            base,
            http: http_client(),
            _stop: stop,
        }
    }

    async fn post(&self, token: Option<&str>, session: Option<&str>) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/mcp", self.base))
            .header(header::CONTENT_TYPE, "application/json")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.send().await.unwrap()
    }
}

#[tokio::test]
async fn with_auth_a_session_id_without_a_binding_is_refused_not_adopted() {
    let idp = StandIn::start().await;
    let endpoint = Endpoint::start(|url| {
        ProtectedEndpoint::new(idp.provider(url).build().unwrap())
            .session_binding_ttl(Duration::from_millis(300))
    })
    .await;
    let mcp_url = format!("{}/mcp", endpoint.base);
    let token = idp.mint(&idp.user_claims(&mcp_url));

    // Never handed out here: refused, though the MCP layer would take it.
    let unknown = endpoint.post(Some(&token), Some("sess-999")).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(unknown.json::<Value>().await.unwrap(), session_not_found());

    // Handed out, then its binding expires: refused as well.
    let created = endpoint.post(Some(&token), None).await;
    assert_eq!(created.status(), StatusCode::OK);
    let session = created.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        endpoint.post(Some(&token), Some(&session)).await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let expired = endpoint.post(Some(&token), Some(&session)).await;
    assert_eq!(expired.status(), StatusCode::NOT_FOUND);
    assert_eq!(expired.json::<Value>().await.unwrap(), session_not_found());
}

#[tokio::test]
async fn a_session_created_for_a_client_that_left_is_still_bound_and_counted() {
    let idp = StandIn::start().await;
    let gate = Gate {
        entered: Arc::new(Notify::new()),
        release: Arc::new(Notify::new()),
    };
    let endpoint = Endpoint::start_gated(
        |url| {
            ProtectedEndpoint::new(idp.provider(url).build().unwrap())
                .session_limits(SessionLimits::default().with_per_principal(1))
        },
        Some(gate.clone()),
    )
    .await;
    let mcp_url = format!("{}/mcp", endpoint.base);
    let token = idp.mint(&idp.user_claims(&mcp_url));

    // The client asks for a session and hangs up while it is being created.
    let abandoned = {
        let http = endpoint.http.clone();
        let (url, token) = (mcp_url.clone(), token.clone());
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(token)
                .header(header::CONTENT_TYPE, "application/json")
                .body("{}")
                .send()
                .await
        })
    };
    tokio::time::timeout(BOUND, gate.entered.notified())
        .await
        .expect("session creation started");
    abandoned.abort();
    let _ = abandoned.await;
    gate.release.notify_one();

    // The session the MCP layer created anyway is its creator's (polled: it
    // is bound as soon as the layer answers), and it fills the creator's slot.
    let bound = tokio::time::timeout(BOUND, async {
        while endpoint.post(Some(&token), Some("sess-0")).await.status() != StatusCode::OK {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(bound.is_ok(), "the abandoned session was never bound");
    assert_eq!(
        endpoint.post(Some(&token), None).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn without_auth_the_mcp_layer_decides_about_unknown_sessions() {
    let endpoint =
        Endpoint::start(|url| ProtectedEndpoint::unauthenticated(McpUrl::parse(url).unwrap()))
            .await;
    // No principal to own a session: the MCP layer's answer stands
    // (rmcp's own 404 for the real server, this stub's 200 here).
    let response = endpoint.post(None, Some("sess-999")).await;
    assert_eq!(response.status(), StatusCode::OK);
}

// --- 9. the environment URL ----------------------------------------------------------------

#[test]
fn a_plain_http_environment_url_off_loopback_is_refused() {
    const MCP: &str = "https://mcp.example.com/mcp";
    let error = ScalekitProvider::new("http://acme.scalekit.example", "res_1", MCP)
        .build()
        .expect_err("plain http off loopback");
    let text = error.to_string();
    assert!(text.starts_with("environment_url"), "{text}");
    assert!(text.contains("allow_insecure_http"), "{text}");

    // From the environment, the error names the variable.
    let env = Env::from_pairs([
        ("SCALEKIT_ENVIRONMENT_URL", "http://10.0.0.5:8080"),
        ("SCALEKIT_RESOURCE_ID", "res_1"),
        ("MCP_URL", MCP),
    ]);
    let error = ScalekitProvider::from_vars(&env)
        .unwrap()
        .expect("a provider")
        .build()
        .expect_err("plain http off loopback");
    assert!(
        error.to_string().starts_with("SCALEKIT_ENVIRONMENT_URL"),
        "{error}"
    );

    // Loopback stays allowed (`mcpgate dev`), and so does an explicit choice.
    for loopback in [
        "http://127.0.0.1:9000",
        "http://localhost:9000",
        "http://[::1]:9000",
    ] {
        ScalekitProvider::new(loopback, "res_1", MCP)
            .build()
            .unwrap_or_else(|e| panic!("{loopback}: {e}"));
    }
    ScalekitProvider::new("http://acme.scalekit.example", "res_1", MCP)
        .allow_insecure_http(true)
        .build()
        .expect("explicitly allowed");
    ScalekitProvider::new("https://acme.scalekit.example", "res_1", MCP)
        .build()
        .expect("https");
}

// --- 10. JSON-RPC errors ------------------------------------------------------------------

#[tokio::test]
async fn a_body_that_is_not_json_is_a_parse_error() {
    let server = TestServer::start().await;
    let token = server.token();
    let session = server.open_session(Some(&token)).await;

    let response = server
        .in_session(Some(&token), &session)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("a JSON-RPC body");
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["id"], Value::Null);
    assert_eq!(body["error"]["code"], -32700, "{body}");

    // JSON that is no JSON-RPC message is an invalid request.
    let response = server
        .in_session(Some(&token), &session)
        .body(r#"{"jsonrpc":"2.0","id":9,"method":5}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("a JSON-RPC body");
    assert_eq!(body["error"]["code"], -32600, "{body}");
    assert_eq!(body["id"], 9);

    // A wrong Content-Type is still 415.
    let response = server
        .http
        .post(&server.mcp_url)
        .bearer_auth(&token)
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(header::CONTENT_TYPE, "text/plain")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", PROTOCOL_VERSION)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn params_of_the_wrong_type_are_invalid_params_not_an_unknown_method() {
    let server = TestServer::start().await;
    let token = server.token();
    let session = server.open_session(Some(&token)).await;
    for params in [
        json!({"name": "auth_status", "arguments": "not an object"}),
        json!({"name": 42}),
    ] {
        let response = server
            .in_session(Some(&token), &session)
            .json(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params}))
            .send()
            .await
            .unwrap();
        let message = read_jsonrpc(response).await;
        assert_eq!(message["id"], 3, "{message}");
        assert_eq!(message["error"]["code"], -32602, "{params}: {message}");
    }
    // A method nobody implements is still -32601.
    let response = server
        .in_session(Some(&token), &session)
        .json(&json!({"jsonrpc": "2.0", "id": 4, "method": "no/such/method"}))
        .send()
        .await
        .unwrap();
    let message = read_jsonrpc(response).await;
    assert_eq!(message["error"]["code"], -32601, "{message}");
}
