//! `mcpgate proxy` and `mcpgate dev -- COMMAND` as users run them: the
//! binary in front of a real stdio MCP server (mcpgate-gateway's
//! `stdio_fixture` example), called by rmcp's client with a real token.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use mcpgate_dev_as::{DevAuthServer, DevAuthServerConfig, Storage, TokenRequest};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use crate::support::{BIN, Dev, free_port, initialize, run};

/// The gateway crate's stdio fixture, built once.
fn fixture() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
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
            .expect("run cargo");
        assert!(status.success(), "building the stdio fixture failed");
        let bin = PathBuf::from(BIN);
        let path = bin
            .parent()
            .unwrap()
            .join("examples")
            .join(format!("stdio_fixture{}", std::env::consts::EXE_SUFFIX));
        assert!(path.exists(), "{} missing", path.display());
        path
    })
    .clone()
}

async fn client(mcp_url: &str, token: &str) -> RunningService<RoleClient, ()> {
    let config =
        StreamableHttpClientTransportConfig::with_uri(mcp_url).auth_header(token.to_owned());
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("connect through the gateway")
}

async fn call(client: &RunningService<RoleClient, ()>, tool: &str) -> String {
    let result = client
        .call_tool(CallToolRequestParams::new(tool.to_owned()))
        .await
        .expect(tool);
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_with_a_command_protects_that_server_with_the_printed_token() {
    let fixture = fixture();
    let dev = Dev::start(&[
        "--ephemeral",
        "--port",
        "0",
        "--auth-port",
        "0",
        "--",
        fixture.to_str().unwrap(),
    ]);
    let mcp_url = dev.get("MCP URL").to_owned();
    let token = dev.get("Token").to_owned();
    assert_eq!(initialize(&mcp_url, None).await.status(), 401);
    let client = client(&mcp_url, &token).await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(
        tools.iter().any(|t| t.name == "pid"),
        "the user's server, not the sample"
    );
    assert!(!tools.iter().any(|t| t.name == "auth_status"));
    assert_eq!(call(&client, "incr").await, "1");
    drop(client);
    dev.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_reads_auth_from_the_environment_and_listens_on_mcp_url() {
    let fixture = fixture();
    let port = free_port();
    let mcp_url = format!("http://127.0.0.1:{port}/mcp");
    let auth_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let auth = DevAuthServer::start(
        auth_listener,
        DevAuthServerConfig::new(url::Url::parse(&mcp_url).unwrap()).with_storage(Storage::Memory),
    )
    .await
    .unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["proxy", "--", fixture.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .env("SCALEKIT_ENVIRONMENT_URL", auth.server().env_url())
        .env("SCALEKIT_RESOURCE_ID", auth.server().resource_id())
        .env("MCP_URL", &mcp_url);
    let proxy = Dev::spawn(cmd);
    assert_eq!(proxy.get("MCP URL"), mcp_url);

    let mint = |sub: &str| {
        auth.server()
            .mint_token(TokenRequest::user(sub).with_scopes(["openid"]))
            .unwrap()
    };
    let alice = client(&mcp_url, &mint("alice")).await;
    let bob = client(&mcp_url, &mint("bob")).await;
    assert_ne!(
        call(&alice, "pid").await,
        call(&bob, "pid").await,
        "one child per principal"
    );
    assert_eq!(call(&alice, "incr").await, "1");
    assert_eq!(call(&bob, "incr").await, "1");
    // The child's stderr goes to the log, tagged with the principal's subject.
    let shout = alice
        .call_tool(
            CallToolRequestParams::new("shout").with_arguments(
                serde_json::json!({"text": "child-stderr-marker"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(shout.is_error, Some(false));
    drop((alice, bob));
    let (_, stderr) = proxy.stop();
    let line = stderr
        .lines()
        .find(|l| l.contains("child-stderr-marker"))
        .unwrap_or_else(|| panic!("the child's stderr is not in the log:\n{stderr}"));
    assert!(line.contains(r#"subject="alice""#), "{line}");
    // The log never carries a token.
    assert!(!stderr.contains("eyJ"), "{stderr}");
    auth.shutdown().await.unwrap();
}

#[test]
fn proxy_without_auth_or_upstream_says_what_to_do() {
    let mut cmd = Command::new(BIN);
    cmd.args(["proxy"]).env_remove("SCALEKIT_ENVIRONMENT_URL");
    let (status, _, stderr) = run(cmd);
    assert!(!status.success());
    assert!(stderr.contains("-- COMMAND"), "{stderr}");

    let mut cmd = Command::new(BIN);
    cmd.args(["proxy", "--", "true"])
        .env_remove("SCALEKIT_ENVIRONMENT_URL")
        .env_remove("FASTMCP_SERVER_AUTH")
        .current_dir(std::env::temp_dir());
    let (status, _, stderr) = run(cmd);
    assert!(!status.success());
    assert!(stderr.contains("SCALEKIT_ENVIRONMENT_URL"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_mounts_several_upstreams_with_health_endpoints() {
    let fixture = fixture();
    let port = free_port();
    let mcp_url = format!("http://127.0.0.1:{port}/mcp");
    let auth_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let auth = DevAuthServer::start(
        auth_listener,
        DevAuthServerConfig::new(url::Url::parse(&mcp_url).unwrap()).with_storage(Storage::Memory),
    )
    .await
    .unwrap();
    let dir = crate::support::TempDir::new("proxy-config");
    let config = dir.path().join("gateway.toml");
    let fixture = fixture.to_str().unwrap().replace('\\', "\\\\");
    std::fs::write(
        &config,
        format!(
            r#"
allow_origins = ["https://app.example"]

[auth]
provider = "scalekit"
environment_url = "{env}"
resource_id = "{res}"
mcp_url = "{mcp_url}"

[upstreams.one]
command = ["{fixture}"]

[upstreams.two]
command = ["{fixture}"]
shared = true
"#,
            env = auth.server().env_url(),
            res = auth.server().resource_id(),
        ),
    )
    .unwrap();

    // --check validates and exits.
    let mut check = Command::new(BIN);
    check.args(["proxy", "--check", "--config", config.to_str().unwrap()]);
    let (status, stdout, stderr) = run(check);
    assert!(status.success(), "{stderr}");
    assert!(
        stdout.contains("configuration OK") && stdout.contains("one (") && stdout.contains("two ("),
        "{stdout}"
    );

    let mut cmd = Command::new(BIN);
    cmd.args(["proxy", "--config", config.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .env_remove("SCALEKIT_ENVIRONMENT_URL");
    let proxy = Dev::spawn(cmd);
    assert_eq!(proxy.get("MCP URL"), mcp_url);
    let token = auth
        .server()
        .mint_token(TokenRequest::user("alice").with_scopes(["openid"]))
        .unwrap();
    let client = client(&mcp_url, &token).await;
    let tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(
        tools.contains(&"one_pid".to_owned()) && tools.contains(&"two_pid".to_owned()),
        "{tools:?}"
    );
    assert_ne!(
        call(&client, "one_pid").await,
        call(&client, "two_pid").await
    );
    assert_eq!(call(&client, "one_incr").await, "1");
    assert_eq!(call(&client, "two_incr").await, "1");

    let base = format!("http://127.0.0.1:{port}");
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(
        ready.status(),
        200,
        "{}",
        ready.text().await.unwrap_or_default()
    );
    drop(client);
    proxy.stop();
    auth.shutdown().await.unwrap();
}

#[test]
fn a_bad_config_file_names_the_key() {
    let dir = crate::support::TempDir::new("proxy-bad-config");
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        "[upstreams.w]\ncommand = [\"x\"]\nmax_childs = 3\n",
    )
    .unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["proxy", "--check", "--config", config.to_str().unwrap()]);
    let (status, _, stderr) = run(cmd);
    assert!(!status.success());
    assert!(stderr.contains("max_childs"), "{stderr}");

    let mut cmd = Command::new(BIN);
    cmd.args(["proxy", "--config", config.to_str().unwrap(), "--shared"]);
    let (status, _, stderr) = run(cmd);
    assert!(!status.success());
    assert!(stderr.contains("drop the upstream flags"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_with_an_upstream_url_protects_an_http_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = mcpgate::McpServer::new("plain http server")
        .allow_unauthenticated()
        .mcp_url(format!("http://{addr}/mcp"))
        .tool("hello", "Says hello", || async { "hello".to_owned() })
        .into_http(Some(addr))
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(upstream.serve(listener, async move {
        stopped.await.ok();
    }));

    let dev = Dev::start(&[
        "--ephemeral",
        "--port",
        "0",
        "--auth-port",
        "0",
        "--upstream",
        &format!("http://{addr}/mcp"),
    ]);
    let mcp_url = dev.get("MCP URL").to_owned();
    assert_eq!(initialize(&mcp_url, None).await.status(), 401);
    let client = client(&mcp_url, dev.get("Token")).await;
    assert_eq!(call(&client, "hello").await, "hello");
    drop(client);
    dev.stop();
    let _ = stop.send(());
    served.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_stops_the_children() {
    let fixture = fixture();
    let mut cmd = Dev::command(&[
        "--ephemeral",
        "--port",
        "0",
        "--auth-port",
        "0",
        "--",
        fixture.to_str().unwrap(),
    ]);
    // A child that ignores the end of its stdin: only the gateway's own
    // shutdown (SIGTERM after a grace period) stops it.
    cmd.env("FIXTURE_IGNORE_EOF", "1");
    let dev = Dev::spawn(cmd);
    let client = client(dev.get("MCP URL"), dev.get("Token")).await;
    let pid: u32 = call(&client, "pid").await.parse().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(client);

    let status = dev.terminate();
    assert!(
        status.success(),
        "mcpgate dev did not exit cleanly on SIGTERM: {status}"
    );
    // The child was stopped (and reaped) before the gateway exited.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.split_whitespace().nth(2) == Some("Z"),
        "child {pid} still running after the gateway stopped: {stat}"
    );
}
