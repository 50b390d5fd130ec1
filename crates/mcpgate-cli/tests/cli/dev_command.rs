//! The `mcpgate dev` binary as a user runs it: the printed token works against
//! the printed MCP URL, `dev token` mints from the same data directory, state
//! survives a restart, and `dev rotate-keys` rotates without breaking clients.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_mcpgate");

/// A running `mcpgate dev`, killed on drop.
struct Dev {
    child: Child,
    lines: Vec<(String, String)>,
}

impl Dev {
    fn start(args: &[&str]) -> Dev {
        let mut child = Command::new(BIN)
            .arg("dev")
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mcpgate dev");
        let stdout = child.stdout.take().unwrap();
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("stdout line");
            if let Some((key, value)) = line.split_once(": ") {
                lines.push((key.to_owned(), value.to_owned()));
            }
            if line.starts_with("Token: ") || Instant::now() > deadline {
                break;
            }
        }
        Dev { child, lines }
    }

    fn get(&self, key: &str) -> &str {
        &self
            .lines
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("no `{key}:` line in {:?}", self.lines))
            .1
    }

    fn port_of(&self, key: &str) -> String {
        let url = url::Url::parse(self.get(key)).unwrap();
        url.port().unwrap().to_string()
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn initialize(mcp_url: &str, token: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(mcp_url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        }))
        .send()
        .await
        .unwrap()
        .status()
}

fn mint(dir: &Path, dev: &Dev, extra: &[&str]) -> String {
    let output = Command::new(BIN)
        .args(["dev", "token", "--data-dir"])
        .arg(dir)
        .args([
            "--port",
            &dev.port_of("MCP URL"),
            "--auth-port",
            &dev.port_of("Environment URL"),
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn printed_token_works_and_dev_token_and_rotation_work_across_restarts() {
    let dir = std::env::temp_dir().join(format!("mcpgate-dev-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data_dir = dir.to_str().unwrap();
    let (port, auth_port) = (free_port().to_string(), free_port().to_string());
    let args = [
        "--port",
        port.as_str(),
        "--auth-port",
        auth_port.as_str(),
        "--data-dir",
        data_dir,
    ];

    let dev = Dev::start(&args);
    let mcp_url = dev.get("MCP URL").to_owned();
    assert_eq!(mcp_url, format!("http://127.0.0.1:{port}/mcp"));
    let resource_id = dev.get("Resource ID").to_owned();
    assert!(resource_id.starts_with("res_"));
    assert_eq!(
        initialize(&mcp_url, dev.get("Token")).await,
        200,
        "printed token"
    );
    assert_eq!(initialize(&mcp_url, "not-a-token").await, 401);

    let minted = mint(
        &dir,
        &dev,
        &[
            "--subject",
            "usr_42",
            "--scopes",
            "openid,mcp:tools",
            "--lifetime",
            "120",
        ],
    );
    let c = claims(&minted);
    assert_eq!(c["sub"], "usr_42");
    assert_eq!(c["scope"], "openid mcp:tools");
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 120);
    assert_eq!(initialize(&mcp_url, &minted).await, 200, "dev token");

    let rotated = Command::new(BIN)
        .args(["dev", "rotate-keys", "--auth-port", &auth_port])
        .output()
        .unwrap();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let after = mint(&dir, &dev, &[]);
    assert_ne!(claims_kid(&after), claims_kid(&minted), "a new signing key");
    assert_eq!(
        initialize(&mcp_url, &after).await,
        200,
        "token from the new key"
    );
    assert_eq!(
        initialize(&mcp_url, &minted).await,
        200,
        "old key still published during the grace period"
    );
    drop(dev);

    // Same data directory: same resource id, and tokens minted before still verify.
    let dev = Dev::start(&args);
    assert_eq!(dev.get("Resource ID"), resource_id);
    assert_eq!(
        initialize(&mcp_url, &after).await,
        200,
        "state survives a restart"
    );
    drop(dev);
    let _ = std::fs::remove_dir_all(&dir);
}

fn claims_kid(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[test]
fn bad_flags_and_missing_state_get_actionable_errors() {
    let dir = std::env::temp_dir().join(format!("mcpgate-dev-missing-{}", std::process::id()));
    let output = Command::new(BIN)
        .args(["dev", "token", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("run `mcpgate dev` once"), "{stderr}");

    let output = Command::new(BIN)
        .args(["dev", "--issuer-form", "sideways"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--issuer-form"));
}
