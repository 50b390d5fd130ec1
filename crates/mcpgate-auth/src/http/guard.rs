//! The guard in front of an MCP endpoint, as a tower [`Layer`]. Every request
//! passes, in this order: Host check → Origin check → preflight → bearer
//! authentication → session binding → the inner MCP service.
//!
//! The verified caller reaches the inner service as an `Arc<AccessToken>`
//! request extension, and the `Authorization` header is removed first, so
//! nothing behind the guard can forward the raw credential.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http::header::{AUTHORIZATION, ORIGIN};
use http::{HeaderValue, Method, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use super::challenge::{ChallengeParams, Rejection};
use super::cors::MCP_ENDPOINT;
use super::origin::{OriginPolicy, OriginRejection};
use super::session::{SessionAccess, SessionOwners};
use crate::claims::Principal;
use crate::protection::ProtectedResource;

const SESSION_HEADER: &str = "mcp-session-id";

/// Shared state of the guard.
pub(crate) struct Guard {
    pub(crate) policy: OriginPolicy,
    pub(crate) protection: Option<(ProtectedResource, Arc<ChallengeParams>)>,
    pub(crate) sessions: SessionOwners,
    /// Off when the router around the guard already checks `Host` for every route.
    pub(crate) check_host: bool,
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
        Box::pin(async move { Ok(guard.run(request, inner).await) })
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
                let mut response = rejection.into_response();
                MCP_ENDPOINT.apply(response.headers_mut(), origin.as_ref());
                return response;
            }
        };
        // The token has done its job; the inner service gets the verified
        // claims, and nothing downstream can forward the raw credential.
        request.headers_mut().remove(AUTHORIZATION);

        let session_id = request
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let (Some(id), Some(principal)) = (&session_id, &principal)
            && self.sessions.check(id, principal) == SessionAccess::Foreign
        {
            tracing::warn!("refused a session id presented by a principal that does not own it");
            let mut response = session_not_found();
            MCP_ENDPOINT.apply(response.headers_mut(), origin.as_ref());
            return response;
        }
        let is_delete = request.method() == Method::DELETE;

        let mut response = match std::future::poll_fn(|cx| inner.poll_ready(cx)).await {
            Ok(()) => match inner.call(request).await {
                Ok(response) => response.into_response(),
                Err(never) => match never {},
            },
            Err(never) => match never {},
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

        if let Some(principal) = principal {
            match (
                &session_id,
                response
                    .headers()
                    .get(SESSION_HEADER)
                    .and_then(|v| v.to_str().ok()),
            ) {
                (None, Some(new_id)) => self.sessions.bind(new_id, principal),
                (Some(id), _) if is_delete && response.status().is_success() => {
                    self.sessions.forget(id);
                }
                _ => {}
            }
        }
        MCP_ENDPOINT.apply(response.headers_mut(), origin.as_ref());
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

/// A JSON-RPC error without id, as the MCP specification suggests for refused requests.
fn refusal(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32600, "message": message},
    });
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
}
