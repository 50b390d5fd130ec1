//! `bench-server --stdio`, the gateway systems' stdio upstream, speaks MCP
//! over stdin/stdout: initialize, then a correct `tools/call add`.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

/// Bounds every wait for an answer.
const TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn the_stdio_mode_serves_the_bench_tools() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bench-server"))
        .arg("--stdio")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning bench-server --stdio");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    // A thread reads, so that a silent server fails the test instead of hanging it.
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let send = |stdin: &mut std::process::ChildStdin, message: Value| {
        stdin
            .write_all(format!("{message}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .expect("writing to bench-server");
    };
    let answer = |id: u64| -> Value {
        loop {
            let line = rx
                .recv_timeout(TIMEOUT)
                .expect("an answer from bench-server --stdio");
            let message: Value = serde_json::from_str(&line).expect("one JSON message per line");
            if message["id"] == json!(id) {
                return message;
            }
        }
    };

    send(
        &mut stdin,
        json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "stdio-test", "version": "0"}
            }
        }),
    );
    let init = answer(1);
    assert_eq!(init["result"]["serverInfo"]["name"], "bench", "{init}");
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    send(
        &mut stdin,
        json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "add", "arguments": {"a": 20, "b": 22}}
        }),
    );
    let call = answer(2);
    assert_eq!(call["result"]["content"][0]["text"], "42", "{call}");
    assert_ne!(call["result"]["isError"], json!(true), "{call}");

    // Closing stdin ends the session, and the process with it.
    drop(stdin);
    let deadline = std::time::Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for bench-server") {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let status = status.expect("bench-server --stdio exits when stdin closes");
    assert!(status.success(), "{status}");
}
