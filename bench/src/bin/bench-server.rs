//! The Rust servers under test, all at `http://127.0.0.1:PORT/mcp`:
//!
//! - `--system mcpgate`: mcpgate's public API with `ScalekitProvider` against
//!   `--env-url` / `--resource-id` (tools `add` and `inspect_token`);
//!   `--verified-token-cache 0` turns mcpgate's verified-token cache off;
//!   `--policies N` installs N per-tool policies that all let the bench
//!   token call `add` (see `mcpgate_bench::policies`), to measure what
//!   evaluating them costs on every `tools/call`;
//! - `--system mcpgate-noauth`: the same server without auth;
//!
//!   both with mcpgate's default per-principal limits (50 requests per second
//!   with bursts of 100, 16 sessions; 10,000 sessions in all) unless
//!   `--rate-limit N` (requests per second and burst, per principal) and
//!   `--max-sessions N` (per principal and in all) say otherwise. The driver
//!   passes limits the load never reaches: the limiter and the session
//!   accounting stay on the request path, so their cost is measured, but no
//!   request is refused (at the defaults a closed-loop run is mostly 429s);
//! - `--system floor`: the thinnest axum handler that answers canned MCP
//!   bytes — what the HTTP stack can do at all (session-era and 2026-07-28);
//! - `--stdio` (no `--system`, no port): the same tools (`add`,
//!   `inspect_token`) over stdio without auth, one session per process — the
//!   upstream `mcpgate proxy -- bench-server --stdio` and FastMCP's proxy
//!   start for each principal (or once);
//! - `--system rmcp`: diagnostics — rmcp's Streamable HTTP service alone (no
//!   mcpgate), with `--stateless`, `--json`, `--no-priming`,
//!   `--channel-capacity N` to see what each rmcp setting costs.

use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use mcpgate::{AccessToken, Args, McpServer, RateLimit, ScalekitProvider, SessionLimits};
use mcpgate_bench::args::Flags;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// Arguments of `add`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct AddArgs {
    /// First addend.
    a: i64,
    /// Second addend.
    b: i64,
}

async fn add(Args(AddArgs { a, b }): Args<AddArgs>) -> String {
    (a + b).to_string()
}

async fn inspect_token(token: Option<AccessToken>) -> Value {
    match token {
        Some(t) => Value::Object(t.claims().clone()),
        None => json!({}),
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

const FLOOR_INIT: &str = r#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"floor","version":"0"}}}"#;
const FLOOR_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"42"}],"isError":false}}"#;
/// The same answer in the 2026-07-28 shape (`resultType`), for requests that
/// say `MCP-Protocol-Version: 2026-07-28`.
const FLOOR_CALL_STATELESS: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"42"}],"isError":false,"resultType":"complete"}}"#;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Canned answers: `initialize` gets a result and a session id, notifications
/// get 202, anything else gets the `tools/call` result for 20 + 22 (in the
/// 2026-07-28 shape when the request's `MCP-Protocol-Version` says so).
async fn floor(headers: axum::http::HeaderMap, body: Bytes) -> Response {
    let json = HeaderValue::from_static("application/json");
    if contains(&body, b"\"initialize\"") {
        let mut r = FLOOR_INIT.into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, json);
        r.headers_mut()
            .insert("mcp-session-id", HeaderValue::from_static("floor"));
        return r;
    }
    if contains(&body, b"notifications/") {
        return StatusCode::ACCEPTED.into_response();
    }
    let stateless = headers
        .get("mcp-protocol-version")
        .is_some_and(|v| v.as_bytes() == b"2026-07-28");
    let mut r = if stateless {
        FLOOR_CALL_STATELESS
    } else {
        FLOOR_CALL
    }
    .into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, json);
    r
}

/// `add` straight on rmcp's `ServerHandler`, for the diagnostic variants.
#[derive(Clone)]
struct RawAdd {
    tools: std::sync::Arc<Vec<rmcp::model::Tool>>,
}

impl rmcp::ServerHandler for RawAdd {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        rmcp::model::ServerConfig::new(
            rmcp::model::ServerCapabilities::builder()
                .enable_tools()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<rmcp::model::PaginatedRequestParams>,
        _context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::ListToolsResult, rmcp::ErrorData> {
        Ok(rmcp::model::ListToolsResult::with_all_items(
            self.tools.to_vec(),
        ))
    }

    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        _context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let get = |k: &str| args.get(k).and_then(Value::as_i64);
        let (Some(a), Some(b)) = (get("a"), get("b")) else {
            return Err(rmcp::ErrorData::invalid_params(
                "a and b must be integers",
                None,
            ));
        };
        Ok(
            rmcp::model::CallToolResult::success(vec![rmcp::model::ContentBlock::text(
                (a + b).to_string(),
            )])
            .into(),
        )
    }
}

async fn serve_rmcp(listener: TcpListener, flags: &Flags) -> anyhow::Result<()> {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
    let schema: rmcp::model::JsonObject = serde_json::from_value(json!({
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    }))?;
    let handler = RawAdd {
        tools: std::sync::Arc::new(vec![rmcp::model::Tool::new(
            "add".to_owned(),
            "Adds two integers".to_owned(),
            std::sync::Arc::new(schema),
        )]),
    };
    let mut sessions = LocalSessionManager::default();
    if let Some(n) = flags.get("channel-capacity") {
        sessions.session_config.channel_capacity = n.parse()?;
    }
    let mut config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .with_legacy_session_mode(!flags.has("stateless"))
        .with_json_response(flags.has("json"));
    if flags.has("no-priming") {
        sessions.session_config.sse_retry = None;
        config = config.with_sse_retry(None).with_sse_keep_alive(None);
    }
    let service = StreamableHttpService::new(
        move || Ok(handler.clone()),
        std::sync::Arc::new(sessions),
        config,
    );
    let app = Router::new().route_service("/mcp", service);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

async fn serve_floor(listener: TcpListener) -> anyhow::Result<()> {
    let app = Router::new().route("/mcp", post(floor));
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::from_env().map_err(anyhow::Error::msg)?;
    if flags.has("stdio") {
        // Stdout carries the protocol: nothing else may be printed there.
        McpServer::new("bench")
            .tool("add", "Adds two integers", add)
            .tool(
                "inspect_token",
                "Returns the caller's JWT claims",
                inspect_token,
            )
            .serve_stdio()
            .await?;
        return Ok(());
    }
    let system = flags
        .require("system")
        .map_err(anyhow::Error::msg)?
        .to_owned();
    let port: u16 = flags.parse_or("port", 0).map_err(anyhow::Error::msg)?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let mcp_url = format!("http://{}/mcp", listener.local_addr()?);
    let server = McpServer::new("bench")
        .tool("add", "Adds two integers", add)
        .tool(
            "inspect_token",
            "Returns the caller's JWT claims",
            inspect_token,
        );
    let server = match flags.get("rate-limit") {
        Some(n) => {
            let n: u32 = n.parse().context("--rate-limit")?;
            server.rate_limit(RateLimit::per_second(n).burst(n))
        }
        None => server,
    };
    let server = match flags.get("max-sessions") {
        Some(n) => {
            let n: usize = n.parse().context("--max-sessions")?;
            server.session_limits(SessionLimits::default().with_per_principal(n).with_total(n))
        }
        None => server,
    };
    match system.as_str() {
        "floor" => serve_floor(listener).await,
        "rmcp" => serve_rmcp(listener, &flags).await,
        "mcpgate" => {
            let env_url = flags.require("env-url").map_err(anyhow::Error::msg)?;
            let resource_id = flags.require("resource-id").map_err(anyhow::Error::msg)?;
            let mut provider = ScalekitProvider::new(env_url, resource_id, mcp_url);
            if let Some(n) = flags.get("verified-token-cache") {
                provider = provider.verified_token_cache(n.parse()?);
            }
            let policies: usize = flags.parse_or("policies", 0).map_err(anyhow::Error::msg)?;
            let server = server
                .auth(provider)
                .policies(mcpgate_bench::policies::rules(policies));
            server
                .serve_with_shutdown(listener, shutdown_signal())
                .await?;
            Ok(())
        }
        "mcpgate-noauth" => {
            server
                .allow_unauthenticated()
                .mcp_url(mcp_url)
                .serve_with_shutdown(listener, shutdown_signal())
                .await?;
            Ok(())
        }
        other => anyhow::bail!(
            "unknown --system {other} (mcpgate, mcpgate-noauth, floor, rmcp; or --stdio)"
        ),
    }
}
