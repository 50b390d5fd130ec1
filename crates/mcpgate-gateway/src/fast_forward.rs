//! The fast path: a plain 2026-07-28 `tools/call` forwarded to a 2026-07-28
//! HTTP upstream as one HTTP request, without rmcp on either side.
//!
//! Through rmcp a call crosses the gateway's server (a one-shot transport, a
//! service loop and a handler task), its client toward the upstream (another
//! service loop, the transport's tasks and channels) and two JSON encodings
//! each way: hundreds of microseconds of CPU around a request that the
//! upstream answers in tens (`BENCHMARKS.md`). In the 2026-07-28 revision a
//! request is self-contained — no session, its `_meta` carries the version
//! and the client's capabilities, its `id` only has to match its own answer
//! — so a plain call can be passed on as it is: this layer sits between the
//! endpoint's guard (Host, Origin, the bearer token, rate limits and the
//! per-tool policies have been checked) and rmcp's service, and forwards a
//! request when all of this holds, else hands it to rmcp unchanged (with the
//! body it read):
//!
//! - `POST`, `MCP-Protocol-Version: 2026-07-28`, `Mcp-Method: tools/call`,
//!   no `Mcp-Session-Id`;
//! - one upstream, unnamed (no names to rewrite), over HTTP, known to serve
//!   2026-07-28 (the first 2026-07-28 request opened a connection in that
//!   revision, see `pool`), with [`UpstreamProtocol::Auto`];
//! - a body that is one JSON-RPC request with exactly `jsonrpc: "2.0"`,
//!   `id`, `method: "tools/call"` and `params` holding `name` (equal to
//!   `Mcp-Name`), `arguments` and `_meta`: no `inputResponses` or
//!   `requestState` (a retry goes through rmcp, which unseals the state), no
//!   `progressToken` or log level in `_meta` (rmcp streams those
//!   notifications as they come).
//!
//! The forwarded body is rebuilt from those fields (the caller's `id`,
//! `name`, `arguments` and `_meta` as they were); the headers are the
//! gateway's own — the version, method and name, the configured static and
//! identity headers and an on-behalf-of token — never the caller's. The
//! answer goes back as the upstream sent it (its `id` is the caller's),
//! except that an `input_required` result's `requestState` is sealed to the
//! caller (`sealed_state`), exactly as on the rmcp path. A `400` with a
//! JSON-RPC error (`-32021`) is passed on with its status; any other status,
//! a transport failure or the per-call timeout becomes a JSON-RPC error.
//!
//! [`UpstreamProtocol::Auto`]: crate::UpstreamProtocol::Auto

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http::{HeaderValue, Method, StatusCode, header};
use mcpgate_auth::AccessToken;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tower_service::Service;

use crate::config::{Isolation, Upstream, UpstreamProtocol};
use crate::exchange::SubjectToken;
use crate::forward::Shared;
use crate::metrics::Outcome;
use crate::pool::PrincipalKey;
use crate::upstream::Era;

/// The revision the fast path speaks.
const VERSION: &str = "2026-07-28";

/// Largest request body read (rmcp's own default limit).
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// Largest upstream answer taken; a larger one is an error to the caller.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Forwards plain 2026-07-28 calls itself; everything else goes to `inner`.
#[derive(Clone)]
pub(crate) struct FastForward<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

/// How many calls took the fast path (for the admin endpoint and tests).
#[derive(Debug, Default)]
pub(crate) struct FastForwards(AtomicU64);

impl FastForwards {
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl<S> Service<Request> for FastForward<S>
where
    S: Service<Request, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if !eligible(&request, &self.shared) {
            let future = self.inner.call(request);
            return Box::pin(async move {
                let Ok(response) = future.await;
                Ok(response.into_response())
            });
        }
        // The service that was made ready goes with this request; its clone
        // stays for the next (the usual tower pattern).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
                return Ok((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("Payload Too Large: request body exceeds {MAX_REQUEST_BYTES} bytes"),
                )
                    .into_response());
            };
            let name = parts.headers.get("mcp-name").and_then(|v| v.to_str().ok());
            match plain_call(&bytes, name) {
                Some(call) => match forward(&shared, &parts, &call).await {
                    Forwarded::Answer(response) => Ok(response),
                    // Not sent: rmcp takes it after all.
                    Forwarded::NotHere => {
                        let Ok(response) = inner
                            .call(Request::from_parts(parts, Body::from(bytes)))
                            .await;
                        Ok(response.into_response())
                    }
                },
                None => {
                    let Ok(response) = inner
                        .call(Request::from_parts(parts, Body::from(bytes)))
                        .await;
                    Ok(response.into_response())
                }
            }
        })
    }
}

/// Whether the headers and the gateway's setup allow the fast path (the
/// body is checked after it is read).
fn eligible(request: &Request, shared: &Shared) -> bool {
    let headers = request.headers();
    let one = |name: &str, value: &str| {
        let mut values = headers.get_all(name).iter();
        values.next().is_some_and(|v| v == value) && values.next().is_none()
    };
    request.method() == Method::POST
        && one("mcp-protocol-version", VERSION)
        && one("mcp-method", "tools/call")
        && !headers.contains_key("mcp-session-id")
        && shared.single()
        && shared.mounts.first().is_some_and(|mount| {
            matches!(mount.config.upstream, Upstream::Http(_))
                && mount.config.protocol == UpstreamProtocol::Auto
                && mount.pool.serves_2026()
        })
}

/// A plain call's parts, borrowed from the body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Call<'a> {
    jsonrpc: Cow<'a, str>,
    #[serde(borrow)]
    id: &'a RawValue,
    method: Cow<'a, str>,
    #[serde(borrow)]
    params: Params<'a>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Params<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a RawValue>,
    #[serde(rename = "_meta", borrow)]
    meta: &'a RawValue,
}

/// The `_meta` keys that make the upstream stream notifications (rmcp's
/// path relays them as they come).
#[derive(Deserialize)]
struct Streaming<'a> {
    #[serde(rename = "progressToken", borrow, default)]
    progress_token: Option<&'a RawValue>,
    #[serde(rename = "io.modelcontextprotocol/logLevel", borrow, default)]
    log_level: Option<&'a RawValue>,
}

/// The body as a plain call for `Mcp-Name` `name`, or `None` (rmcp's case).
fn plain_call<'a>(body: &'a [u8], name: Option<&str>) -> Option<Call<'a>> {
    let call: Call<'a> = serde_json::from_slice(body).ok()?;
    let streaming: Streaming<'_> = serde_json::from_str(call.params.meta.get()).ok()?;
    let plain = call.jsonrpc == "2.0"
        && call.method == "tools/call"
        && name == Some(&*call.params.name)
        && streaming.progress_token.is_none()
        && streaming.log_level.is_none();
    plain.then_some(call)
}

/// What [`forward`] did.
enum Forwarded {
    /// The caller's answer.
    Answer(Response),
    /// Nothing was sent: the request is rmcp's.
    NotHere,
}

/// The request the upstream gets.
#[derive(Serialize)]
struct Outgoing<'a> {
    jsonrpc: &'static str,
    id: &'a RawValue,
    method: &'static str,
    params: &'a Params<'a>,
}

async fn forward(shared: &Shared, parts: &http::request::Parts, call: &Call<'_>) -> Forwarded {
    const METHOD: &str = "tools/call";
    let mount = &shared.mounts[0];
    let Upstream::Http(target) = &mount.config.upstream else {
        return Forwarded::NotHere;
    };
    let metrics = &shared.metrics;
    let token = parts.extensions.get::<Arc<AccessToken>>().cloned();
    let key = PrincipalKey::for_caller(mount.config.isolation, token.as_deref());
    let lease = shared
        .lease(
            0,
            key,
            token.as_deref(),
            parts.extensions.get::<SubjectToken>(),
            Era::Stateless,
            METHOD,
        )
        .await;
    let lease = match lease {
        Ok(lease) => lease,
        Err(e) => return Forwarded::Answer(json_rpc_error(call.id, -32603, &e.message)),
    };
    let connection = lease.connection();
    if !connection.is_stateless() {
        return Forwarded::NotHere;
    }
    let body = match serde_json::to_vec(&Outgoing {
        jsonrpc: "2.0",
        id: call.id,
        method: METHOD,
        params: &call.params,
    }) {
        Ok(body) => body,
        Err(_) => return Forwarded::NotHere,
    };
    let Ok(name) = HeaderValue::from_str(&call.params.name) else {
        return Forwarded::NotHere;
    };
    let mut request = mount
        .pool
        .http()
        .post(target.url().clone())
        .timeout(mount.config.call_timeout)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", VERSION)
        .header("mcp-method", METHOD)
        .header("mcp-name", name);
    if let Some(headers) = connection.http_headers() {
        request = request.headers(headers.clone());
    }
    if let Some(bearer) = connection.bearer() {
        request = request.bearer_auth(bearer);
    }
    shared.fast_forwards.add();
    let started = std::time::Instant::now();
    let answer = match request.body(body).send().await {
        Ok(response) => read_answer(response).await,
        Err(e) => Err(Unanswered::Transport(e)),
    };
    metrics.upstream_latency(started.elapsed());
    let (status, content_type, bytes) = match answer {
        Ok(answer) => answer,
        Err(Unanswered::TooLarge) => {
            metrics.request(METHOD, Outcome::Error);
            return Forwarded::Answer(json_rpc_error(
                call.id,
                -32603,
                &format!(
                    "the upstream MCP server's answer exceeds {MAX_RESPONSE_BYTES} bytes, the gateway's limit"
                ),
            ));
        }
        Err(Unanswered::Transport(e)) => {
            let (outcome, message) = if e.is_timeout() {
                (
                    Outcome::Timeout,
                    format!(
                        "the upstream MCP server did not answer within {} s (the gateway's per-call timeout)",
                        mount.config.call_timeout.as_secs_f64()
                    ),
                )
            } else {
                (
                    Outcome::UpstreamClosed,
                    format!(
                        "the upstream MCP server could not be reached or closed the connection: {e}"
                    ),
                )
            };
            metrics.request(METHOD, outcome);
            return Forwarded::Answer(json_rpc_error(call.id, -32603, &message));
        }
    };
    lease.succeeded().await;
    let json = content_type
        .as_deref()
        .is_some_and(|t| t.starts_with("application/json"));
    let sse = content_type
        .as_deref()
        .is_some_and(|t| t.starts_with("text/event-stream"));
    if !(status == StatusCode::OK || status == StatusCode::BAD_REQUEST && json) || !(json || sse) {
        metrics.request(METHOD, Outcome::Error);
        let message = if status.is_success() {
            format!(
                "the upstream MCP server answered HTTP {status} with a body that is neither JSON nor an event stream"
            )
        } else {
            format!("the upstream MCP server answered HTTP {status}")
        };
        return Forwarded::Answer(json_rpc_error(call.id, -32603, &message));
    }
    let principal = PrincipalKey::for_caller(Isolation::PerPrincipal, token.as_deref());
    let seal = |state: &str| {
        shared
            .sealer
            .seal(state, &principal, 0, (METHOD, &call.params.name))
    };
    let (bytes, outcome) = if json {
        seal_json(bytes, seal)
    } else {
        seal_event_stream(bytes, seal)
    };
    metrics.request(METHOD, outcome);
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if json {
            "application/json"
        } else {
            "text/event-stream"
        }),
    );
    Forwarded::Answer(response)
}

/// Why the upstream's answer could not be had.
enum Unanswered {
    /// Connecting, sending or reading failed, or the call timed out.
    Transport(reqwest::Error),
    /// The answer is larger than [`MAX_RESPONSE_BYTES`].
    TooLarge,
}

/// The upstream's status, content type and body (bounded).
async fn read_answer(
    mut response: reqwest::Response,
) -> Result<(StatusCode, Option<String>, Bytes), Unanswered> {
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Unanswered::Transport)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(Unanswered::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, content_type, Bytes::from(body)))
}

/// A JSON answer, with an `input_required` result's state sealed.
fn seal_json(bytes: Bytes, seal: impl Fn(&str) -> String) -> (Bytes, Outcome) {
    // Only an answer that mentions it can be one: the common case is not
    // parsed at all.
    if !contains(&bytes, b"input_required") {
        let outcome = outcome_of_plain(&bytes);
        return (bytes, outcome);
    }
    match seal_message(&bytes, &seal) {
        Some((sealed, outcome)) => (Bytes::from(sealed), outcome),
        None => (bytes, Outcome::Error),
    }
}

/// An event stream (an upstream that streamed anyway), its final answer's
/// state sealed.
fn seal_event_stream(bytes: Bytes, seal: impl Fn(&str) -> String) -> (Bytes, Outcome) {
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return (bytes, Outcome::Error);
    };
    let mut out = String::with_capacity(text.len() + 64);
    let mut outcome = Outcome::Ok;
    for line in text.split_inclusive('\n') {
        let data = line.strip_prefix("data:").map(str::trim_start);
        match data.filter(|d| d.contains("input_required")) {
            Some(data) => match seal_message(data.trim_end().as_bytes(), &seal) {
                Some((sealed, o)) => {
                    outcome = o;
                    out.push_str("data: ");
                    out.push_str(&String::from_utf8_lossy(&sealed));
                    out.push('\n');
                }
                None => out.push_str(line),
            },
            None => {
                if data.is_some_and(|d| d.contains("\"error\"")) {
                    outcome = Outcome::Error;
                }
                out.push_str(line);
            }
        }
    }
    (Bytes::from(out), outcome)
}

/// One JSON-RPC message with an `input_required` result's `requestState`
/// sealed; `None` when it is not JSON.
fn seal_message(bytes: &[u8], seal: &impl Fn(&str) -> String) -> Option<(Vec<u8>, Outcome)> {
    let mut message: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let Some(result) = message.get_mut("result") else {
        return Some((bytes.to_vec(), Outcome::Error));
    };
    if result.get("resultType").and_then(|t| t.as_str()) != Some("input_required") {
        return Some((bytes.to_vec(), Outcome::Ok));
    }
    if let Some(state) = result.get_mut("requestState")
        && let Some(inner) = state.as_str()
    {
        *state = serde_json::Value::String(seal(inner));
    }
    Some((serde_json::to_vec(&message).ok()?, Outcome::InputRequired))
}

/// The metrics outcome of an answer that is not `input_required`.
fn outcome_of_plain(bytes: &[u8]) -> Outcome {
    if bytes.starts_with(b"{\"jsonrpc\":\"2.0\",\"id\"") && contains(bytes, b"\"result\"") {
        Outcome::Ok
    } else if contains(bytes, b"\"error\"") && !contains(bytes, b"\"result\"") {
        Outcome::Error
    } else {
        Outcome::Ok
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A JSON-RPC error answer to the caller's request.
fn json_rpc_error(id: &RawValue, code: i64, message: &str) -> Response {
    #[derive(Serialize)]
    struct ErrorObject<'a> {
        code: i64,
        message: &'a str,
    }
    #[derive(Serialize)]
    struct ErrorMessage<'a> {
        jsonrpc: &'static str,
        id: &'a RawValue,
        error: ErrorObject<'a>,
    }
    let body = serde_json::to_vec(&ErrorMessage {
        jsonrpc: "2.0",
        id,
        error: ErrorObject { code, message },
    })
    .unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_call_for_its_named_tool_is_taken() {
        let call = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add","arguments":{"a":1},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
        let taken = plain_call(call, Some("add")).expect("plain");
        assert_eq!(taken.id.get(), "7");
        assert!(plain_call(call, Some("other")).is_none());
        assert!(plain_call(call, None).is_none());
        for not_plain in [
            // A retry: rmcp unseals its state.
            &br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add","_meta":{},"requestState":"x","inputResponses":{}}}"#[..],
            // Progress is streamed by rmcp.
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add","_meta":{"progressToken":1}}}"#,
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add","_meta":{"io.modelcontextprotocol/logLevel":"info"}}}"#,
            // Not a call, not 2.0, no _meta, an unknown field, a batch.
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"name":"add","_meta":{}}}"#,
            br#"{"jsonrpc":"1.0","id":7,"method":"tools/call","params":{"name":"add","_meta":{}}}"#,
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add"}}"#,
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add","_meta":{},"task":{}}}"#,
            br#"[{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add","_meta":{}}}]"#,
            b"not json",
        ] {
            assert!(
                plain_call(not_plain, Some("add")).is_none(),
                "{}",
                String::from_utf8_lossy(not_plain)
            );
        }
    }

    #[test]
    fn the_forwarded_body_is_rebuilt_from_the_calls_fields() {
        let call = br#"{"params":{"_meta":{"k":1},"name":"add","arguments":{"a":1}},"method":"tools/call","id":"x","jsonrpc":"2.0"}"#;
        let call = plain_call(call, Some("add")).expect("plain");
        let out = serde_json::to_string(&Outgoing {
            jsonrpc: "2.0",
            id: call.id,
            method: "tools/call",
            params: &call.params,
        })
        .unwrap();
        assert_eq!(
            out,
            r#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"add","arguments":{"a":1},"_meta":{"k":1}}}"#
        );
    }

    #[test]
    fn only_an_input_required_state_is_sealed() {
        let seal = |s: &str| format!("sealed({s})");
        let complete = Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","content":[]}}"#,
        );
        let (same, outcome) = seal_json(complete.clone(), seal);
        assert_eq!(same, complete);
        assert!(outcome == Outcome::Ok);
        let asked = Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","inputRequests":{},"requestState":"abc"}}"#,
        );
        let (sealed, outcome) = seal_json(asked, seal);
        let sealed: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        assert_eq!(sealed["result"]["requestState"], "sealed(abc)");
        assert!(outcome == Outcome::InputRequired);
        let stream = Bytes::from_static(
            b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"resultType\":\"input_required\",\"requestState\":\"abc\"}}\n\n",
        );
        let (sealed, _) = seal_event_stream(stream, seal);
        let text = String::from_utf8(sealed.to_vec()).unwrap();
        assert!(text.starts_with("event: message\ndata: "), "{text}");
        assert!(text.contains("sealed(abc)"), "{text}");
        assert!(text.ends_with("\n\n"), "{text}");
    }
}
