//! Per-item policies in the gateway (issue 12): names are the names the
//! client sees (after the mount prefix); a call the caller may not make is
//! answered `403` at the edge (a step-up naming held plus required scopes,
//! or `access_denied` without a scope hint for a claim condition) before
//! the upstream is contacted, in both protocol eras; the merged lists and
//! completions show each caller only what it may use.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::Request;
use axum::middleware::Next;
use mcpgate::McpServer;
use mcpgate::model::{Resource, ResourceTemplate};
use mcpgate_auth::http::ProtectedEndpoint;
use mcpgate_auth::policy::{Policy, PolicySet, PolicySetConfig};
use mcpgate_auth::{AuthProvider, ScalekitProvider};
use mcpgate_dev_as::{
    DevAuthServer, DevAuthServerConfig, DevAuthServerHandle, Storage, TokenRequest,
};
use mcpgate_gateway::{Gateway, GatewayConfig, GatewayError, HttpUpstream, Upstream};
use rmcp::ServiceExt;
use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::{call_text, guard};

/// An upstream MCP server without auth, counting the HTTP requests it gets
/// and the runs of its `delete_all` tool.
struct Counted {
    url: String,
    requests: Arc<AtomicUsize>,
    deletes: Arc<AtomicUsize>,
}

async fn counted_upstream() -> Counted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://127.0.0.1:{}/mcp", addr.port());
    let deletes = Arc::new(AtomicUsize::new(0));
    let runs = deletes.clone();
    let app = McpServer::new("policy upstream")
        .allow_unauthenticated()
        .mcp_url(url.clone())
        .tool("hello", "Says hello", || async { "hello".to_owned() })
        .tool("delete_all", "Deletes everything", move || {
            let runs = runs.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                "deleted".to_owned()
            }
        })
        .prompt("greet", "Greets", || async { "Say hello." })
        .resource(
            Resource::new("docs://motd", "Message of the day"),
            || async { "motd text" },
        )
        .resource_template(
            ResourceTemplate::new("users://{id}/profile", "Profiles"),
            || async { "profile" },
        )
        .completion(|_| async { vec!["soon".to_owned(), "later".to_owned()] })
        .into_http(Some(addr))
        .unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    let router = app.into_router().layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            count.fetch_add(1, Ordering::SeqCst);
            next.run(request)
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
    Counted {
        url,
        requests,
        deletes,
    }
}

/// A gateway with policies in front of two counted upstreams mounted as
/// `crm` and `web`, and its authorization server.
struct Setup {
    mcp_url: String,
    metadata_url: String,
    auth: DevAuthServerHandle,
    crm: Counted,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), GatewayError>>,
}

/// The policies of these tests, as configuration (the gateway's TOML is
/// this same `PolicySetConfig`).
fn mounted_policies() -> PolicySet {
    let config: PolicySetConfig = serde_json::from_value(json!({
        "policy": [
            {"tools": "crm_delete_*", "scopes": ["crm:admin"]},
            {"prompts": "web_greet", "scopes": ["prompts:use"]},
            {"resources": "docs://crm/*", "claims": {"org_id": "org_1"}},
            {"resource_templates": "users://web/{id}/profile", "claims": {"roles": {"contains": "admin"}}},
        ]
    }))
    .expect("policy config");
    config.build().expect("policies")
}

impl Setup {
    async fn start(policies: PolicySet) -> Self {
        let crm = counted_upstream().await;
        let web = counted_upstream().await;
        let http =
            |u: &Counted| GatewayConfig::new(Upstream::Http(HttpUpstream::new(&u.url).unwrap()));
        let gateway = Box::pin(Gateway::start_mounted([
            ("crm".to_owned(), http(&crm)),
            ("web".to_owned(), http(&web)),
        ]))
        .await
        .expect("gateway start");
        Box::pin(Self::serve(gateway.policies(policies), crm)).await
    }

    async fn serve(gateway: Gateway, crm: Counted) -> Self {
        let mcp_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let auth_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = mcp_listener.local_addr().unwrap().port();
        let mcp_url = format!("http://127.0.0.1:{port}/mcp");
        let auth = DevAuthServer::start(
            auth_listener,
            DevAuthServerConfig::new(url::Url::parse(&mcp_url).unwrap())
                .with_storage(Storage::Memory),
        )
        .await
        .expect("dev authorization server");
        let provider = ScalekitProvider::new(
            auth.server().env_url(),
            auth.server().resource_id(),
            mcp_url.as_str(),
        );
        let protection = AuthProvider::build(Box::new(provider)).expect("provider");
        let app = gateway
            .into_http(ProtectedEndpoint::new(protection))
            .expect("gateway app");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.serve(mcp_listener, async move {
            stopped.await.ok();
        }));
        Self {
            metadata_url: format!(
                "http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp"
            ),
            mcp_url,
            auth,
            crm,
            stop: Some(stop),
            task,
        }
    }

    /// A token for `subject` with `scopes` and `claims` added.
    fn token(&self, subject: &str, scopes: &[&str], claims: Value) -> String {
        let mut request = TokenRequest::user(subject).with_scopes(scopes.iter().copied());
        if let Value::Object(claims) = claims {
            for (name, value) in claims {
                request = request.with_claim(name, value);
            }
        }
        self.auth.server().mint_token(request).expect("mint")
    }

    async fn client(&self, token: String) -> RunningService<RoleClient, ()> {
        let config =
            StreamableHttpClientTransportConfig::with_uri(self.mcp_url.as_str()).auth_header(token);
        guard(
            "connect",
            ().serve(StreamableHttpClientTransport::from_config(config)),
        )
        .await
        .expect("client connects through the gateway")
    }

    fn post(&self, token: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .post(&self.mcp_url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
    }

    /// A session-era request on a fresh session (`initialize` and
    /// `notifications/initialized` first, as a client does).
    async fn session_request(&self, token: &str, method: &str, params: Value) -> reqwest::Response {
        let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "gateway-policy-tests", "version": "0.0.0"}}});
        let response = self.post(token).json(&initialize).send().await.unwrap();
        assert_eq!(response.status(), 200, "initialize");
        let session = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        drop(response.bytes().await);
        let in_session = |body: Value| {
            self.post(token)
                .header("mcp-session-id", &session)
                .header("mcp-protocol-version", "2025-06-18")
                .json(&body)
        };
        let notified = in_session(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .send()
            .await
            .unwrap();
        assert_eq!(notified.status(), 202, "notifications/initialized");
        in_session(json!({"jsonrpc": "2.0", "id": 2, "method": method, "params": params}))
            .send()
            .await
            .unwrap()
    }

    /// A 2026-07-28 request: the item is named by `Mcp-Name`; the body is
    /// deliberately not JSON, so a decision made after reading it is impossible.
    async fn stateless_request(&self, token: &str, method: &str, name: &str) -> reqwest::Response {
        self.post(token)
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method)
            .header("mcp-name", name)
            .body("{{{ not JSON")
            .send()
            .await
            .unwrap()
    }

    fn step_up(&self, scope: &str) -> String {
        format!(
            r#"Bearer error="insufficient_scope", error_description="this resource requires scope: {scope}", scope="{scope}", resource_metadata="{}""#,
            self.metadata_url
        )
    }

    fn denied(&self, description: &str) -> String {
        format!(
            r#"Bearer error="access_denied", error_description="{description}", resource_metadata="{}""#,
            self.metadata_url
        )
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        guard("gateway shutdown", self.task).await.unwrap().unwrap();
    }
}

#[track_caller]
fn assert_403(response: &reqwest::Response, expected: &str) {
    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert_eq!(challenge, expected);
}

fn call(name: &str) -> Value {
    json!({"name": name, "arguments": {}})
}

type Client = RunningService<RoleClient, ()>;

async fn tools(c: &Client) -> Vec<String> {
    let mut names: Vec<String> = c
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

async fn prompts(c: &Client) -> Vec<String> {
    let mut names: Vec<String> = c
        .list_all_prompts()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    names.sort();
    names
}

async fn resources(c: &Client) -> Vec<String> {
    let mut uris: Vec<String> = c
        .list_all_resources()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.uri.clone())
        .collect();
    uris.sort();
    uris
}

async fn templates(c: &Client) -> Vec<String> {
    let mut uris: Vec<String> = c
        .list_all_resource_templates()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.uri_template.clone())
        .collect();
    uris.sort();
    uris
}

async fn values(c: &Client, prompt: &str) -> Vec<String> {
    c.complete_prompt_simple(prompt, "when", "").await.unwrap()
}

#[tokio::test]
async fn lists_show_each_caller_only_what_it_may_use() {
    let s = Setup::start(mounted_policies()).await;
    let user = s
        .client(s.token("usr_plain", &["mcp:tools"], json!({"org_id": "org_2"})))
        .await;
    let admin = s
        .client(s.token(
            "usr_admin",
            &["mcp:tools", "crm:admin", "prompts:use"],
            json!({"org_id": "org_1", "roles": ["admin"]}),
        ))
        .await;

    assert_eq!(
        tools(&user).await,
        ["crm_hello", "web_delete_all", "web_hello"]
    );
    assert_eq!(
        tools(&admin).await,
        ["crm_delete_all", "crm_hello", "web_delete_all", "web_hello"]
    );

    assert_eq!(prompts(&user).await, ["crm_greet"]);
    assert_eq!(prompts(&admin).await, ["crm_greet", "web_greet"]);

    assert_eq!(resources(&user).await, ["docs://web/motd"]);
    assert_eq!(
        resources(&admin).await,
        ["docs://crm/motd", "docs://web/motd"]
    );

    assert_eq!(templates(&user).await, ["users://crm/{id}/profile"]);
    assert_eq!(
        templates(&admin).await,
        ["users://crm/{id}/profile", "users://web/{id}/profile"]
    );

    // Completions for a prompt or template the caller may not use are
    // empty; for one it may use, the upstream's values pass.
    assert!(values(&user, "web_greet").await.is_empty());
    assert_eq!(values(&user, "crm_greet").await, ["soon", "later"]);
    assert_eq!(values(&admin, "web_greet").await, ["soon", "later"]);
    let hidden = user
        .complete_resource_simple("users://web/{id}/profile", "id", "")
        .await
        .unwrap();
    assert!(hidden.is_empty());
    let shown = admin
        .complete_resource_simple("users://web/{id}/profile", "id", "")
        .await
        .unwrap();
    assert_eq!(shown, ["soon", "later"]);

    drop((user, admin));
    s.stop().await;
}

#[tokio::test]
async fn a_call_lacking_scopes_gets_the_step_up_challenge_before_the_upstream_is_contacted() {
    let s = Setup::start(mounted_policies()).await;
    let token = s.token("usr_step", &["openid", "mcp:tools"], json!({}));
    let expected = s.step_up("openid mcp:tools crm:admin");
    let before = s.crm.requests.load(Ordering::SeqCst);

    let response = s
        .session_request(&token, "tools/call", call("crm_delete_all"))
        .await;
    assert_403(&response, &expected);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");

    let response = s
        .stateless_request(&token, "tools/call", "crm_delete_all")
        .await;
    assert_403(&response, &expected);

    // This principal's first requests were refused: no upstream session was
    // even opened for it, and the tool never ran.
    assert_eq!(s.crm.requests.load(Ordering::SeqCst), before);
    assert_eq!(s.crm.deletes.load(Ordering::SeqCst), 0);

    // Re-authorized with the scopes of the challenge, the call goes through.
    let upgraded = s.token("usr_step", &["openid", "mcp:tools", "crm:admin"], json!({}));
    let client = s.client(upgraded).await;
    assert_eq!(
        call_text(&client, "crm_delete_all").await.unwrap(),
        "deleted"
    );
    assert_eq!(s.crm.deletes.load(Ordering::SeqCst), 1);

    // A prompt is governed the same way.
    let response = s
        .session_request(&token, "prompts/get", json!({"name": "web_greet"}))
        .await;
    assert_403(&response, &s.step_up("openid mcp:tools prompts:use"));
    let response = s
        .stateless_request(&token, "prompts/get", "web_greet")
        .await;
    assert_403(&response, &s.step_up("openid mcp:tools prompts:use"));
    // Items without a policy stay usable by the same token.
    let plain = s.client(token).await;
    assert_eq!(call_text(&plain, "web_hello").await.unwrap(), "hello");
    assert!(
        !plain
            .get_prompt(GetPromptRequestParams::new("crm_greet"))
            .await
            .unwrap()
            .messages
            .is_empty()
    );

    drop((client, plain));
    s.stop().await;
}

#[tokio::test]
async fn a_claim_condition_denies_without_a_scope_hint() {
    let s = Setup::start(mounted_policies()).await;
    // Every scope there is would not help: the organisation is wrong.
    let outsider = s.token(
        "usr_out",
        &["mcp:tools", "crm:admin", "prompts:use"],
        json!({"org_id": "org_2"}),
    );
    let expected =
        s.denied("the token's `org_id` claim does not meet the policy for resource `docs://crm/*`");
    let before = s.crm.requests.load(Ordering::SeqCst);

    let response = s
        .session_request(
            &outsider,
            "resources/read",
            json!({"uri": "docs://crm/motd"}),
        )
        .await;
    assert_403(&response, &expected);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "access_denied"
    );
    let response = s
        .stateless_request(&outsider, "resources/read", "docs://crm/motd")
        .await;
    assert_403(&response, &expected);
    assert_eq!(s.crm.requests.load(Ordering::SeqCst), before);

    let member = s.token("usr_in", &["mcp:tools"], json!({"org_id": "org_1"}));
    let client = s.client(member).await;
    let read = client
        .read_resource(ReadResourceRequestParams::new("docs://crm/motd"))
        .await
        .unwrap();
    assert_eq!(read.contents.len(), 1);

    drop(client);
    s.stop().await;
}

#[tokio::test]
async fn deny_by_default_on_a_single_upstream_hides_and_refuses_the_rest() {
    let upstream = counted_upstream().await;
    let gateway = Box::pin(Gateway::start(GatewayConfig::new(Upstream::Http(
        HttpUpstream::new(&upstream.url).unwrap(),
    ))))
    .await
    .expect("gateway start");
    let policies = PolicySet::builder()
        .deny_by_default(true)
        .policy(Policy::tools("hello").scopes(["mcp:tools"]))
        .build()
        .unwrap();
    let s = Box::pin(Setup::serve(gateway.policies(policies), upstream)).await;
    let token = s.token("usr_dd", &["mcp:tools"], json!({}));
    let client = s.client(token.clone()).await;

    // One upstream, names unchanged: its (paginated) lists are filtered too.
    let tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(tools, ["hello"]);
    assert!(client.list_all_prompts().await.unwrap().is_empty());
    assert!(client.list_all_resources().await.unwrap().is_empty());
    assert!(
        client
            .list_all_resource_templates()
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(call_text(&client, "hello").await.unwrap(), "hello");

    let response = s
        .session_request(&token, "tools/call", call("delete_all"))
        .await;
    assert_403(
        &response,
        &s.denied("no policy allows this tool (deny by default)"),
    );
    assert_eq!(s.crm.deletes.load(Ordering::SeqCst), 0);

    drop(client);
    s.stop().await;
}
