//! The fast path: a plain `tools/call` answered inside the connection's
//! task, without rmcp's service — stateless (2026-07-28) requests, and
//! requests on an established session.
//!
//! rmcp 3.11 answers a stateless request by building a one-shot transport, a
//! service loop on a spawned task and channels between them; a session's
//! request crosses four tasks (the session worker, the service loop, the
//! handler) and a dozen allocations. For a tool that needs no peer that is
//! all overhead around a function call (`bench/analysis.md` measures it).
//! This layer sits between mcpgate-auth's guard (Host, Origin,
//! authentication, rate limits and the session's binding to its principal
//! have been checked when it sees a request) and rmcp's service, and takes
//! only requests it can answer exactly as rmcp would:
//!
//! - `POST` with an `Accept` listing `application/json` and
//!   `text/event-stream` without parameters, a JSON `Content-Type` and no
//!   `Mcp-Param-*` header; then either
//!   - stateless: `MCP-Protocol-Version: 2026-07-28`, one `Mcp-Method:
//!     tools/call`, one plain `Mcp-Name` equal to the body's tool name, no
//!     `Mcp-Session-Id`, and a `_meta` with protocol version 2026-07-28 and
//!     the client capabilities; or
//!   - session-era: one `Mcp-Session-Id` of a session rmcp holds (and saw
//!     recently, see `session_table`), `MCP-Protocol-Version` equal to the
//!     version it negotiated, and no protocol version in `_meta`;
//! - a body within the size limit that is one JSON-RPC request with exactly
//!   the fields of a plain call (`jsonrpc: "2.0"`, `id`, `method:
//!   "tools/call"`, `params` with `name`, optional `arguments` and `_meta`;
//!   no `inputResponses`, `requestState` or `task`);
//! - a registered tool that needs no request context and asks for no
//!   `Mcp-Param-*` headers ([`ToolRegistry::inline_handler`]).
//!
//! It also opens sessions: a plain `initialize` (no version header, a
//! session-era version this server speaks) is answered with the adapter's
//! own `negotiate_initialize`, and the session is recorded in the
//! `session_table` without an rmcp session behind it (a lazy session, which
//! rmcp restores from the table when a request needs it); on such a session
//! `notifications/initialized` gets rmcp's `202` and `DELETE` ends it here.
//!
//! Everything else, including every request rmcp would refuse (wrong
//! headers, unknown tool, malformed `_meta`), goes to rmcp unchanged, with
//! the body already read handed over as it was, so every error keeps rmcp's
//! status and JSON-RPC code. The body is read (and limited) once, here; an
//! oversized or unreadable body gets rmcp's own answer. The result is the
//! same `CallToolResult` the rmcp path builds, shaped as rmcp shapes it for
//! the request's version (`resultType` and cache hints for 2026-07-28, the
//! legacy shape for a session), and framed as rmcp frames it: `200
//! application/json` for 2026-07-28 (rmcp's `json_response`), an SSE stream
//! with rmcp's priming event for a session.

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use mcpgate_auth::AccessToken;
use rmcp::ServerHandler as _;
use rmcp::model::{
    CallToolResponse, ErrorData, InitializeRequestParams, JsonObject, JsonRpcError, MetaObject,
    ProtocolVersion, RequestId, RequestMetaObject, ServerJsonRpcMessage, ServerResult,
};
use rmcp::transport::common::server_side_http::session_id;
use rmcp::transport::streamable_http_server::session::SessionId;
use serde::Deserialize;
use tower_service::Service;

use super::adapter::RmcpAdapter;
use super::session_table::SessionTable;
use crate::handler::Call;
use crate::tools::{ToolRegistry, run_tool};

/// The stateless revision.
const VERSION: &str = "2026-07-28";

/// The `_meta` key of a request's own protocol version.
const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// What the fast path needs of the server: the tools, the shared state and
/// rmcp's sessions.
pub(super) struct Shared {
    tools: ToolRegistry,
    state: Arc<http::Extensions>,
    sessions: Arc<SessionTable>,
    /// Answers `initialize` as rmcp's session would (`negotiate_initialize`).
    adapter: RmcpAdapter,
    /// rmcp's SSE retry hint for session streams (its priming event).
    sse_retry: Option<Duration>,
    /// Numbers the fast path's SSE events (see [`Shared::sse`]).
    events: AtomicU64,
    max_body_bytes: usize,
}

impl Shared {
    pub(super) fn new(
        tools: ToolRegistry,
        state: Arc<http::Extensions>,
        sessions: Arc<SessionTable>,
        adapter: RmcpAdapter,
        sse_retry: Option<Duration>,
        max_body_bytes: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            tools,
            state,
            sessions,
            adapter,
            sse_retry,
            events: AtomicU64::new(0),
            max_body_bytes,
        })
    }
}

/// Which kind of request the headers announce.
#[derive(Clone)]
enum Route {
    /// 2026-07-28, no session.
    Stateless,
    /// On an established session (`id`) that negotiated this version.
    Session(ProtocolVersion, SessionId),
    /// A session-era POST without a session: perhaps an `initialize`.
    Open,
    /// `DELETE` of a lazy session.
    Close(SessionId),
}

/// The fast path in front of `inner` (rmcp's service, which gets everything
/// the fast path does not take).
#[derive(Clone)]
pub(super) struct FastPath<S> {
    shared: Arc<Shared>,
    inner: S,
}

impl<S> FastPath<S> {
    pub(super) fn new(shared: Arc<Shared>, inner: S) -> Self {
        Self { shared, inner }
    }
}

impl<S> Service<Request> for FastPath<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let Some(route) = candidate(request.method(), request.headers(), &self.shared.sessions)
        else {
            return Box::pin(self.inner.call(request));
        };
        // The inner service was made ready for this call; keep that one and
        // leave a fresh clone in its place (tower's usual hand-over).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            if let Route::Close(id) = &route {
                // rmcp's answer to a DELETE; the guard makes it a 204.
                if shared.sessions.close_lazy(id) {
                    return Ok(StatusCode::ACCEPTED.into_response());
                }
                return inner.call(request).await;
            }
            let (parts, body) = request.into_parts();
            let bytes = match read_body(body, shared.max_body_bytes).await {
                Ok(bytes) => bytes,
                Err(response) => return Ok(response),
            };
            if let Some(call) = shared.parse(&route, &parts.headers, &bytes, &parts.extensions) {
                return Ok(shared.answer(call).await);
            }
            if let Some(response) = shared.session_message(&route, &parts.headers, &bytes) {
                return Ok(response);
            }
            inner
                .call(Request::from_parts(parts, Body::from(bytes)))
                .await
        })
    }
}

/// The header checks, before anything is read: cheap, and exact where rmcp
/// has a rule (every refusal rmcp would make is left to rmcp).
fn candidate(method: &Method, headers: &HeaderMap, sessions: &SessionTable) -> Option<Route> {
    if *method == Method::DELETE {
        let id = std::str::from_utf8(single(headers, "mcp-session-id")?).ok()?;
        // rmcp refuses a DELETE that names an unknown or a stateless version.
        let version_ok = match headers.get("mcp-protocol-version") {
            None => true,
            Some(v) => sessions
                .fast_version(id)
                .is_some_and(|negotiated| v.as_bytes() == negotiated.as_str().as_bytes()),
        };
        return (version_ok && sessions.is_lazy(id)).then(|| Route::Close(Arc::from(id)));
    }
    let plain = *method == Method::POST
        && !headers
            .keys()
            .any(|name| name.as_str().starts_with("mcp-param-"))
        && accepts_json_and_sse(headers)
        && headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let essence = v.split_once(';').map_or(v, |(essence, _)| essence);
                essence.trim().eq_ignore_ascii_case("application/json")
            });
    if !plain {
        return None;
    }
    if !headers.contains_key("mcp-session-id") && !headers.contains_key("mcp-protocol-version") {
        // The handshake: clients send no version header before it. (With
        // one, rmcp's checks of header against body apply: left to rmcp.)
        return (!headers.contains_key("mcp-method")).then_some(Route::Open);
    }
    let version = single(headers, "mcp-protocol-version")?;
    if !headers.contains_key("mcp-session-id") {
        let stateless = version == VERSION.as_bytes()
            && single(headers, "mcp-method").is_some_and(|v| v == b"tools/call")
            // A Base64-wrapped or non-visible-ASCII name is left to rmcp's decoder.
            && single(headers, "mcp-name").is_some_and(|v| {
                HeaderValue::from_bytes(v).is_ok_and(|v| v.to_str().is_ok())
                    && !v.starts_with(b"=?")
            });
        return stateless.then_some(Route::Stateless);
    }
    let id = std::str::from_utf8(single(headers, "mcp-session-id")?).ok()?;
    let negotiated = sessions.fast_version(id)?;
    // Clients repeat the negotiated version on every request of a session;
    // anything else (rmcp accepts any known version) is left to rmcp.
    (version == negotiated.as_str().as_bytes()).then(|| Route::Session(negotiated, Arc::from(id)))
}

/// The only value of `name`, if it occurs exactly once.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    values.next().is_none().then_some(first.as_bytes())
}

/// `Accept` lists both media types rmcp requires, in the plain form clients
/// send (`application/json, text/event-stream`). Parameters (`q=`), quotes
/// and anything unusual are left to rmcp's parser.
fn accepts_json_and_sse(headers: &HeaderMap) -> bool {
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        if value.contains([';', '"']) {
            return false;
        }
        for essence in value.split(',').map(str::trim) {
            json |= essence.eq_ignore_ascii_case("application/json");
            sse |= essence.eq_ignore_ascii_case("text/event-stream");
        }
    }
    json && sse
}

/// Reads the body with rmcp's limit and rmcp's answers when it is exceeded or
/// the body fails (`413` and `500`, plain text), so the caller cannot tell
/// which layer read it.
async fn read_body(body: Body, max_bytes: usize) -> Result<Bytes, Response> {
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Payload Too Large: request body exceeds {max_bytes} bytes"),
        )
    };
    if body.size_hint().lower() > max_bytes as u64 {
        return Err(plain(too_large()));
    }
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut rest: Vec<u8> = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|e| {
            plain((
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Failed to read request body: {e}"),
            ))
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let so_far = first.as_ref().map_or(0, Bytes::len) + rest.len();
        if data.len() > max_bytes.saturating_sub(so_far) {
            return Err(plain(too_large()));
        }
        // The usual body is one frame: keep it without copying.
        match &first {
            None => first = Some(data),
            Some(head) => {
                if rest.is_empty() {
                    rest.extend_from_slice(head);
                }
                rest.extend_from_slice(&data);
            }
        }
    }
    Ok(if rest.is_empty() {
        first.unwrap_or_default()
    } else {
        Bytes::from(rest)
    })
}

fn plain((status, text): (StatusCode, String)) -> Response {
    (status, text).into_response()
}

/// A plain `tools/call` request: exactly these fields, or it is not ours.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(borrow)]
    jsonrpc: &'a str,
    id: RequestId,
    #[serde(borrow)]
    method: &'a str,
    params: Params,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    name: String,
    #[serde(default)]
    arguments: Option<JsonObject>,
    #[serde(default, rename = "_meta")]
    meta: Option<JsonObject>,
}

/// An `initialize` request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Initialize<'a> {
    #[serde(borrow)]
    jsonrpc: &'a str,
    id: RequestId,
    #[serde(borrow)]
    method: &'a str,
    params: InitializeRequestParams,
}

/// A notification.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Notification<'a> {
    #[serde(borrow)]
    jsonrpc: &'a str,
    #[serde(borrow)]
    method: &'a str,
    #[serde(default, rename = "params")]
    _params: Option<JsonObject>,
}

/// A request the fast path takes: the call, the request id and how to
/// shape the answer.
struct FastCall {
    id: RequestId,
    call: Call,
    route: Route,
}

impl Shared {
    /// The call, if the request is one the fast path answers exactly as
    /// rmcp would (see the module docs); `None` sends it to rmcp.
    fn parse(
        &self,
        route: &Route,
        headers: &HeaderMap,
        body: &[u8],
        extensions: &http::Extensions,
    ) -> Option<FastCall> {
        if matches!(route, Route::Open | Route::Close(_)) {
            return None;
        }
        let envelope: Envelope<'_> = serde_json::from_slice(body).ok()?;
        if envelope.jsonrpc != "2.0" || envelope.method != "tools/call" {
            return None;
        }
        let params = envelope.params;
        let meta = params.meta.unwrap_or_default();
        let has_version = meta.contains_key(META_PROTOCOL_VERSION);
        let meta = RequestMetaObject::from(MetaObject(meta));
        match route {
            Route::Open | Route::Close(_) => return None,
            Route::Stateless => {
                // SEP-2243: the header must name the tool the body calls.
                if headers.get("mcp-name")?.as_bytes() != params.name.as_bytes() {
                    return None;
                }
                // The version rmcp reads from `_meta` must be the header's,
                // and the keys 2026-07-28 requires must be there and well-formed.
                if meta.protocol_version()? != ProtocolVersion::V_2026_07_28
                    || !meta
                        .missing_required_keys(&ProtocolVersion::V_2026_07_28)
                        .is_empty()
                {
                    return None;
                }
            }
            // A per-request version in a session is checked against the
            // header by rmcp (and may be refused): not ours.
            Route::Session(..) => {
                if has_version {
                    return None;
                }
            }
        }
        self.tools.inline_handler(&params.name)?;
        let token = extensions.get::<Arc<AccessToken>>().cloned();
        let call = Call::new(
            params.name,
            params.arguments.unwrap_or_default(),
            token,
            None,
            None,
            self.state.clone(),
        );
        Some(FastCall {
            id: envelope.id,
            call,
            route: route.clone(),
        })
    }

    /// The session messages the fast path answers besides `tools/call`:
    /// `initialize` (opening a lazy session, see `session_table`) and, on a
    /// lazy session, `notifications/initialized`. `None` sends the request
    /// to rmcp (which restores a lazy session it is sent for).
    fn session_message(&self, route: &Route, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
        match route {
            Route::Open => self.initialize(body),
            Route::Session(_, id) if self.sessions.is_lazy(id) => {
                let note: Notification<'_> = serde_json::from_slice(body).ok()?;
                // Mcp-Method is SEP-2243's, checked by rmcp from 2026-07-28 on
                // only; a session never negotiates that, so it is not looked at.
                let _ = headers;
                (note.jsonrpc == "2.0" && note.method == "notifications/initialized")
                    .then(|| StatusCode::ACCEPTED.into_response())
            }
            _ => None,
        }
    }

    /// Answers `initialize` as rmcp's session would, and opens a lazy session.
    fn initialize(&self, body: &[u8]) -> Option<Response> {
        let request: Initialize<'_> = serde_json::from_slice(body).ok()?;
        if request.jsonrpc != "2.0" || request.method != "initialize" {
            return None;
        }
        let requested = request.params.protocol_version.clone();
        // Only the plain case: the client asks for a session-era version
        // this server speaks, and gets it. Negotiation is rmcp's.
        if !requested.has_initialize() {
            return None;
        }
        let negotiated = self.adapter.negotiate_initialize(&request.params).ok()?;
        if negotiated.protocol_version != requested {
            return None;
        }
        let mut result = ServerResult::InitializeResult(negotiated);
        result.strip_result_type_for_legacy_peer();
        let id = session_id();
        let message = ServerJsonRpcMessage::response(result, request.id);
        let mut response = json(StatusCode::OK, &message);
        let header = HeaderValue::from_str(&id).ok()?;
        self.sessions.open_lazy(&id, requested, request.params);
        response.headers_mut().insert("mcp-session-id", header);
        Some(response)
    }

    /// Runs the tool in this task and answers with the JSON-RPC response
    /// rmcp would send, as `200 application/json`.
    async fn answer(&self, FastCall { id, call, route }: FastCall) -> Response {
        let Some(handler) = self.tools.inline_handler(call.name()) else {
            // `parse` checked it; the registry does not change while serving.
            return json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &error(id, ErrorData::internal_error("tool vanished", None)),
            );
        };
        // A panicking tool must not take the connection down with it; rmcp
        // runs handlers on their own task for the same reason.
        let result = AssertUnwindSafe(run_tool(handler, call))
            .catch_unwind()
            .await;
        let session = matches!(route, Route::Session(..));
        let message = match result {
            Ok(result) => {
                let mut result = ServerResult::from(CallToolResponse::from(result));
                // What rmcp's handler does for the request's version.
                match route {
                    Route::Session(version, _) if version < ProtocolVersion::V_2026_07_28 => {
                        result.strip_result_type_for_legacy_peer();
                        result.strip_non_object_output_for_legacy_peer();
                    }
                    _ => result.fill_missing_cache_hints(),
                }
                ServerJsonRpcMessage::response(result, id)
            }
            Err(_) => {
                tracing::error!("a tool handler panicked");
                error(
                    id,
                    ErrorData::internal_error("the tool handler panicked", None),
                )
            }
        };
        if session {
            return self.sse(&message);
        }
        json(StatusCode::OK, &message)
    }

    /// A session's answer framed as rmcp frames it: an SSE stream with the
    /// priming event (id and retry hint, SEP-1699) and the message event.
    /// The stream is complete when sent, so a client never needs to resume
    /// it; its event ids (`0/fN`, `1/fN`) are outside rmcp's numbering, and
    /// resuming from one gets rmcp's empty stream.
    fn sse(&self, message: &ServerJsonRpcMessage) -> Response {
        let Ok(data) = serde_json::to_string(message) else {
            return json(StatusCode::OK, message);
        };
        let n = self.events.fetch_add(1, Ordering::Relaxed);
        let mut body = String::with_capacity(data.len() + 64);
        if let Some(retry) = self.sse_retry {
            body.push_str(&format!(
                "data: \nid: 0/f{n}\nretry: {}\n\n",
                retry.as_millis()
            ));
        }
        body.push_str(&format!("data: {data}\nid: 1/f{n}\n\n"));
        let mut response = (StatusCode::OK, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }
}

fn error(id: RequestId, error: ErrorData) -> ServerJsonRpcMessage {
    ServerJsonRpcMessage::Error(JsonRpcError::new(Some(id), error))
}

fn json(status: StatusCode, message: &ServerJsonRpcMessage) -> Response {
    match serde_json::to_vec(message) {
        Ok(body) => {
            let mut response = (status, body).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "could not serialise a tool result");
            plain((
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not serialise the result".to_owned(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    const PLAIN: &[(&str, &str)] = &[
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "add"),
        ("accept", "application/json, text/event-stream"),
        ("content-type", "application/json"),
    ];

    fn candidate(method: &Method, headers: &HeaderMap) -> bool {
        let endpoint = mcpgate_auth::http::ProtectedEndpoint::unauthenticated(
            mcpgate_auth::McpUrl::parse("http://127.0.0.1:1/mcp").unwrap(),
        );
        let sessions =
            SessionTable::new(std::time::Duration::from_secs(60), endpoint.session_hook());
        matches!(
            super::candidate(method, headers, &sessions),
            Some(Route::Stateless)
        )
    }

    #[test]
    fn only_plain_2026_tool_calls_are_candidates() {
        assert!(candidate(&Method::POST, &headers(PLAIN)));
        assert!(!candidate(&Method::GET, &headers(PLAIN)));
        let with = |extra: (&'static str, &'static str)| {
            let mut h = headers(PLAIN);
            h.append(extra.0, HeaderValue::from_static(extra.1));
            candidate(&Method::POST, &h)
        };
        // Duplicates, sessions, parameter headers: rmcp decides.
        assert!(!with(("mcp-method", "tools/call")));
        assert!(!with(("mcp-session-id", "abc")));
        assert!(!with(("mcp-param-region", "eu")));
        let without = |name: &str| {
            let mut h = headers(PLAIN);
            h.remove(name);
            candidate(&Method::POST, &h)
        };
        assert!(!without("mcp-name"));
        assert!(!without("accept"));
        assert!(!without("content-type"));
        let replaced = |name: &'static str, value: &'static str| {
            let mut h = headers(PLAIN);
            h.insert(name, HeaderValue::from_static(value));
            candidate(&Method::POST, &h)
        };
        assert!(!replaced("mcp-protocol-version", "2025-11-25"));
        assert!(!replaced("mcp-method", "tools/list"));
        assert!(!replaced("mcp-name", "=?base64?YWRk?="));
        assert!(!replaced("accept", "application/json"));
        assert!(!replaced(
            "accept",
            "application/json;q=0, text/event-stream"
        ));
        assert!(replaced("content-type", "application/json; charset=utf-8"));
        assert!(!replaced("content-type", "text/plain"));
    }

    #[tokio::test]
    async fn the_body_limit_answers_as_rmcp_does() {
        let response = read_body(Body::from(vec![b'x'; 11]), 10).await.unwrap_err();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let text = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(
            &text[..],
            b"Payload Too Large: request body exceeds 10 bytes"
        );
        let ok = read_body(Body::from("0123456789"), 10).await.unwrap();
        assert_eq!(&ok[..], b"0123456789");
    }
}
