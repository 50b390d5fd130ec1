//! The client side: raw Streamable HTTP requests (as a client without an SDK
//! sends them), the answers a server must give, a strict `WWW-Authenticate`
//! parser, and rmcp's own client.

use std::time::Duration;

use http::{StatusCode, header};
use rmcp::ServiceExt;
use rmcp::model::CallToolResult;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use super::server::Running;

/// The protocol version the raw-HTTP tests speak.
pub(crate) const PROTOCOL_VERSION: &str = "2025-06-18";

impl Running {
    /// RFC 9728 path-inserted metadata URL, derived here independently of the library.
    pub(crate) fn metadata_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/.well-known/oauth-protected-resource/mcp",
            self.port
        )
    }

    /// `WWW-Authenticate` for an error, as this server must send it.
    pub(crate) fn challenge(&self, error: &str, description: &str) -> String {
        format!(
            r#"Bearer error="{error}", error_description="{description}", resource_metadata="{}""#,
            self.metadata_url()
        )
    }

    /// `WWW-Authenticate` for `invalid_token` with this description.
    pub(crate) fn invalid_token(&self, description: &str) -> String {
        self.challenge("invalid_token", description)
    }

    /// The bare challenge for a request without credentials.
    pub(crate) fn bare_challenge(&self) -> String {
        format!(r#"Bearer resource_metadata="{}""#, self.metadata_url())
    }

    /// A POST to the MCP endpoint with the headers Streamable HTTP requires.
    pub(crate) fn post(&self, token: Option<&str>) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .post(&self.mcp_url)
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        request
    }

    /// POSTs an `initialize` request.
    pub(crate) async fn initialize(&self, token: Option<&str>) -> reqwest::Response {
        self.post(token)
            .json(&initialize_request())
            .send()
            .await
            .expect("initialize request")
    }

    /// Initializes a session (with `token`, if any) and sends
    /// `notifications/initialized`; returns the session id.
    pub(crate) async fn open_session(&self, token: Option<&str>) -> String {
        let response = self.initialize(token).await;
        assert_eq!(response.status(), StatusCode::OK, "initialize");
        let session = response
            .headers()
            .get("mcp-session-id")
            .expect("Mcp-Session-Id on initialize")
            .to_str()
            .unwrap()
            .to_owned();
        let _ = read_jsonrpc(response).await;
        let notified = self
            .in_session(token, &session)
            .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            notified.status(),
            StatusCode::ACCEPTED,
            "notifications/initialized"
        );
        session
    }

    /// A POST within a session.
    pub(crate) fn in_session(&self, token: Option<&str>, session: &str) -> reqwest::RequestBuilder {
        self.post(token)
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", PROTOCOL_VERSION)
    }

    /// `tools/list` within a session.
    pub(crate) async fn list_tools(&self, token: Option<&str>, session: &str) -> reqwest::Response {
        self.in_session(token, session)
            .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
            .send()
            .await
            .unwrap()
    }
}

/// A JSON-RPC `initialize` request.
pub(crate) fn initialize_request() -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mcpgate-tests", "version": "0.0.0"},
        },
    })
}

/// An HTTP client that follows no redirects and ignores proxy settings.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The JSON-RPC message of a response, whether sent as JSON or as SSE.
pub(crate) async fn read_jsonrpc(response: reqwest::Response) -> Value {
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = tokio::time::timeout(Duration::from_secs(10), response.text())
        .await
        .expect("body in time")
        .unwrap();
    if !is_sse {
        return serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    }
    body.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .filter(|data| !data.is_empty())
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .find(|message| message.get("id").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC response in SSE body: {body}"))
}

/// The `WWW-Authenticate` value of a response (panics if absent).
pub(crate) fn www_authenticate(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .expect("WWW-Authenticate header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// Parses a single `Bearer` challenge strictly per RFC 9110 §11 (auth-params
/// separated by commas, values token or quoted-string with `\` escapes).
/// Returns the parameters in order, unescaped.
pub(crate) fn parse_bearer_challenge(value: &str) -> Result<Vec<(String, String)>, String> {
    let rest = value.strip_prefix("Bearer").ok_or("scheme is not Bearer")?;
    let mut chars = rest.chars().peekable();
    let mut params = Vec::new();
    let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let skip_ows = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
    };
    if rest.is_empty() {
        return Ok(params);
    }
    if chars.next() != Some(' ') {
        return Err("no space after scheme".into());
    }
    loop {
        skip_ows(&mut chars);
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if is_tchar(c) {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        if name.is_empty() {
            return Err(format!("empty parameter name in {value}"));
        }
        skip_ows(&mut chars);
        if chars.next() != Some('=') {
            return Err(format!("no `=` after {name}"));
        }
        skip_ows(&mut chars);
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated quoted-string".into()),
                    Some('"') => break,
                    Some('\\') => val.push(chars.next().ok_or("dangling escape")?),
                    Some(c) if c == '\t' || (' '..='~').contains(&c) => val.push(c),
                    Some(c) => return Err(format!("character {c:?} not allowed in quoted-string")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if is_tchar(c) {
                    val.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            if val.is_empty() {
                return Err(format!("empty value for {name}"));
            }
        }
        params.push((name, val));
        skip_ows(&mut chars);
        match chars.next() {
            None => return Ok(params),
            Some(',') => continue,
            Some(c) => return Err(format!("unexpected {c:?} after a parameter")),
        }
    }
}

/// An rmcp client connected to `mcp_url` over Streamable HTTP, sending `token`
/// as its bearer token (rmcp adds the `Bearer ` prefix itself).
pub(crate) async fn connect(
    mcp_url: &str,
    token: Option<&str>,
) -> Result<RunningService<RoleClient, ()>, String> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(mcp_url);
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    ().serve(transport).await.map_err(|e| format!("{e:?}"))
}

/// The text content of a tool result, joined.
pub(crate) fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("")
}
