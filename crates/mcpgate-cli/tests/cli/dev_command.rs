//! The `mcpgate dev` binary as a user runs it: the printed token works against
//! the printed MCP URL, `dev token` mints from the same data directory, state
//! survives a restart, and `dev rotate-keys` rotates without breaking clients.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{
    BIN, DEADLINE, Dev, TempDir, claims, free_port, initialize as post_initialize, kid, run, run_ok,
};

async fn initialize(mcp_url: &str, token: &str) -> reqwest::StatusCode {
    post_initialize(mcp_url, Some(token)).await.status()
}

fn mint(dir: &Path, dev: &Dev, extra: &[&str]) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(["dev", "token", "--data-dir"])
        .arg(dir)
        .args([
            "--port",
            &dev.port_of("MCP URL"),
            "--auth-port",
            &dev.port_of("Environment URL"),
        ])
        .args(extra);
    run_ok(cmd)
}

#[tokio::test]
async fn printed_token_works_and_dev_token_and_rotation_work_across_restarts() {
    let temp = TempDir::new("restart");
    let dir = temp.path();
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
        dir,
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

    let mut rotate = Command::new(BIN);
    rotate.args(["dev", "rotate-keys", "--auth-port", &auth_port]);
    run_ok(rotate);
    let after = mint(dir, &dev, &[]);
    assert_ne!(kid(&after), kid(&minted), "a new signing key");
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
}

#[test]
fn bad_flags_and_missing_state_get_actionable_errors() {
    let dir = TempDir::new("missing");
    let mut cmd = Command::new(BIN);
    cmd.args(["dev", "token", "--data-dir"])
        .arg(dir.path().join("nothing-here"));
    let (status, _, stderr) = run(cmd);
    assert!(!status.success());
    assert!(stderr.contains("run `mcpgate dev` once"), "{stderr}");

    let mut cmd = Command::new(BIN);
    cmd.args(["dev", "--issuer-form", "sideways"]);
    let (status, _, stderr) = run(cmd);
    assert!(!status.success());
    assert!(stderr.contains("--issuer-form"), "{stderr}");
}

#[test]
fn the_banner_reader_gives_up_on_a_child_that_prints_nothing_or_exits() {
    // The harness itself: a silent child must fail the test at the deadline
    // (it used to block forever in `read_line`), and so must one that exits.
    let mut silent = Command::new("sleep");
    silent.arg("600");
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Dev::spawn_within(silent, Duration::from_millis(300))
    }))
    .err()
    .expect("a silent child must not pass for a started server");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("no complete banner"), "{message}");

    let exits = Command::new("true");
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Dev::spawn_within(exits, DEADLINE)
    }))
    .err()
    .expect("an exited child must not pass for a started server");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("closed its stdout"), "{message}");
}
