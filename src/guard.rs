//! The middleware in front of the MCP endpoint. Every request passes, in this
//! order: preflight/Origin check → bearer authentication → session binding →
//! the MCP service. Metadata routes get only the Host check.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, ORIGIN};
use http::{HeaderValue, Method, StatusCode};

use crate::challenge::{ChallengeParams, Rejection};
use crate::cors;
use crate::origin::{OriginPolicy, OriginRejection};
use crate::protection::ProtectedResource;
use crate::session::{SessionAccess, SessionOwners};

const SESSION_HEADER: &str = "mcp-session-id";

/// Shared state of the MCP endpoint guard.
pub(crate) struct Guard {
    pub(crate) policy: OriginPolicy,
    pub(crate) protection: Option<(ProtectedResource, Arc<ChallengeParams>)>,
    pub(crate) sessions: SessionOwners,
}

/// Host allow-list for every route: a rebinding attack reaches any path.
pub(crate) async fn host_guard(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    let authority = request.uri().authority().map(|a| a.as_str().to_owned());
    match guard
        .policy
        .check_host(request.headers(), authority.as_deref())
    {
        Ok(()) => next.run(request).await,
        Err(_) => {
            tracing::warn!(host = ?request.headers().get(http::header::HOST), "refused request for a host that is not ours");
            refusal(
                StatusCode::MISDIRECTED_REQUEST,
                "Host header is not allowed",
            )
        }
    }
}

/// Origin, authentication and session binding for the MCP endpoint.
pub(crate) async fn mcp_guard(
    State(guard): State<Arc<Guard>>,
    mut request: Request,
    next: Next,
) -> Response {
    let origin = request.headers().get(ORIGIN).cloned();
    if guard.policy.check_origin(request.headers()) == Err(OriginRejection::Origin) {
        tracing::warn!(origin = ?origin, "refused request from a foreign Origin");
        return refusal(StatusCode::FORBIDDEN, "Origin is not allowed");
    }
    // Preflights carry no credentials by design; they pass unauthenticated.
    if request.method() == Method::OPTIONS {
        let mut response = StatusCode::NO_CONTENT.into_response();
        cors::mcp_endpoint(response.headers_mut(), origin.as_ref());
        cors::mcp_preflight(response.headers_mut());
        return response;
    }

    let principal = match &guard.protection {
        None => None,
        Some((protection, challenge)) => match protection.authenticate(request.headers()).await {
            Ok(access) => {
                tracing::debug!(
                    sub = access.subject(),
                    client_id = access.client_id(),
                    jti = access.token_id(),
                    "token accepted"
                );
                let principal = access.principal();
                request.extensions_mut().insert(access);
                Some(principal)
            }
            Err(error) => {
                tracing::debug!(reason = %error, "request not authenticated");
                let mut response = Rejection {
                    error,
                    params: challenge.clone(),
                }
                .into_response();
                cors::mcp_endpoint(response.headers_mut(), origin.as_ref());
                return response;
            }
        },
    };
    // The token has done its job; tools get the verified claims, and nothing
    // downstream can forward the raw credential.
    request.headers_mut().remove(AUTHORIZATION);

    let session_id = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let (Some(id), Some(principal)) = (&session_id, &principal)
        && guard.sessions.check(id, principal) == SessionAccess::Foreign
    {
        tracing::warn!("refused a session id presented by a principal that does not own it");
        let mut response = session_not_found();
        cors::mcp_endpoint(response.headers_mut(), origin.as_ref());
        return response;
    }
    let is_delete = request.method() == Method::DELETE;

    let mut response = next.run(request).await;

    // rmcp answers an unknown session with a plain-text 404; answer it as a
    // foreign session is answered, so the two cannot be told apart.
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
            (None, Some(new_id)) => guard.sessions.bind(new_id, principal),
            (Some(id), _) if is_delete && response.status().is_success() => {
                guard.sessions.forget(id)
            }
            _ => {}
        }
    }
    cors::mcp_endpoint(response.headers_mut(), origin.as_ref());
    response
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
