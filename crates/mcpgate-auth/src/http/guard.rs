//! The guard in front of an MCP endpoint, as a tower [`Layer`]. Every request
//! passes, in this order: Host check → Origin check → preflight → bearer
//! authentication (a rejected request is also counted against its client
//! address) → the principal's rate limit → session binding, or a session slot
//! for a request that may create one → per-item policies (`authorize`: a
//! `403` step-up or denial) → the inner MCP service.
//!
//! The verified caller reaches the inner service as an `Arc<AccessToken>`
//! request extension, and the `Authorization` header is removed first, so
//! nothing behind the guard can forward the raw credential.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http::header::{AUTHORIZATION, CONNECTION, ORIGIN};
use http::{HeaderValue, Method, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use super::authorize::{Checked, EdgePolicy};
use super::challenge::{ChallengeParams, Rejection};
use super::cors::MCP_ENDPOINT;
use super::origin::{OriginPolicy, OriginRejection};
use super::rate_limit::{RateLimiter, client_key, retry_after_secs};
use super::session::{SessionAccess, SessionOwners, SessionRefusal};
use crate::claims::{AccessToken, Principal};
use crate::protection::ProtectedResource;

const SESSION_HEADER: &str = "mcp-session-id";

/// Shared state of the guard.
pub(crate) struct Guard {
    pub(crate) policy: OriginPolicy,
    pub(crate) protection: Option<(ProtectedResource, Arc<ChallengeParams>)>,
    pub(crate) sessions: Arc<SessionOwners>,
    /// Requests per principal, after authentication.
    pub(crate) principal_rate: Option<RateLimiter<Principal>>,
    /// Requests per client address that end without a valid token, shared
    /// with the metadata routes.
    pub(crate) client_rate: Option<Arc<ClientRateLimit>>,
    /// Off when the router around the guard already checks `Host` for every route.
    pub(crate) check_host: bool,
    /// Per-item policies (only with auth); `None` costs nothing per request.
    pub(crate) edge_policy: Option<EdgePolicy>,
}

/// The per-address limit of unauthenticated traffic.
pub(crate) struct ClientRateLimit {
    pub(crate) limiter: RateLimiter<IpAddr>,
    /// Whether loopback peers are limited too (off by default: on loopback
    /// the peer is this machine, typically a reverse proxy carrying everyone).
    pub(crate) include_loopback: bool,
}

impl ClientRateLimit {
    /// `Err(retry_after)` when the request's client has used up its budget.
    /// Requests whose peer address is unknown (served without
    /// `ConnectInfo`) are not limited.
    pub(crate) fn check(&self, request: &Request) -> Result<(), Duration> {
        let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
            return Ok(());
        };
        let ip = client_key(peer.ip());
        if ip.is_loopback() && !self.include_loopback {
            return Ok(());
        }
        self.limiter.check(&ip)
    }
}

/// The tower layer that puts the guard in front of an MCP service. Built by
/// [`ProtectedEndpoint::guard_layer`](super::ProtectedEndpoint::guard_layer).
#[derive(Clone)]
pub struct GuardLayer {
    pub(crate) guard: Arc<Guard>,
}

impl std::fmt::Debug for GuardLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardLayer")
            .field("auth", &self.guard.protection.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: self.guard.clone(),
        }
    }
}

/// The service [`GuardLayer`] produces.
#[derive(Clone)]
pub struct GuardService<S> {
    inner: S,
    guard: Arc<Guard>,
}

impl<S> std::fmt::Debug for GuardService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardService").finish_non_exhaustive()
    }
}

impl<S> Service<Request> for GuardService<S>
where
    S: Service<Request, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Readiness is checked on the clone that serves the request (below).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The usual tower dance: serve with a fresh clone, keep `self` ready.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        let has_body = has_body(&request);
        Box::pin(async move {
            let mut response = guard.run(request, inner).await;
            let forwarded = response.extensions_mut().remove::<Forwarded>().is_some();
            if has_body && !forwarded {
                // Refused before its body was read: the unread rest of the body
                // would be taken for the next request on this connection, so the
                // connection ends here, and the client is told so (a client that
                // reuses it would otherwise see it drop without an answer).
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response)
        })
    }
}

impl Guard {
    /// Host allow-list (a DNS-rebinding attack reaches any path): the refusal
    /// for a `Host` that is not ours, `None` for ours.
    pub(crate) fn host_refusal(&self, request: &Request) -> Option<Response> {
        let authority = request.uri().authority().map(|a| a.as_str());
        self.policy
            .check_host(request.headers(), authority)
            .err()
            .map(|_| {
                tracing::warn!(host = ?request.headers().get(http::header::HOST), "refused request for a host that is not ours");
                refusal(
                    StatusCode::MISDIRECTED_REQUEST,
                    "Host header is not allowed",
                )
            })
    }

    async fn run<S>(&self, mut request: Request, mut inner: S) -> Response
    where
        S: Service<Request, Error = Infallible>,
        S::Response: IntoResponse,
        S::Future: Send + 'static,
    {
        if self.check_host
            && let Some(refused) = self.host_refusal(&request)
        {
            return refused;
        }
        let origin = request.headers().get(ORIGIN).cloned();
        if self.policy.check_origin(request.headers()) == Err(OriginRejection::Origin) {
            tracing::warn!(origin = ?origin, "refused request from a foreign Origin");
            return refusal(StatusCode::FORBIDDEN, "Origin is not allowed");
        }
        // Preflights carry no credentials by design; they pass unauthenticated.
        if request.method() == Method::OPTIONS {
            return MCP_ENDPOINT.preflight(request.headers());
        }

        let principal = match self.authenticate(&mut request).await {
            Ok(principal) => principal,
            Err(rejection) => {
                // Unauthenticated traffic is limited per client address.
                let mut response = match self.client_rate.as_ref().map(|l| l.check(&request)) {
                    Some(Err(wait)) => {
                        tracing::debug!("unauthenticated request over its client's rate limit");
                        too_many(StatusCode::TOO_MANY_REQUESTS, wait, "Too many requests")
                    }
                    _ => rejection.into_response(),
                };
                MCP_ENDPOINT.apply(response.headers_mut(), origin.as_ref());
                return response;
            }
        };
        if let (Some(limiter), Some(principal)) = (&self.principal_rate, &principal)
            && let Err(wait) = limiter.check(principal)
        {
            tracing::debug!("request over its principal's rate limit");
            let mut response = too_many(StatusCode::TOO_MANY_REQUESTS, wait, "Too many requests");
            MCP_ENDPOINT.apply(response.headers_mut(), origin.as_ref());
            return response;
        }
        // The token has done its job; the inner service gets the verified
        // claims, and nothing downstream can forward the raw credential.
        request.headers_mut().remove(AUTHORIZATION);

        if is_stateless(&request)
            && let Some(method) = request.headers().get("mcp-method")
            && REMOVED_IN_STATELESS.iter().any(|m| method == *m)
        {
            // These exist only with sessions; the revision requires 404 and
            // "method not found" for them (no body is parsed for it).
            let mut response = method_not_found();
            MCP_ENDPOINT.apply(response.headers_mut(), origin.as_ref());
            return response;
        }

        let session_id = request
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut reservation = None;
        match (&session_id, &principal) {
            (Some(id), Some(principal)) => match self.sessions.check(id, principal) {
                SessionAccess::Owned => {}
                access => {
                    if access == SessionAccess::Foreign {
                        tracing::warn!(
                            "refused a session id presented by a principal that does not own it"
                        );
                    } else {
                        tracing::debug!("refused a session id that is not bound to anyone");
                    }
                    let mut response = session_not_found();
                    MCP_ENDPOINT.apply(response.headers_mut(), origin.as_ref());
                    return response;
                }
            },
            // Without auth there is no owner to check; the MCP layer decides.
            (Some(id), None) => self.sessions.touch(id),
            // A POST without a session may create one (`initialize`): hold a
            // slot before the MCP layer spends memory on it. A request of a
            // stateless revision (2026-07-28 on) never creates one.
            (None, principal) if request.method() == Method::POST && !is_stateless(&request) => {
                match self.sessions.reserve(principal.as_ref()) {
                    Ok(slot) => reservation = Some(slot),
                    Err(refusal) => {
                        let mut response = match refusal {
                            SessionRefusal::PerPrincipal { retry_after } => {
                                tracing::debug!(
                                    "refused a new session: the principal holds its maximum"
                                );
                                too_many(
                                    StatusCode::TOO_MANY_REQUESTS,
                                    retry_after,
                                    "Too many open sessions for this user; end one (HTTP DELETE) or retry later",
                                )
                            }
                            SessionRefusal::Total { retry_after } => {
                                tracing::warn!(
                                    "refused a new session: the server holds its maximum"
                                );
                                too_many(
                                    StatusCode::SERVICE_UNAVAILABLE,
                                    retry_after,
                                    "Too many open sessions; retry later",
                                )
                            }
                        };
                        MCP_ENDPOINT.apply(response.headers_mut(), origin.as_ref());
                        return response;
                    }
                }
            }
            (None, _) => {}
        }
        // Per-item policies, last: the session (if any) is known to be the
        // caller's by now, so a refusal tells nothing about anyone else's.
        if let (Some(edge), Some((_, challenge))) = (&self.edge_policy, &self.protection)
            && let Some(token) = request.extensions().get::<Arc<AccessToken>>().cloned()
        {
            let stateless = is_stateless(&request);
            request = match edge.check(request, &token, stateless, challenge).await {
                Checked::Pass(request) => request,
                Checked::Refuse {
                    mut response,
                    body_read,
                } => {
                    MCP_ENDPOINT.apply(response.headers_mut(), origin.as_ref());
                    if body_read {
                        // Nothing is left unread: the connection may stay open.
                        response.extensions_mut().insert(Forwarded);
                    }
                    return response;
                }
            };
        }
        let is_delete = request.method() == Method::DELETE;

        let Ok(()) = std::future::poll_fn(|cx| inner.poll_ready(cx)).await;
        let call = inner.call(request);
        let mut response = match reservation {
            None => {
                let Ok(response) = call.await;
                response.into_response()
            }
            // A request that may create a session runs to its end even if the
            // client goes away: the MCP layer may already have created the
            // session, which must then be bound (and counted), not leaked.
            Some(slot) => {
                let created = tokio::spawn(async move {
                    let Ok(response) = call.await;
                    let response = response.into_response();
                    if let Some(new_id) = response
                        .headers()
                        .get(SESSION_HEADER)
                        .and_then(|v| v.to_str().ok())
                    {
                        slot.bind(new_id);
                    }
                    // Otherwise the slot is released as it drops.
                    response
                });
                match created.await {
                    Ok(response) => response,
                    Err(error) => {
                        tracing::error!(%error, "the MCP service failed while creating a session");
                        StatusCode::INTERNAL_SERVER_ERROR.into_response()
                    }
                }
            }
        };

        // An unknown session is answered with a plain-text 404 by some MCP
        // layers (rmcp's); answer it as a foreign session is answered, so the
        // two cannot be told apart.
        if session_id.is_some()
            && response.status() == StatusCode::NOT_FOUND
            && !response.headers().contains_key(http::header::CONTENT_TYPE)
        {
            response = session_not_found();
        }

        // rmcp acknowledges a session DELETE with 202; the Python SDK expects 200 or
        // 204 and warns otherwise. The session is gone either way: say 204.
        if is_delete && response.status() == StatusCode::ACCEPTED {
            *response.status_mut() = StatusCode::NO_CONTENT;
        }

        if let Some(id) = &session_id
            && is_delete
            && response.status().is_success()
        {
            self.sessions.forget(id);
        }
        MCP_ENDPOINT.apply(response.headers_mut(), origin.as_ref());
        // The inner service had the request, body included.
        response.extensions_mut().insert(Forwarded);
        response
    }

    /// Verifies the bearer token, if auth is on, and hands the caller to the
    /// inner service. `Ok(None)`: auth is off.
    async fn authenticate(&self, request: &mut Request) -> Result<Option<Principal>, Rejection> {
        let Some((protection, challenge)) = &self.protection else {
            return Ok(None);
        };
        match protection.authenticate(request.headers()).await {
            Ok(access) => {
                tracing::debug!(
                    sub = access.subject(),
                    client_id = access.client_id(),
                    jti = access.token_id(),
                    "token accepted"
                );
                let principal = access.principal();
                request.extensions_mut().insert(access);
                Ok(Some(principal))
            }
            Err(error) => {
                tracing::debug!(reason = %error, "request not authenticated");
                Err(Rejection {
                    error,
                    params: challenge.clone(),
                })
            }
        }
    }
}

/// Marks a response of the inner service (which read the request's body),
/// as opposed to a refusal the guard made itself.
#[derive(Clone, Copy)]
struct Forwarded;

/// Whether the request has a body (which a refusal leaves unread).
fn has_body(request: &Request) -> bool {
    let headers = request.headers();
    headers.contains_key(http::header::TRANSFER_ENCODING)
        || headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// Whether a request speaks a stateless MCP revision (2026-07-28 or later),
/// which has no sessions: its `MCP-Protocol-Version` header says so on every
/// request. (Dates in `YYYY-MM-DD` form compare as strings.)
fn is_stateless(request: &Request) -> bool {
    request
        .headers()
        .get("mcp-protocol-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|version| version >= FIRST_STATELESS_REVISION)
}

/// The first MCP revision without sessions.
const FIRST_STATELESS_REVISION: &str = "2026-07-28";

/// Methods the stateless revision removed (they only make sense in a session).
const REMOVED_IN_STATELESS: [&str; 4] = [
    "initialize",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];

/// `404` with JSON-RPC `-32601`, as the stateless revision answers a method
/// it does not serve.
fn method_not_found() -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32601, "message": "Method not found"},
    });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

/// The answer to an unknown session and to a foreign one alike (the Python
/// SDK's body), so a foreign session is indistinguishable from a missing one.
fn session_not_found() -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32600, "message": "Session not found"},
    });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

/// A refusal for load (`429`/`503`) with `Retry-After`, as a JSON-RPC error
/// without id (-32000, the implementation-defined server error).
pub(crate) fn too_many(status: StatusCode, retry_after: Duration, message: &str) -> Response {
    let mut response = refusal_with_code(status, -32000, message);
    response.headers_mut().insert(
        http::header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs(retry_after)),
    );
    response
}

/// A JSON-RPC error without id, as the MCP specification suggests for refused requests.
fn refusal(status: StatusCode, message: &str) -> Response {
    refusal_with_code(status, -32600, message)
}

fn refusal_with_code(status: StatusCode, code: i64, message: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": code, "message": message},
    });
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
}
