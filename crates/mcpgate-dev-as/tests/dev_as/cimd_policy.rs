//! Where the server may fetch Client ID Metadata Documents from, and what it
//! tells the client when it cannot. Everything here listens on 127.0.0.1; the
//! "not a public address" cases use names and addresses that are loopback, so
//! nothing would leave the machine even if a check were missing. (Private
//! ranges such as 10.0.0.0/8 are covered by the unit tests in `src/cimd.rs`,
//! against a fake network that is never contacted.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::routing::get;
use axum::serve::ListenerExt;
use mcpgate_dev_as::{DevAuthServer, RateLimit, RateLimits};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Fixture, REDIRECT, config, pkce, start, start_with};

/// What the client is told whenever a document cannot be used.
const GENERIC: &str = "its client metadata document could not be retrieved or is not valid";

fn document(url: &str) -> Value {
    json!({
        "client_id": url,
        "client_name": "Document Client",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
    })
}

/// A server on 127.0.0.1 (its routes built from its port) that counts the TCP
/// connections it accepts. Returns the port and the counter.
async fn counting_server(app: impl FnOnce(u16) -> axum::Router) -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = app(port);
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    let listener = listener.tap_io(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, connections)
}

/// Serves a valid document for `http://127.0.0.1:{port}/client.json`.
async fn document_server() -> (u16, Arc<AtomicUsize>) {
    counting_server(|port| {
        let body = document(&format!("http://127.0.0.1:{port}/client.json"));
        axum::Router::new().route("/client.json", get(move || async move { Json(body) }))
    })
    .await
}

/// The page and the token endpoint's answer for `client_id`; both must refuse.
async fn assert_refused_generically(f: &Fixture, client_id: &str) {
    let (_, challenge) = pkce();
    let page = f
        .authorize(&Fixture::auth_params(client_id, &challenge, "openid"))
        .await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST, "{client_id}");
    assert!(page.headers().get("location").is_none());
    let html = page.text().await.unwrap();
    assert!(!html.contains("csrf_token"), "{client_id}");
    assert!(html.contains(GENERIC), "{client_id}: {html}");

    let (status, body, _) = f
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", "x"),
            ("code_verifier", &"v".repeat(43)),
        ])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{client_id}: {body}");
    assert_eq!(body["error"], "invalid_client");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("client {client_id}: {GENERIC}")),
        "{description}"
    );
}

#[tokio::test]
async fn loopback_documents_are_fetched_only_from_configured_hosts() {
    let (port, connections) = document_server().await;
    let client_id = format!("http://127.0.0.1:{port}/client.json");

    // Not configured: refused without a single connection to the document server.
    let f = start().await;
    let (_, challenge) = pkce();
    let page = f
        .authorize(&Fixture::auth_params(&client_id, &challenge, "openid"))
        .await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(!page.text().await.unwrap().contains("csrf_token"));
    assert_eq!(connections.load(Ordering::SeqCst), 0);

    // Configured: the same document works.
    let f = start_with(config().with_cimd_loopback_hosts([format!("127.0.0.1:{port}")])).await;
    let page = f
        .authorize(&Fixture::auth_params(&client_id, &challenge, "openid"))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Document Client"));
    assert!(connections.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn names_and_addresses_that_are_loopback_are_refused_before_connecting() {
    let (port, connections) = document_server().await;
    let f = start().await;
    for client_id in [
        format!("https://localhost:{port}/client.json"),
        format!("https://127.0.0.1:{port}/client.json"),
        format!("https://127.0.0.2:{port}/client.json"),
        format!("https://[::ffff:7f00:1]:{port}/client.json"),
    ] {
        assert_refused_generically(&f, &client_id).await;
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "the refusal must come before any connection"
    );
}

#[tokio::test]
async fn fetch_failures_are_not_echoed_to_the_client() {
    // A configured host that answers 500 with a telling body…
    let (failing, _) = counting_server(|_| {
        axum::Router::new().route(
            "/client.json",
            get(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal-service-banner v1.2.3",
                )
            }),
        )
    })
    .await;
    // …one that serves more than the size cap…
    let (huge, _) = counting_server(|_| {
        axum::Router::new().route("/client.json", get(|| async { "x".repeat(100 * 1024) }))
    })
    .await;
    // …and a configured port where nothing listens.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let f = start_with(config().with_cimd_loopback_hosts([
        format!("127.0.0.1:{failing}"),
        format!("127.0.0.1:{huge}"),
        format!("127.0.0.1:{closed}"),
    ]))
    .await;
    for port in [failing, huge, closed] {
        let client_id = format!("http://127.0.0.1:{port}/client.json");
        assert_refused_generically(&f, &client_id).await;
        let (status, body, _) = f
            .token(&[
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
            ])
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let text = body.to_string().to_lowercase();
        for leak in [
            "http 500",
            "banner",
            "refused",
            "error sending",
            "os error",
            "larger than",
            "connect",
        ] {
            assert!(!text.contains(leak), "{leak:?} leaked: {text}");
        }
    }
}

#[tokio::test]
async fn the_server_never_fetches_its_own_urls() {
    // Listed as a loopback dev host, the server's own address is still refused.
    // Proof that no request reached it: the authorization endpoint's rate limit
    // has room for exactly two requests from this test, and a self-fetch of
    // `/oauth/authorize` would take the second.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own = listener.local_addr().unwrap();
    let mut limits = RateLimits::unlimited();
    limits.authorize = Some(RateLimit::new(2, Duration::from_secs(3600)));
    let server = DevAuthServer::start(
        listener,
        config()
            .with_cimd_loopback_hosts([own.to_string()])
            .with_rate_limits(limits),
    )
    .await
    .unwrap();
    let f = Fixture {
        server,
        http: crate::common::http_client(),
    };
    let client_id = format!("http://{own}/oauth/authorize");
    let (_, challenge) = pkce();
    for _ in 0..2 {
        let page = f
            .authorize(&Fixture::auth_params(&client_id, &challenge, "openid"))
            .await;
        assert_eq!(page.status(), StatusCode::BAD_REQUEST);
        assert!(page.text().await.unwrap().contains(GENERIC));
    }
}
