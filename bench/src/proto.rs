//! A minimal MCP Streamable HTTP client: one HTTP/1.1 keep-alive connection,
//! either session-era (`initialize` → `notifications/initialized`, then
//! `tools/call` with `Mcp-Session-Id`) or stateless 2026-07-28 (every
//! `tools/call` self-contained, sent as the official Python SDK client sends
//! it). Responses may be JSON or SSE (`data:` lines); both are parsed and checked.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// The protocol revision the client asks for (served by rmcp and the Python SDK).
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// The stateless revision: no `initialize`, no session; the version and the
/// client's identity travel in every request's `_meta`.
pub const STATELESS_PROTOCOL_VERSION: &str = "2026-07-28";

/// Which protocol era a load run speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Session-era (2025-06-18): a session per connection or one shared.
    Session,
    /// 2026-07-28: no session; each `tools/call` carries `MCP-Protocol-Version`,
    /// `Mcp-Method`, `Mcp-Name` and the `_meta` keys.
    Stateless,
}

/// Where a server under test listens.
#[derive(Debug, Clone)]
pub struct Target {
    /// Socket address to connect to.
    pub addr: SocketAddr,
    /// The `Host` header (must match the server's MCP URL for mcpgate's guard).
    pub host: String,
    /// The MCP endpoint path, `/mcp`.
    pub path: String,
}

impl Target {
    /// `http://127.0.0.1:{port}/mcp`.
    pub fn loopback(port: u16) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            host: format!("127.0.0.1:{port}"),
            path: "/mcp".to_owned(),
        }
    }

    /// The MCP URL.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.host, self.path)
    }
}

/// Why a request did not produce a correct result.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// Connect, write or read failed.
    Transport(String),
    /// No answer within the request timeout.
    Timeout,
    /// An HTTP status other than the expected one.
    Status(u16),
    /// A 200 whose body is not the expected JSON-RPC result.
    BadResult(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "transport: {e}"),
            Self::Timeout => write!(f, "timeout"),
            Self::Status(s) => write!(f, "HTTP {s}"),
            Self::BadResult(e) => write!(f, "bad result: {e}"),
        }
    }
}

/// A raw HTTP response.
#[derive(Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// `Mcp-Session-Id`, if the server sent one.
    pub session_id: Option<String>,
    /// The whole body (an SSE stream is read to its end).
    pub body: Bytes,
}

/// One keep-alive HTTP/1.1 connection to a server under test.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    target: Target,
    driver: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("target", &self.target.addr)
            .finish()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Connection {
    /// Opens a connection (TCP_NODELAY, as the servers set it too).
    pub async fn open(target: &Target) -> Result<Self, Failure> {
        let stream = TcpStream::connect(target.addr)
            .await
            .map_err(|e| Failure::Transport(e.to_string()))?;
        stream
            .set_nodelay(true)
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self {
            sender,
            target: target.clone(),
            driver,
        })
    }

    /// POSTs a JSON-RPC message to the MCP endpoint and reads the whole answer.
    pub async fn post(
        &mut self,
        body: Bytes,
        token: Option<&str>,
        session: Option<&str>,
        timeout: Duration,
    ) -> Result<Response, Failure> {
        let mut builder = self.request_builder(token);
        if let Some(session) = session {
            builder = builder
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", PROTOCOL_VERSION);
        }
        self.send(builder, body, timeout).await
    }

    /// POSTs a 2026-07-28 request: the SEP-2243 headers the official Python
    /// client sends (`MCP-Protocol-Version`, `Mcp-Method`, and `Mcp-Name`
    /// for a named method), no session.
    pub async fn post_stateless(
        &mut self,
        body: Bytes,
        token: Option<&str>,
        method: &str,
        name: Option<&str>,
        timeout: Duration,
    ) -> Result<Response, Failure> {
        let mut builder = self
            .request_builder(token)
            .header("mcp-protocol-version", STATELESS_PROTOCOL_VERSION)
            .header("mcp-method", method);
        if let Some(name) = name {
            builder = builder.header("mcp-name", name);
        }
        self.send(builder, body, timeout).await
    }

    fn request_builder(&self, token: Option<&str>) -> http::request::Builder {
        let mut builder = http::Request::post(self.target.path.as_str())
            .header(http::header::HOST, self.target.host.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json, text/event-stream");
        if let Some(token) = token {
            builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        builder
    }

    async fn send(
        &mut self,
        builder: http::request::Builder,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Response, Failure> {
        let request = builder
            .body(Full::new(body))
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let exchange = async {
            self.sender
                .ready()
                .await
                .map_err(|e| Failure::Transport(e.to_string()))?;
            let response = self
                .sender
                .send_request(request)
                .await
                .map_err(|e| Failure::Transport(e.to_string()))?;
            let status = response.status().as_u16();
            let session_id = response
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| Failure::Transport(e.to_string()))?
                .to_bytes();
            Ok(Response {
                status,
                session_id,
                body,
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| Failure::Timeout)?
    }
}

/// A one-off request on a fresh connection (token minting, key rotation).
pub async fn simple_request(
    addr: SocketAddr,
    method: http::Method,
    path: &str,
    timeout: Duration,
) -> Result<(u16, Bytes), Failure> {
    let exchange = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, addr.to_string())
            .body(Full::new(Bytes::new()))
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Failure::Transport(e.to_string()))?
            .to_bytes();
        driver.abort();
        Ok((status, body))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| Failure::Timeout)?
}

/// The `initialize` request.
pub fn initialize_body() -> Bytes {
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{PROTOCOL_VERSION}","capabilities":{{}},"clientInfo":{{"name":"mcpgate-bench","version":"0.1.0"}}}}}}"#
    ))
}

/// The `notifications/initialized` notification.
pub fn initialized_body() -> Bytes {
    Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
}

/// A `tools/call` of `add(a, b)` with request id `id`.
pub fn add_call_body(id: u64, a: i64, b: i64) -> Bytes {
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"add","arguments":{{"a":{a},"b":{b}}}}}}}"#
    ))
}

/// A 2026-07-28 `tools/call` of `add(a, b)` with request id `id`, with the
/// `_meta` keys the official Python client sends.
pub fn stateless_add_call_body(id: u64, a: i64, b: i64) -> Bytes {
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"add","arguments":{{"a":{a},"b":{b}}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"{STATELESS_PROTOCOL_VERSION}","io.modelcontextprotocol/clientInfo":{{"name":"mcpgate-bench","version":"0.1.0"}},"io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
    ))
}

/// The JSON-RPC messages in a body: the body itself if it is JSON, else
/// every SSE `data:` line that parses (priming events carry empty data).
pub fn messages(body: &[u8]) -> Vec<Value> {
    let trimmed = body.trim_ascii_start();
    if trimmed.first() == Some(&b'{') {
        return serde_json::from_slice(trimmed).into_iter().collect();
    }
    body.split(|b| *b == b'\n')
        .filter_map(|line| line.strip_prefix(b"data:"))
        .filter_map(|data| serde_json::from_slice(data.trim_ascii()).ok())
        .collect()
}

/// Checks a `tools/call add` answer: status 200, a JSON-RPC response with our
/// id whose `result.content[0].text` is the expected sum.
pub fn check_add(response: &Response, id: u64, expected: i64) -> Result<(), Failure> {
    if response.status != 200 {
        return Err(Failure::Status(response.status));
    }
    let messages = messages(&response.body);
    let Some(message) = messages
        .iter()
        .find(|m| m.get("id").and_then(Value::as_u64) == Some(id))
    else {
        return Err(Failure::BadResult("no response with our id".to_owned()));
    };
    let text = message
        .pointer("/result/content/0/text")
        .and_then(Value::as_str);
    let is_error = message
        .pointer("/result/isError")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    match text {
        Some(t) if !is_error && t.trim().parse::<i64>() == Ok(expected) => Ok(()),
        _ => Err(Failure::BadResult(
            String::from_utf8_lossy(&response.body)
                .chars()
                .take(200)
                .collect(),
        )),
    }
}

/// Checks a 2026-07-28 `tools/call add` answer: everything [`check_add`]
/// checks, plus what the revision requires of the answer: `resultType:
/// "complete"` and no `Mcp-Session-Id`.
pub fn check_stateless_add(response: &Response, id: u64, expected: i64) -> Result<(), Failure> {
    check_add(response, id, expected)?;
    if response.session_id.is_some() {
        return Err(Failure::BadResult(
            "a 2026-07-28 answer carries an Mcp-Session-Id".to_owned(),
        ));
    }
    let complete = messages(&response.body).iter().any(|m| {
        m.get("id").and_then(Value::as_u64) == Some(id)
            && m.pointer("/result/resultType").and_then(Value::as_str) == Some("complete")
    });
    if !complete {
        return Err(Failure::BadResult(
            "a 2026-07-28 result without resultType \"complete\"".to_owned(),
        ));
    }
    Ok(())
}

/// One 2026-07-28 `tools/call add(a, b)`, no session, checked.
pub async fn call_add_stateless(
    conn: &mut Connection,
    token: Option<&str>,
    id: u64,
    (a, b): (i64, i64),
    timeout: Duration,
) -> Result<(), Failure> {
    let response = conn
        .post_stateless(
            stateless_add_call_body(id, a, b),
            token,
            "tools/call",
            Some("add"),
            timeout,
        )
        .await?;
    check_stateless_add(&response, id, a + b)
}

/// Opens an MCP session on `conn`: `initialize`, then `notifications/initialized`.
/// Returns the session id (servers without sessions get an empty one).
pub async fn open_session(
    conn: &mut Connection,
    token: Option<&str>,
    timeout: Duration,
) -> Result<String, Failure> {
    let init = conn.post(initialize_body(), token, None, timeout).await?;
    if init.status != 200 {
        return Err(Failure::Status(init.status));
    }
    let ok = messages(&init.body)
        .iter()
        .any(|m| m.pointer("/result/protocolVersion").is_some());
    if !ok {
        return Err(Failure::BadResult(format!(
            "initialize: {}",
            String::from_utf8_lossy(&init.body)
                .chars()
                .take(200)
                .collect::<String>()
        )));
    }
    let session = init.session_id.unwrap_or_default();
    let sid = (!session.is_empty()).then_some(session.as_str());
    let note = conn.post(initialized_body(), token, sid, timeout).await?;
    if !(200..300).contains(&note.status) {
        return Err(Failure::Status(note.status));
    }
    Ok(session)
}

/// One `tools/call add(a, b)` on an open session, checked.
pub async fn call_add(
    conn: &mut Connection,
    token: Option<&str>,
    session: &str,
    id: u64,
    (a, b): (i64, i64),
    timeout: Duration,
) -> Result<(), Failure> {
    let sid = (!session.is_empty()).then_some(session);
    let response = conn
        .post(add_call_body(id, a, b), token, sid, timeout)
        .await?;
    check_add(&response, id, a + b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: &str) -> Response {
        Response {
            status: 200,
            session_id: None,
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn json_and_sse_answers_are_checked() {
        let json = r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"5"}],"isError":false}}"#;
        assert_eq!(check_add(&response(json), 7, 5), Ok(()));
        assert!(check_add(&response(json), 8, 5).is_err());
        assert!(check_add(&response(json), 7, 6).is_err());
        let sse = format!("id: 0\ndata: \n\nevent: message\ndata: {json}\n\n");
        assert_eq!(check_add(&response(&sse), 7, 5), Ok(()));
        let error = r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"5"}],"isError":true}}"#;
        assert!(check_add(&response(error), 7, 5).is_err());
    }

    #[test]
    fn stateless_answers_must_be_complete_and_sessionless() {
        let old = r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"5"}],"isError":false}}"#;
        assert!(check_stateless_add(&response(old), 7, 5).is_err());
        let new = r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"5"}],"isError":false,"resultType":"complete"}}"#;
        assert_eq!(check_stateless_add(&response(new), 7, 5), Ok(()));
        let mut with_session = response(new);
        with_session.session_id = Some("s".to_owned());
        assert!(check_stateless_add(&with_session, 7, 5).is_err());
        let body: Value = serde_json::from_slice(&stateless_add_call_body(1, 2, 3)).unwrap();
        assert_eq!(
            body.pointer("/params/_meta/io.modelcontextprotocol~1protocolVersion"),
            Some(&Value::from(STATELESS_PROTOCOL_VERSION))
        );
    }

    #[test]
    fn bodies_are_valid_json() {
        for body in [
            initialize_body(),
            initialized_body(),
            add_call_body(3, -1, 2),
            stateless_add_call_body(3, -1, 2),
        ] {
            serde_json::from_slice::<Value>(&body).unwrap();
        }
    }
}
