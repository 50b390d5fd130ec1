//! Helpers shared by the modules: a running `mcpgate dev` whose banner is read
//! with a real deadline, raw HTTP against its servers, JWT claim decoding and
//! the "no secret in this log" check.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_mcpgate");

/// Every wait ends by this deadline (generous: a loaded 2-core CI machine).
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

/// The last line of the banner `mcpgate dev` prints once both servers listen.
const BANNER_END: &str = "Press Ctrl-C to stop.";

/// Text a child writes to one pipe, collected by a thread until EOF.
struct Captured {
    text: Arc<Mutex<String>>,
    thread: Option<JoinHandle<()>>,
}

impl Captured {
    /// Collects `pipe`; each complete line is also sent to `lines`, if given.
    fn start(pipe: impl Read + Send + 'static, lines: Option<mpsc::Sender<String>>) -> Self {
        let text = Arc::new(Mutex::new(String::new()));
        let sink = text.clone();
        let thread = std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf).into_owned();
                        sink.lock().unwrap().push_str(&line);
                        if let Some(lines) = &lines {
                            // The receiver may be gone (banner read); keep draining the pipe.
                            let _ = lines.send(line.trim_end_matches(['\n', '\r']).to_owned());
                        }
                    }
                }
            }
        });
        Self {
            text,
            thread: Some(thread),
        }
    }

    fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    /// Waits for EOF (the child has exited, so it comes) and returns everything.
    fn finish(&mut self) -> String {
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        self.text()
    }
}

/// A running `mcpgate dev`, killed on drop.
pub(crate) struct Dev {
    child: Child,
    /// The banner's lines, as printed.
    banner: Vec<String>,
    stdout: Captured,
    stderr: Captured,
}

impl Dev {
    /// `mcpgate dev {args}` with `NO_COLOR`, ready for [`Dev::spawn`].
    pub(crate) fn command(args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("dev").args(args).env("NO_COLOR", "1");
        cmd
    }

    /// Starts `mcpgate dev {args}` and reads its banner.
    pub(crate) fn start(args: &[&str]) -> Dev {
        Self::spawn(Self::command(args))
    }

    /// Starts `cmd` and reads the banner until its last line. Fails (and kills
    /// the child) if the child exits first or the banner is not complete by
    /// [`DEADLINE`], even if the child prints nothing at all: a reader thread
    /// owns the pipe and this waits on a channel with a timeout.
    pub(crate) fn spawn(cmd: Command) -> Dev {
        Self::spawn_within(cmd, DEADLINE)
    }

    /// [`Dev::spawn`] with another deadline (the harness's own tests use a short one).
    pub(crate) fn spawn_within(mut cmd: Command, limit: Duration) -> Dev {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mcpgate dev");
        let (lines_tx, lines) = mpsc::channel();
        let stdout = Captured::start(child.stdout.take().unwrap(), Some(lines_tx));
        let stderr = Captured::start(child.stderr.take().unwrap(), None);
        let mut dev = Dev {
            child,
            banner: Vec::new(),
            stdout,
            stderr,
        };
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    let done = line == BANNER_END;
                    dev.banner.push(line);
                    if done {
                        return dev;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = dev.child.kill();
                    let _ = dev.child.wait();
                    panic!(
                        "mcpgate dev printed no complete banner within {limit:?}\n{}",
                        dev.output()
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = dev.child.wait().unwrap();
                    panic!(
                        "mcpgate dev closed its stdout ({status}) before the banner ended\n{}",
                        dev.output()
                    );
                }
            }
        }
    }

    /// Everything printed so far, for failure messages.
    pub(crate) fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout.text(),
            self.stderr.text()
        )
    }

    /// The banner lines.
    pub(crate) fn banner(&self) -> &[String] {
        &self.banner
    }

    /// The value of the banner's `{key}: value` line.
    pub(crate) fn get(&self, key: &str) -> &str {
        let prefix = format!("{key}: ");
        self.banner
            .iter()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no `{key}:` line in {:#?}", self.banner))
    }

    pub(crate) fn port_of(&self, key: &str) -> String {
        let url = url::Url::parse(self.get(key)).unwrap();
        url.port().unwrap().to_string()
    }

    /// Sends `SIGTERM` and waits for the exit (killed and failed after
    /// [`DEADLINE`]).
    pub(crate) fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("no exit within {DEADLINE:?} of SIGTERM\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the child; returns all it printed: (stdout, stderr).
    pub(crate) fn stop(mut self) -> (String, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        (self.stdout.finish(), self.stderr.finish())
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a short-lived `mcpgate` command to its exit, bounded by [`DEADLINE`]
/// (killed and failed after it); returns its status, stdout and stderr.
pub(crate) fn run(mut cmd: Command) -> (ExitStatus, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mcpgate");
    let mut stdout = Captured::start(child.stdout.take().unwrap(), None);
    let mut stderr = Captured::start(child.stderr.take().unwrap(), None);
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} still running after {DEADLINE:?}\n{}\n{}",
                stdout.finish(),
                stderr.finish()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, stdout.finish(), stderr.finish())
}

/// [`run`], asserting success; returns the trimmed stdout.
pub(crate) fn run_ok(cmd: Command) -> String {
    let description = format!("{cmd:?}");
    let (status, stdout, stderr) = run(cmd);
    assert!(status.success(), "{description}: {status}\n{stderr}");
    stdout.trim().to_owned()
}

/// A loopback port nobody listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(mcpgate_dev_as::keys::random_digits_id(&format!(
            "mcpgate-cli-{tag}-"
        )));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An HTTP client that follows no redirects, ignores proxy settings and gives up eventually.
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(DEADLINE)
        .build()
        .unwrap()
}

/// POSTs `initialize` to `mcp_url`, with `token` as bearer if given.
pub(crate) async fn initialize(mcp_url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = http()
        .post(mcp_url)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// GETs a JSON document, asserting 200.
pub(crate) async fn get_json(url: &str) -> Value {
    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    response.json().await.unwrap()
}

/// POSTs an `application/x-www-form-urlencoded` body; returns status and JSON body.
pub(crate) async fn post_form(url: &str, form: &[(&str, &str)]) -> (reqwest::StatusCode, Value) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let response = http()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// Registers a confidential `client_credentials` client (RFC 7591) with the
/// dev authorization server at `env_url` for `resource_id`; returns (id, secret).
pub(crate) async fn register_machine_client(
    env_url: &str,
    resource_id: &str,
    scope: Option<&str>,
) -> (String, String) {
    let mut metadata = json!({
        "client_name": "mcpgate-cli tests",
        "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["client_credentials"],
    });
    if let Some(scope) = scope {
        metadata["scope"] = scope.into();
    }
    let response = http()
        .post(format!(
            "{env_url}/api/v1/resources/{resource_id}/clients:register"
        ))
        .json(&metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "registration");
    let body: Value = response.json().await.unwrap();
    (
        body["client_id"].as_str().unwrap().to_owned(),
        body["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// A `client_credentials` grant; returns the token response.
pub(crate) async fn client_credentials(
    env_url: &str,
    client: &(String, String),
    scope: Option<&str>,
) -> Value {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client.0.as_str()),
        ("client_secret", client.1.as_str()),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let (status, body) = post_form(&format!("{env_url}/oauth/token"), &form).await;
    assert_eq!(status, 200, "client_credentials: {body}");
    body
}

fn decode_segment(token: &str, index: usize) -> Value {
    let segment = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("not a JWT: {token}"));
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(segment)
            .unwrap(),
    )
    .unwrap()
}

/// The (unverified) payload of a JWT.
pub(crate) fn claims(token: &str) -> Value {
    decode_segment(token, 1)
}

/// The `kid` of a JWT's header.
pub(crate) fn kid(token: &str) -> String {
    decode_segment(token, 0)["kid"].as_str().unwrap().to_owned()
}

/// Asserts that `log` holds none of `secrets`: not whole, not as `Bearer …`,
/// not any `.`-separated segment of 10 characters or more, and not any
/// 24-character window (a truncated or re-wrapped secret).
pub(crate) fn assert_no_secret_in(log: &str, secrets: &[(&str, &str)]) {
    const WINDOW: usize = 24;
    let context = |at: usize, len: usize| {
        let end = (at + len + 200).min(log.len());
        String::from_utf8_lossy(&log.as_bytes()[at.saturating_sub(200)..end]).into_owned()
    };
    for (what, secret) in secrets {
        assert!(
            !log.contains(&format!("Bearer {secret}")),
            "an Authorization header value ({what}) was logged"
        );
        if let Some(at) = log.find(secret) {
            panic!("{what} was logged:\n…{}…", context(at, secret.len()));
        }
        for segment in secret.split('.').filter(|s| s.len() >= 10) {
            if let Some(at) = log.find(segment) {
                panic!(
                    "a segment of {what} was logged: {segment}\n…{}…",
                    context(at, segment.len())
                );
            }
        }
        for window in secret.as_bytes().windows(WINDOW) {
            let window = std::str::from_utf8(window).unwrap();
            if let Some(at) = log.find(window) {
                panic!(
                    "part of {what} was logged: {window}\n…{}…",
                    context(at, WINDOW)
                );
            }
        }
    }
}
