//! Starting the dev authorization server and a gateway in front of an
//! upstream, and connecting rmcp clients with tokens for chosen subjects.

use std::future::Future;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use mcpgate_auth::http::ProtectedEndpoint;
use mcpgate_auth::{AuthProvider, ScalekitProvider};
use mcpgate_dev_as::{
    DevAuthServer, DevAuthServerConfig, DevAuthServerHandle, Storage, TokenRequest,
};
use mcpgate_gateway::{Gateway, GatewayConfig, GatewayMonitor, StdioCommand, Upstream};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ProtocolVersion};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A bound on waits that would otherwise hang a broken test; no assertion
/// depends on how long anything takes.
pub(crate) const HANG_GUARD: Duration = Duration::from_secs(60);

pub(crate) async fn guard<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG_GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish (hang)"))
}

/// The stdio fixture, built once per test run (`cargo test --test gateway`
/// does not build examples on its own).
pub(crate) fn fixture() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = std::process::Command::new(cargo)
            .args([
                "build",
                "--locked",
                // The workspace's feature resolution, as `cargo test --workspace`
                // and CI's build use: then this is a no-op there.
                "--workspace",
                "--example",
                "stdio_fixture",
            ])
            .status()
            .expect("run cargo to build the stdio fixture");
        assert!(status.success(), "building the stdio fixture failed");
        // target/debug/deps/gateway-… → target/debug/examples/stdio_fixture
        let exe = std::env::current_exe().expect("test binary path");
        let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
        let path = dir
            .join("examples")
            .join(format!("stdio_fixture{}", std::env::consts::EXE_SUFFIX));
        assert!(path.exists(), "{} missing", path.display());
        path
    })
    .clone()
}

pub(crate) fn stdio_upstream() -> Upstream {
    Upstream::Stdio(StdioCommand::new(fixture(), Vec::<String>::new()))
}

/// A running gateway with its authorization server.
pub(crate) struct Running {
    pub(crate) mcp_url: String,
    pub(crate) auth: DevAuthServerHandle,
    pub(crate) monitor: GatewayMonitor,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), mcpgate_gateway::GatewayError>>>,
}

impl Running {
    pub(crate) async fn start(config: GatewayConfig) -> Self {
        Box::pin(Self::start_with(Gateway::start(config))).await
    }

    /// Several upstreams, each mounted under its name.
    pub(crate) async fn start_mounted(mounts: Vec<(&str, GatewayConfig)>) -> Self {
        Box::pin(Self::start_with(Gateway::start_mounted(
            mounts.into_iter().map(|(n, c)| (n.to_owned(), c)),
        )))
        .await
    }

    async fn start_with(
        gateway: impl Future<Output = Result<Gateway, mcpgate_gateway::GatewayError>>,
    ) -> Self {
        let mcp_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let auth_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mcp_url = format!(
            "http://127.0.0.1:{}/mcp",
            mcp_listener.local_addr().unwrap().port()
        );
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
        let app = Box::pin(gateway)
            .await
            .expect("gateway start")
            .into_http(ProtectedEndpoint::new(protection))
            .expect("gateway app");
        let monitor = app.monitor();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.serve(mcp_listener, async move {
            stopped.await.ok();
        }));
        Self {
            mcp_url,
            auth,
            monitor,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A token for `subject` from the dev authorization server.
    pub(crate) fn token(&self, subject: &str) -> String {
        self.auth
            .server()
            .mint_token(TokenRequest::user(subject).with_scopes(["openid", "mcp:tools"]))
            .expect("mint")
    }

    /// An rmcp client through the gateway as `subject`.
    pub(crate) async fn client(&self, subject: &str) -> RunningService<RoleClient, ()> {
        let config = StreamableHttpClientTransportConfig::with_uri(self.mcp_url.as_str())
            .auth_header(self.token(subject));
        let transport = StreamableHttpClientTransport::from_config(config);
        guard("connect", ().serve(transport))
            .await
            .expect("client connects through the gateway")
    }

    /// Stops serving (drain), which also stops every upstream.
    /// A 2026-07-28 rmcp client (`server/discover`, no session) as `subject`.
    pub(crate) async fn stateless_client(&self, subject: &str) -> RunningService<RoleClient, ()> {
        let transport = rmcp::transport::StreamableHttpClientTransport::from_config(
            rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
                self.mcp_url.as_str(),
            )
            .auth_header(self.token(subject)),
        );
        guard(
            "connect (2026-07-28)",
            rmcp::service::ClientServiceExt::serve_with_lifecycle(
                (),
                transport,
                rmcp::service::ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                },
            ),
        )
        .await
        .unwrap()
    }

    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            guard("gateway shutdown", task).await.unwrap().unwrap();
        }
    }
}

/// Calls a tool without arguments and returns its text.
pub(crate) async fn call_text<S: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    tool: &str,
) -> Result<String, String> {
    let result = guard(
        tool,
        client.call_tool(CallToolRequestParams::new(tool.to_owned())),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(text_of(&result))
}

pub(crate) fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("")
}

/// A 2026-07-28 `tools/call` of `tool` as raw HTTP, declaring `capabilities`
/// in `_meta` (and optionally retrying with `inputResponses` and
/// `requestState`): the status and the JSON-RPC message.
pub(crate) async fn raw_call(
    gw: &Running,
    subject: &str,
    tool: &str,
    capabilities: serde_json::Value,
    retry: Option<(serde_json::Value, &str)>,
) -> (reqwest::StatusCode, serde_json::Value) {
    let version = ProtocolVersion::V_2026_07_28.to_string();
    let mut params = serde_json::json!({
        "name": tool,
        "arguments": {},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": version,
            "io.modelcontextprotocol/clientInfo": {"name": "input-required-test", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": capabilities,
        },
    });
    if let Some((responses, state)) = retry {
        params["inputResponses"] = responses;
        params["requestState"] = serde_json::json!(state);
    }
    let response = guard(
        "raw tools/call",
        reqwest::Client::new()
            .post(gw.mcp_url.as_str())
            .bearer_auth(gw.token(subject))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", version.as_str())
            .header("mcp-method", "tools/call")
            .header("mcp-name", tool)
            .json(&serde_json::json!({
                "jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params,
            }))
            .send(),
    )
    .await
    .unwrap();
    let status = response.status();
    let body = guard("raw tools/call body", response.text()).await.unwrap();
    // A JSON body, or an event stream whose last data line is the answer.
    let json = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or(body.as_str());
    let message = serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    (status, message)
}
