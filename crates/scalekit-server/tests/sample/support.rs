//! Helpers: run the real `scalekit_server` binary with a controlled environment
//! and working directory, capture what it prints, wait (event-driven, with a
//! deadline) until it accepts connections, and talk Streamable HTTP to it.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mcpgate_dev_as::{DevAuthServer, DevAuthServerConfig, DevAuthServerHandle, Url};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde_json::{Value, json};

/// The binary under test, built by Cargo for this test target.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_scalekit_server");

/// Every wait in these tests ends by this deadline (generous: a loaded 2-core CI machine).
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

/// Interval between two looks at a port or a process (polling, not synchronisation).
const POLL: Duration = Duration::from_millis(20);

/// The protocol version the raw HTTP requests speak.
const PROTOCOL_VERSION: &str = "2025-06-18";

/// A directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        let path = std::env::temp_dir().join(mcpgate_dev_as::keys::random_digits_id(
            "scalekit-server-test-",
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `./.env` with one `NAME=value` line per pair.
    pub(crate) fn write_dotenv(&self, vars: &[(&str, &str)]) {
        let text: String = vars
            .iter()
            .map(|(name, value)| format!("{name}={value}\n"))
            .collect();
        std::fs::write(self.0.join(".env"), text).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary with nothing but `PATH` (and `NO_COLOR`) from this process's
/// environment, `vars` on top, started in `cwd`: no stray `SCALEKIT_*`,
/// `FASTMCP_*`, `RUST_LOG` or `.env` of the machine running the tests can
/// change what is being tested.
pub(crate) fn command(cwd: &Path, vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear().current_dir(cwd).env("NO_COLOR", "1");
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    for (name, value) in vars {
        cmd.env(name, value);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Bytes a child writes to one pipe, collected by a thread until EOF.
struct Captured {
    bytes: Arc<Mutex<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl Captured {
    fn start(mut pipe: impl Read + Send + 'static) -> Self {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let sink = bytes.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
                }
            }
        });
        Self {
            bytes,
            thread: Some(thread),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap()).into_owned()
    }

    /// Waits for EOF (the child has exited, so it comes).
    fn finish(&mut self) -> String {
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        self.text()
    }
}

/// A running `scalekit_server`, killed on drop.
pub(crate) struct Running {
    child: Child,
    stdout: Captured,
    stderr: Captured,
}

impl Running {
    pub(crate) fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("spawn scalekit_server");
        let stdout = Captured::start(child.stdout.take().unwrap());
        let stderr = Captured::start(child.stderr.take().unwrap());
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// What the child printed so far (stdout, then stderr).
    pub(crate) fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout.text(),
            self.stderr.text()
        )
    }

    /// Returns once `addr` accepts TCP connections; fails if the child exits
    /// first or the deadline passes.
    pub(crate) async fn wait_accepting(&mut self, addr: SocketAddr) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "scalekit_server exited ({status}) before listening on {addr}\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "scalekit_server did not listen on {addr} within {DEADLINE:?}\n{}",
                self.output()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops the child and returns everything it printed, stdout then stderr.
    pub(crate) fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stdout = self.stdout.finish();
        let stderr = self.stderr.finish();
        format!("{stdout}{stderr}")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to its exit (bounded by [`DEADLINE`]); returns the status, stdout and stderr.
pub(crate) fn run_to_exit(cmd: Command) -> (ExitStatus, String, String) {
    let mut running = Running::spawn(cmd);
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "scalekit_server still running after {DEADLINE:?} (it was expected to refuse to start)\n{}",
            running.output()
        );
        std::thread::sleep(POLL);
    };
    let stdout = running.stdout.finish();
    let stderr = running.stderr.finish();
    (status, stdout, stderr)
}

/// An in-process dev authorization server on 127.0.0.1 issuing tokens for `mcp_url`.
pub(crate) async fn dev_auth_server(mcp_url: &str) -> DevAuthServerHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    DevAuthServer::start(
        listener,
        DevAuthServerConfig::new(Url::parse(mcp_url).unwrap()),
    )
    .await
    .unwrap()
}

/// The JSON-RPC `initialize` request.
pub(crate) fn initialize_request() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "scalekit-server-tests", "version": "0"},
        },
    })
}

/// A Streamable HTTP client for one MCP endpoint, as a client without an SDK speaks it.
pub(crate) struct Mcp {
    http: reqwest::Client,
    /// Where requests go.
    url: String,
    /// A `Host` header to send instead of the URL's authority (a proxy that preserves it).
    host: Option<String>,
}

/// An answer: status, headers and the JSON-RPC message (if the body held one).
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub message: Option<Value>,
}

impl Answer {
    pub(crate) fn www_authenticate(&self) -> String {
        self.headers
            .get(header::WWW_AUTHENTICATE)
            .unwrap_or_else(|| panic!("{} without WWW-Authenticate", self.status))
            .to_str()
            .unwrap()
            .to_owned()
    }
}

impl Mcp {
    pub(crate) fn new(url: &str) -> Self {
        Self {
            http: http_client(),
            url: url.to_owned(),
            host: None,
        }
    }

    /// Sends `Host: host` with every request.
    pub(crate) fn with_host(mut self, host: &str) -> Self {
        self.host = Some(host.to_owned());
        self
    }

    /// POSTs one JSON-RPC message with the headers Streamable HTTP requires.
    pub(crate) async fn post_with(
        &self,
        authorization: Option<&str>,
        session: Option<&str>,
        body: &Value,
    ) -> Answer {
        let mut request = self
            .http
            .post(&self.url)
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header(header::CONTENT_TYPE, "application/json")
            .json(body);
        if let Some(host) = &self.host {
            request = request.header(header::HOST, host);
        }
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", PROTOCOL_VERSION);
        }
        let response = request.send().await.expect("request to scalekit_server");
        let status = response.status();
        let headers = response.headers().clone();
        let message = read_jsonrpc(response).await;
        Answer {
            status,
            headers,
            message,
        }
    }

    /// POSTs with `Authorization: Bearer {token}` when a token is given.
    pub(crate) async fn post(
        &self,
        token: Option<&str>,
        session: Option<&str>,
        body: &Value,
    ) -> Answer {
        let authorization = token.map(|t| format!("Bearer {t}"));
        self.post_with(authorization.as_deref(), session, body)
            .await
    }

    /// `initialize` and `notifications/initialized`; returns the session id and
    /// the `initialize` result.
    pub(crate) async fn open_session(&self, token: &str) -> (String, Value) {
        let answer = self.post(Some(token), None, &initialize_request()).await;
        assert_eq!(answer.status, StatusCode::OK, "initialize");
        let session = answer
            .headers
            .get("mcp-session-id")
            .expect("Mcp-Session-Id on initialize")
            .to_str()
            .unwrap()
            .to_owned();
        let result = answer.message.expect("initialize answer")["result"].clone();
        let notified = self
            .post(
                Some(token),
                Some(&session),
                &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            )
            .await;
        assert_eq!(
            notified.status,
            StatusCode::ACCEPTED,
            "notifications/initialized"
        );
        (session, result)
    }

    /// One request in a session; asserts 200 and returns the JSON-RPC `result`.
    pub(crate) async fn call(
        &self,
        token: &str,
        session: &str,
        id: u64,
        method: &str,
        params: Value,
    ) -> Value {
        let answer = self
            .post(
                Some(token),
                Some(session),
                &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{method}");
        let message = answer.message.expect("a JSON-RPC answer");
        assert_eq!(message["id"], json!(id), "{message}");
        assert!(message.get("error").is_none(), "{method}: {message}");
        message["result"].clone()
    }

    /// `tools/list`, the names sorted.
    pub(crate) async fn tool_names(&self, token: &str, session: &str) -> Vec<String> {
        let result = self.call(token, session, 2, "tools/list", json!({})).await;
        let mut names: Vec<String> = result["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("tools/list: {result}"))
            .iter()
            .map(|tool| tool["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    }

    /// `tools/call` of an argument-less tool; returns its result.
    pub(crate) async fn call_tool(&self, token: &str, session: &str, name: &str) -> Value {
        let result = self
            .call(
                token,
                session,
                3,
                "tools/call",
                json!({"name": name, "arguments": {}}),
            )
            .await;
        assert_ne!(result["isError"], json!(true), "{name}: {result}");
        result
    }

    /// GETs a URL on the same server (e.g. the metadata), with the same `Host`.
    pub(crate) async fn get_json(&self, url: &str) -> Value {
        let mut request = self.http.get(url);
        if let Some(host) = &self.host {
            request = request.header(header::HOST, host);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {url}");
        response.json().await.unwrap()
    }
}

/// What `auth_status` said: its `message`, from the structured content or the text.
pub(crate) fn auth_status_message(result: &Value) -> String {
    if let Some(message) = result["structuredContent"]["message"].as_str() {
        return message.to_owned();
    }
    let text = result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("auth_status result has no text: {result}"));
    let parsed: Value = serde_json::from_str(text).unwrap();
    parsed["message"].as_str().unwrap().to_owned()
}

/// The text content of a tool result.
pub(crate) fn text_of(result: &Value) -> String {
    result["content"]
        .as_array()
        .unwrap_or_else(|| panic!("no content: {result}"))
        .iter()
        .filter_map(|c| c["text"].as_str())
        .collect()
}

/// An HTTP client that follows no redirects, ignores proxy settings and gives up eventually.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(DEADLINE)
        .build()
        .unwrap()
}

/// The JSON-RPC message of a response body, whether plain JSON or SSE `data:`
/// lines; `None` for an empty or non-JSON-RPC body (a 202, a 401's JSON error).
async fn read_jsonrpc(response: reqwest::Response) -> Option<Value> {
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = response.text().await.expect("response body");
    if !is_sse {
        return serde_json::from_str::<Value>(&body)
            .ok()
            .filter(|v| v.get("jsonrpc").is_some());
    }
    let message = body
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .filter(|data| !data.is_empty())
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .find(|message| message.get("id").is_some());
    Some(message.unwrap_or_else(|| panic!("no JSON-RPC response in SSE body: {body}")))
}
