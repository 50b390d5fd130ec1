//! Prometheus metrics of the gateway, served on a separate admin address
//! (never next to the MCP endpoint: they describe every caller's traffic).
//!
//! Written by hand in the text exposition format (version 0.0.4): the four
//! families below need counters, one gauge and one histogram, which is less
//! code than a metrics crate's setup. Every label value comes from a fixed
//! set, so a client cannot grow the registry (bounded memory):
//!
//! - `mcpgate_gateway_requests_total{method,outcome}`: requests forwarded to
//!   an upstream, by MCP method (known methods; anything else is `other`) and
//!   outcome (`ok`, `input_required`: a 2026-07-28 round ended asking the
//!   caller for input, `error`: the upstream's JSON-RPC error, `timeout`,
//!   `upstream_closed`, `cancelled`, `unavailable`: no upstream could be had).
//! - `mcpgate_gateway_rejections_total{reason}`: requests to the MCP endpoint
//!   refused before reaching an upstream, by the guard (missing or invalid
//!   token, insufficient scope, policy denial, Origin/Host, rate limit, body
//!   size) or by the gateway (`at_capacity`, `unknown_session`). The reason
//!   is read from the answer's status and `WWW-Authenticate` error code.
//! - `mcpgate_gateway_upstream_request_duration_seconds`: time from sending a
//!   request to the upstream to its answer (histogram).
//! - `mcpgate_gateway_live_upstreams{upstream}`: principals (or the one
//!   shared upstream) holding upstream connections, per mounted upstream
//!   (`""` for a single unnamed one); each holds a session-era connection, a
//!   2026-07-28 one, or both (see `pool`).
//! - `mcpgate_gateway_parked_calls`: calls of 2026-07-28 clients waiting for
//!   their input between rounds (see `mrtr`).
//! - `mcpgate_gateway_fast_forwards_total`: 2026-07-28 tool calls forwarded on
//!   the fast path (see `fast_forward`).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::forward::Shared;

/// The MCP methods counted by name; any other is counted as `other`.
const METHODS: &[&str] = &[
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "other",
];

/// How a forwarded request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The upstream answered with a result.
    Ok,
    /// The upstream asked for input; the caller got an `input_required`
    /// result and is to retry (2026-07-28).
    InputRequired,
    /// The upstream answered with a JSON-RPC error.
    Error,
    /// The per-call timeout passed.
    Timeout,
    /// The upstream exited or closed the connection.
    UpstreamClosed,
    /// The caller cancelled.
    Cancelled,
    /// No upstream could be had (at capacity, failed to start).
    Unavailable,
}

const OUTCOMES: &[(Outcome, &str)] = &[
    (Outcome::Ok, "ok"),
    (Outcome::InputRequired, "input_required"),
    (Outcome::Error, "error"),
    (Outcome::Timeout, "timeout"),
    (Outcome::UpstreamClosed, "upstream_closed"),
    (Outcome::Cancelled, "cancelled"),
    (Outcome::Unavailable, "unavailable"),
];

/// Why a request to the MCP endpoint was refused.
const REASONS: &[&str] = &[
    "missing_token",
    "invalid_token",
    "insufficient_scope",
    "access_denied",
    "forbidden",
    "rate_limited",
    "body_too_large",
    "at_capacity",
    "unknown_session",
    "bad_request",
];

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The gateway's counters; shared by the forwarding handler, the rejection
/// layer and the admin endpoint.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// `METHODS.len() × OUTCOMES.len()` counters, row-major by method.
    requests: Vec<AtomicU64>,
    rejections: Vec<AtomicU64>,
    /// Per bucket (not cumulative; summed when written), then `+Inf`.
    latency_buckets: Vec<AtomicU64>,
    latency_sum_micros: AtomicU64,
    latency_count: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let zeros = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect();
        Self {
            requests: zeros(METHODS.len() * OUTCOMES.len()),
            rejections: zeros(REASONS.len()),
            latency_buckets: zeros(BUCKETS.len() + 1),
            latency_sum_micros: AtomicU64::new(0),
            latency_count: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Counts one forwarded request.
    pub(crate) fn request(&self, method: &str, outcome: Outcome) {
        let m = METHODS
            .iter()
            .position(|known| *known == method)
            .unwrap_or(METHODS.len() - 1);
        let o = OUTCOMES
            .iter()
            .position(|(known, _)| *known == outcome)
            .unwrap_or_default();
        self.requests[m * OUTCOMES.len() + o].fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long the upstream took to answer.
    pub(crate) fn upstream_latency(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        self.latency_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
    }

    fn rejection(&self, reason: &str) {
        if let Some(i) = REASONS.iter().position(|known| *known == reason) {
            self.rejections[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The exposition text, with the live upstream counts read now.
    fn render(&self, shared: &Shared) -> String {
        let mut out = String::with_capacity(4096);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        out.push_str("# HELP mcpgate_gateway_requests_total Requests forwarded to an upstream, by MCP method and outcome.\n");
        out.push_str("# TYPE mcpgate_gateway_requests_total counter\n");
        for (m, method) in METHODS.iter().enumerate() {
            for (o, (_, outcome)) in OUTCOMES.iter().enumerate() {
                let value = load(&self.requests[m * OUTCOMES.len() + o]);
                let _ = writeln!(
                    out,
                    "mcpgate_gateway_requests_total{{method=\"{method}\",outcome=\"{outcome}\"}} {value}"
                );
            }
        }
        out.push_str("# HELP mcpgate_gateway_rejections_total Requests to the MCP endpoint refused before reaching an upstream, by reason.\n");
        out.push_str("# TYPE mcpgate_gateway_rejections_total counter\n");
        for (i, reason) in REASONS.iter().enumerate() {
            let value = load(&self.rejections[i]);
            let _ = writeln!(
                out,
                "mcpgate_gateway_rejections_total{{reason=\"{reason}\"}} {value}"
            );
        }
        out.push_str("# HELP mcpgate_gateway_upstream_request_duration_seconds Time from sending a request to the upstream to its answer.\n");
        out.push_str("# TYPE mcpgate_gateway_upstream_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += load(&self.latency_buckets[i]);
            let _ = writeln!(
                out,
                "mcpgate_gateway_upstream_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += load(&self.latency_buckets[BUCKETS.len()]);
        let _ = writeln!(
            out,
            "mcpgate_gateway_upstream_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let sum = load(&self.latency_sum_micros) as f64 / 1e6;
        let _ = writeln!(
            out,
            "mcpgate_gateway_upstream_request_duration_seconds_sum {sum}"
        );
        let _ = writeln!(
            out,
            "mcpgate_gateway_upstream_request_duration_seconds_count {}",
            load(&self.latency_count)
        );
        out.push_str("# HELP mcpgate_gateway_live_upstreams Principals holding upstream connections (stdio children or HTTP sessions; up to two each, one per protocol era), per mounted upstream.\n");
        out.push_str("# TYPE mcpgate_gateway_live_upstreams gauge\n");
        for mount in &shared.mounts {
            let name = escape_label(mount.ns.name().unwrap_or(""));
            let _ = writeln!(
                out,
                "mcpgate_gateway_live_upstreams{{upstream=\"{name}\"}} {}",
                mount.pool.len()
            );
        }
        out.push_str("# HELP mcpgate_gateway_parked_calls Calls of 2026-07-28 clients waiting for their input (an input_required round).\n");
        out.push_str("# TYPE mcpgate_gateway_parked_calls gauge\n");
        let _ = writeln!(out, "mcpgate_gateway_parked_calls {}", shared.parked.len());
        out.push_str("# HELP mcpgate_gateway_fast_forwards_total 2026-07-28 tool calls forwarded to the upstream as one HTTP request, without rmcp.\n");
        out.push_str("# TYPE mcpgate_gateway_fast_forwards_total counter\n");
        let _ = writeln!(
            out,
            "mcpgate_gateway_fast_forwards_total {}",
            shared.fast_forwards.get()
        );
        out
    }
}

/// A label value as the exposition format needs it (mount names are
/// validated already; this keeps the output well-formed regardless).
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The reason a refusal of the MCP endpoint is counted under, from its
/// status and the `error` code of its `WWW-Authenticate` challenge (the
/// guard's own vocabulary: RFC 6750 and the policy's `access_denied`).
fn rejection_reason(response: &Response) -> Option<&'static str> {
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let code = |name: &str| challenge.contains(&format!("error=\"{name}\""));
    Some(match response.status() {
        StatusCode::UNAUTHORIZED if code("invalid_token") => "invalid_token",
        StatusCode::UNAUTHORIZED => "missing_token",
        StatusCode::FORBIDDEN if code("insufficient_scope") => "insufficient_scope",
        StatusCode::FORBIDDEN if code("access_denied") => "access_denied",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "at_capacity",
        StatusCode::NOT_FOUND => "unknown_session",
        StatusCode::BAD_REQUEST => "bad_request",
        _ => return None,
    })
}

/// Middleware around the MCP endpoint: counts refusals by reason.
pub(crate) async fn count_rejections(
    State((metrics, path)): State<(Arc<Metrics>, Arc<str>)>,
    request: Request,
    next: Next,
) -> Response {
    let on_endpoint = request.uri().path() == &*path;
    let response = next.run(request).await;
    if on_endpoint && let Some(reason) = rejection_reason(&response) {
        metrics.rejection(reason);
    }
    response
}

/// The admin application: `GET /metrics`.
pub(crate) fn admin_routes(metrics: Arc<Metrics>, shared: Arc<Shared>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let body = metrics.render(&shared);
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                    )],
                    body,
                )
                    .into_response()
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        let metrics = Metrics::default();
        metrics.request("tools/call", Outcome::Ok);
        metrics.request("x/made-up-1", Outcome::Error);
        metrics.request("x/made-up-2", Outcome::Error);
        let at = |method: &str, outcome: Outcome| {
            let m = METHODS.iter().position(|k| *k == method).unwrap();
            let o = OUTCOMES.iter().position(|(k, _)| *k == outcome).unwrap();
            metrics.requests[m * OUTCOMES.len() + o].load(Ordering::Relaxed)
        };
        assert_eq!(at("other", Outcome::Error), 2);
        assert_eq!(at("tools/call", Outcome::Ok), 1);
    }

    #[test]
    fn latency_lands_in_the_first_bucket_that_holds_it() {
        let metrics = Metrics::default();
        metrics.upstream_latency(Duration::from_millis(3)); // ≤ 0.005
        metrics.upstream_latency(Duration::from_secs(60)); // +Inf
        assert_eq!(metrics.latency_buckets[3].load(Ordering::Relaxed), 1);
        assert_eq!(
            metrics.latency_buckets[BUCKETS.len()].load(Ordering::Relaxed),
            1
        );
        assert_eq!(metrics.latency_count.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn refusals_are_classified_by_status_and_challenge() {
        let with = |status: StatusCode, challenge: Option<&str>| {
            let mut r = Response::new(axum::body::Body::empty());
            *r.status_mut() = status;
            if let Some(c) = challenge {
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_str(c).unwrap());
            }
            rejection_reason(&r)
        };
        assert_eq!(
            with(
                StatusCode::UNAUTHORIZED,
                Some("Bearer resource_metadata=\"x\"")
            ),
            Some("missing_token")
        );
        assert_eq!(
            with(
                StatusCode::UNAUTHORIZED,
                Some("Bearer error=\"invalid_token\"")
            ),
            Some("invalid_token")
        );
        assert_eq!(
            with(
                StatusCode::FORBIDDEN,
                Some("Bearer error=\"insufficient_scope\"")
            ),
            Some("insufficient_scope")
        );
        assert_eq!(with(StatusCode::FORBIDDEN, None), Some("forbidden"));
        assert_eq!(with(StatusCode::OK, None), None);
    }
}
