//! On-behalf-of tokens for an HTTP upstream (issue 12): the gateway
//! exchanges the caller's token at the dev authorization server (RFC 8693)
//! for one whose audience is the upstream, which is itself protected by a
//! `ScalekitProvider` for its own URL and resource id. The upstream accepts
//! the exchanged token and refuses the caller's; the exchange is cached per
//! principal (token requests counted at the authorization server); an
//! expired caller token is never sent for exchange; a failed exchange is a
//! JSON-RPC error and the upstream never sees the caller's token.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use mcpgate::{AccessToken, McpServer};
use mcpgate_auth::http::ProtectedEndpoint;
use mcpgate_auth::{AuthProvider, ScalekitProvider};
use mcpgate_dev_as::{DevAuthServer, DevAuthServerConfig, IssuerForm, Storage, TokenRequest};
use mcpgate_gateway::{
    Gateway, GatewayConfig, GatewayError, HttpUpstream, TokenExchange, Upstream,
};
use rmcp::ServiceExt;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::{call_text, guard};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The upstream's own resource id: tokens for the gateway do not name it.
const UPSTREAM_RESOURCE_ID: &str = "res_upstream";

struct Setup {
    mcp_url: String,
    upstream_url: String,
    auth: DevAuthServer,
    /// `POST /oauth/token` requests the authorization server received.
    token_requests: Arc<AtomicUsize>,
    /// The `Authorization` header of every request the upstream received.
    upstream_saw: Arc<Mutex<Vec<Option<String>>>>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), GatewayError>>,
}

/// Serves `router` on `listener` with the peer address (the dev
/// authorization server's per-IP limits read it).
fn serve(listener: TcpListener, router: axum::Router) {
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .ok();
    });
}

impl Setup {
    /// `secret`: the client secret the gateway exchanges with (`None`: the
    /// registered one).
    async fn start(secret: Option<&str>) -> Self {
        let gateway_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let auth_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mcp_url = format!(
            "http://127.0.0.1:{}/mcp",
            gateway_listener.local_addr().unwrap().port()
        );
        let upstream_addr = upstream_listener.local_addr().unwrap();
        let upstream_url = format!("http://127.0.0.1:{}/mcp", upstream_addr.port());
        let env_url = format!("http://{}", auth_listener.local_addr().unwrap());

        // The authorization server, counting token requests. Tokens carry
        // the environment URL as `iss`, which the upstream's provider (same
        // environment, its own resource id) accepts too.
        let auth = DevAuthServer::new(
            DevAuthServerConfig::new(url::Url::parse(&mcp_url).unwrap())
                .with_storage(Storage::Memory)
                .with_issuer_form(IssuerForm::Env)
                .with_exchange_audiences([upstream_url.clone()]),
            env_url.clone(),
        )
        .await
        .expect("dev authorization server");
        let token_requests = Arc::new(AtomicUsize::new(0));
        let count = token_requests.clone();
        serve(
            auth_listener,
            auth.router().layer(axum::middleware::from_fn(
                move |request: Request, next: Next| {
                    if request.uri().path() == "/oauth/token" {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    next.run(request)
                },
            )),
        );
        let client = auth
            .register_client(json!({
                "client_name": "mcpgate gateway",
                "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": [GRANT],
            }))
            .expect("register the gateway");
        let client_secret = client.client_secret.clone().expect("confidential");

        // The upstream: its own OAuth, audience = its URL.
        let provider = ScalekitProvider::new(
            env_url.as_str(),
            UPSTREAM_RESOURCE_ID,
            upstream_url.as_str(),
        );
        let app = McpServer::new("obo upstream")
            .auth(provider)
            .mcp_url(upstream_url.clone())
            .tool(
                "whoami",
                "The token the upstream got",
                |t: AccessToken| async move {
                    json!({
                        "sub": t.subject(),
                        "aud": t.audiences(),
                        "act": t.claim("act"),
                    })
                    .to_string()
                },
            )
            .into_http(Some(upstream_addr))
            .unwrap();
        let upstream_saw: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let record = upstream_saw.clone();
        serve(
            upstream_listener,
            app.into_router().layer(axum::middleware::from_fn(
                move |request: Request, next: Next| {
                    let header = request
                        .headers()
                        .get("authorization")
                        .map(|v| v.to_str().unwrap_or("").to_owned());
                    record.lock().unwrap().push(header);
                    next.run(request)
                },
            )),
        );

        let exchange = TokenExchange::discover(
            &env_url,
            client.client_id.clone(),
            secret.unwrap_or(&client_secret),
        )
        .unwrap()
        .resource(upstream_url.clone());
        let target = HttpUpstream::new(&upstream_url)
            .unwrap()
            .on_behalf_of(exchange);
        let gateway = Box::pin(Gateway::start(GatewayConfig::new(Upstream::Http(target))))
            .await
            .expect("gateway start");
        let gateway_provider =
            ScalekitProvider::new(env_url.as_str(), auth.resource_id(), mcp_url.as_str());
        let protection = AuthProvider::build(Box::new(gateway_provider)).expect("provider");
        let app = gateway
            .into_http(ProtectedEndpoint::new(protection))
            .expect("gateway app");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.serve(gateway_listener, async move {
            stopped.await.ok();
        }));
        Self {
            mcp_url,
            upstream_url,
            auth,
            token_requests,
            upstream_saw,
            stop: Some(stop),
            task,
        }
    }

    fn token(&self, subject: &str) -> String {
        self.auth
            .mint_token(TokenRequest::user(subject).with_scopes(["openid", "mcp:tools"]))
            .expect("mint")
    }

    async fn client(&self, token: &str) -> RunningService<RoleClient, ()> {
        let config =
            StreamableHttpClientTransportConfig::with_uri(self.mcp_url.as_str()).auth_header(token);
        guard(
            "connect",
            ().serve(StreamableHttpClientTransport::from_config(config)),
        )
        .await
        .expect("client connects through the gateway")
    }

    fn exchanges(&self) -> usize {
        self.token_requests.load(Ordering::SeqCst)
    }

    /// Whether the upstream ever received `token`.
    fn upstream_saw_token(&self, token: &str) -> bool {
        self.upstream_saw
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .any(|h| h.contains(token))
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        guard("gateway shutdown", self.task).await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn the_upstream_gets_an_exchanged_token_cached_per_principal() {
    let s = Box::pin(Setup::start(None)).await;
    let alice_token = s.token("usr_alice");
    let alice = s.client(&alice_token).await;

    let answer: Value = serde_json::from_str(&call_text(&alice, "whoami").await.unwrap()).unwrap();
    assert_eq!(answer["sub"], "usr_alice");
    assert_eq!(answer["aud"], json!([s.upstream_url]));
    // The gateway's client acted for the user (RFC 8693 `act`).
    assert!(
        answer["act"]["sub"]
            .as_str()
            .is_some_and(|a| a.starts_with("m2m_")),
        "{answer}"
    );
    assert_eq!(s.exchanges(), 1);

    // Cached: more calls of the same principal exchange nothing more.
    call_text(&alice, "whoami").await.unwrap();
    alice.list_all_tools().await.unwrap();
    assert_eq!(s.exchanges(), 1);

    // Another principal gets its own exchange.
    let bob = s.client(&s.token("usr_bob")).await;
    let answer: Value = serde_json::from_str(&call_text(&bob, "whoami").await.unwrap()).unwrap();
    assert_eq!(answer["sub"], "usr_bob");
    assert_eq!(s.exchanges(), 2);

    // Single flight: concurrent first calls of a new principal wait for
    // one exchange.
    let carl = s.client(&s.token("usr_carl")).await;
    let answers = futures::future::join_all((0..8).map(|_| call_text(&carl, "whoami"))).await;
    for answer in answers {
        assert!(answer.unwrap().contains("usr_carl"));
    }
    assert_eq!(s.exchanges(), 3);

    // The caller's own token never reached the upstream, which refuses it.
    assert!(!s.upstream_saw_token(&alice_token));
    let direct = reqwest::Client::new()
        .post(&s.upstream_url)
        .bearer_auth(&alice_token)
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 401);

    drop((alice, bob, carl));
    s.stop().await;
}

#[tokio::test]
async fn an_expired_caller_token_is_not_exchanged() {
    let s = Box::pin(Setup::start(None)).await;
    let expired = s
        .auth
        .mint_token(
            TokenRequest::user("usr_late")
                .with_scopes(["mcp:tools"])
                .with_lifetime(Duration::from_secs(60))
                .with_claim("exp", 1_000_000_000),
        )
        .unwrap();
    let response = reqwest::Client::new()
        .post(&s.mcp_url)
        .bearer_auth(&expired)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "whoami", "arguments": {}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        s.exchanges(),
        0,
        "no exchange was sent for an expired token"
    );
    assert!(s.upstream_saw.lock().unwrap().is_empty());
    s.stop().await;
}

#[tokio::test]
async fn a_failed_exchange_is_an_error_and_never_falls_back_to_the_callers_token() {
    let s = Box::pin(Setup::start(Some("not-the-secret"))).await;
    let token = s.token("usr_carol");
    let carol = s.client(&token).await;
    let error = call_text(&carol, "whoami")
        .await
        .expect_err("no upstream token");
    assert!(error.contains("on-behalf-of"), "{error}");
    assert!(error.contains("invalid_client"), "{error}");
    assert!(s.exchanges() >= 1);
    // The upstream was never contacted, least of all with the caller's token.
    assert!(s.upstream_saw.lock().unwrap().is_empty());
    assert!(!s.upstream_saw_token(&token));
    drop(carol);
    s.stop().await;
}
