//! `mcpgate proxy --admin-listen ADDR`: Prometheus metrics on their own
//! address, announced in the banner, and absent without the flag.

use std::path::PathBuf;
use std::process::Command;

use mcpgate_dev_as::{DevAuthServer, DevAuthServerConfig, Storage};

use crate::support::{BIN, Dev, free_port, http};

/// The gateway crate's stdio fixture (built by cargo on demand; a no-op
/// after the workspace build).
fn fixture() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args([
            "build",
            "--locked",
            "--workspace",
            "--example",
            "stdio_fixture",
        ])
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the stdio fixture failed");
    PathBuf::from(BIN)
        .parent()
        .unwrap()
        .join("examples")
        .join(format!("stdio_fixture{}", std::env::consts::EXE_SUFFIX))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_listen_serves_metrics_apart_from_the_mcp_endpoint() {
    let fixture = fixture();
    let mcp_url = format!("http://127.0.0.1:{}/mcp", free_port());
    let admin = format!("127.0.0.1:{}", free_port());
    let auth = DevAuthServer::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        DevAuthServerConfig::new(url::Url::parse(&mcp_url).unwrap()).with_storage(Storage::Memory),
    )
    .await
    .unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args([
        "proxy",
        "--admin-listen",
        &admin,
        "--",
        fixture.to_str().unwrap(),
    ])
    .env("NO_COLOR", "1")
    .env("SCALEKIT_ENVIRONMENT_URL", auth.server().env_url())
    .env("SCALEKIT_RESOURCE_ID", auth.server().resource_id())
    .env("MCP_URL", &mcp_url);
    let proxy = Dev::spawn(cmd);
    let metrics_url = format!("http://{admin}/metrics");
    assert_eq!(proxy.get("Metrics"), metrics_url);

    // A refused request shows up in the counts.
    let refused = http()
        .post(&mcp_url)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let text = http()
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("mcpgate_gateway_rejections_total{reason=\"missing_token\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE mcpgate_gateway_upstream_request_duration_seconds histogram"),
        "{text}"
    );
    // Not on the MCP address.
    let on_mcp = http()
        .get(mcp_url.replace("/mcp", "/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(on_mcp.status(), 404);
    proxy.stop();
    auth.shutdown().await.unwrap();
}
