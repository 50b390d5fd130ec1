//! # mcpgate-rmcp
//!
//! What mcpgate's server (`mcpgate`) and its gateway (`mcpgate-gateway`)
//! both add around rmcp's Streamable HTTP service; internal, not published.
//! A crate of its own because `mcpgate-auth` has no rmcp and the gateway does
//! not depend on the server API:
//!
//! - [`TrackedSessions`]: rmcp's in-memory session manager, reporting every
//!   session it closes (idle timeout included) to the guard's session
//!   bindings, so a session's slot lives exactly as long as the session;
//! - [`JsonRpcErrors`]: a body rmcp cannot parse is answered as JSON-RPC
//!   says (HTTP 400 with `-32700 Parse error` or `-32600 Invalid Request`),
//!   not with rmcp's `415` and serde's text.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures::Stream;
use futures::future::BoxFuture;
use http::{HeaderValue, Method, StatusCode, header};
use http_body::Frame;
use mcpgate_auth::http::SessionHook;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::{
    EventStore, RestoreOutcome, ServerSseMessage, SessionId, SessionManager,
};
use serde_json::Value;
use tower_service::Service;

/// rmcp's [`LocalSessionManager`] that tells the guard when a session ends.
pub struct TrackedSessions {
    inner: LocalSessionManager,
    hook: SessionHook,
}

impl TrackedSessions {
    /// Wraps `inner`, telling `hook` about every session it closes.
    pub fn new(inner: LocalSessionManager, hook: SessionHook) -> Self {
        Self { inner, hook }
    }
}

type Local = LocalSessionManager;

impl SessionManager for TrackedSessions {
    type Error = <Local as SessionManager>::Error;
    type Transport = <Local as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.inner.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    /// Called for a `DELETE` and when a session's worker stops (idle
    /// timeout, transport closed): either way the session is gone.
    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let result = self.inner.close_session(id).await;
        self.hook.session_closed(id);
        result
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.resume(id, last_event_id).await
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.inner.restore_session(id).await
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.inner.event_store()
    }
}

/// Wraps rmcp's HTTP service: a `POST` body rmcp could not deserialize gets a
/// JSON-RPC error instead of rmcp's `415`. The body is parsed once, by rmcp;
/// only when rmcp refuses it is the (retained) body looked at again, to tell
/// invalid JSON (`-32700`) from JSON that is no JSON-RPC message (`-32600`).
#[derive(Clone)]
pub struct JsonRpcErrors<S> {
    inner: S,
}

impl<S> JsonRpcErrors<S> {
    /// Wraps rmcp's service `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S, R> Service<Request> for JsonRpcErrors<S>
where
    S: Service<http::Request<Tee>, Response = R, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: IntoResponse,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let seen =
            (request.method() == Method::POST).then(|| Arc::new(Mutex::new(Seen::default())));
        let request = request.map(|body| Tee {
            inner: body,
            seen: seen.clone(),
        });
        let future = self.inner.call(request);
        Box::pin(async move {
            let Ok(response) = future.await;
            let response = response.into_response();
            if response.status() != StatusCode::UNSUPPORTED_MEDIA_TYPE {
                return Ok(response);
            }
            // rmcp answers 415 for a wrong Content-Type (before reading the
            // body) and for a body it cannot deserialize (after reading all of it).
            let Some(seen) = seen else {
                return Ok(response);
            };
            let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()));
            if !seen.complete {
                return Ok(response);
            }
            Ok(malformed_message(&seen.chunks.concat()))
        })
    }
}

/// The frames of a request body, kept (as shared `Bytes`, not copies) while
/// the MCP layer reads it.
#[derive(Default)]
struct Seen {
    chunks: Vec<Bytes>,
    complete: bool,
}

/// A request body that keeps what passes through it.
pub struct Tee {
    inner: Body,
    seen: Option<Arc<Mutex<Seen>>>,
}

impl HttpBody for Tee {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Some(seen) = &this.seen {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        seen.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .chunks
                            .push(data.clone());
                    }
                }
                Poll::Ready(None) => seen.lock().unwrap_or_else(|e| e.into_inner()).complete = true,
                _ => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The JSON-RPC answer to a body that is not a JSON-RPC message: `-32700`
/// when it is not JSON at all, `-32600` when it is JSON of the wrong shape.
fn malformed_message(body: &[u8]) -> Response {
    let (id, code, message) = match serde_json::from_slice::<Value>(body) {
        Err(e) => (Value::Null, -32700, format!("Parse error: {e}")),
        Ok(value) => {
            // Echo the id when the message has a usable one (JSON-RPC 2.0 §5).
            let id = match value.get("id") {
                Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
                _ => Value::Null,
            };
            (
                id,
                -32600,
                "Invalid Request: not a JSON-RPC 2.0 request, notification or response".to_owned(),
            )
        }
    };
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": message},
    });
    let mut response = (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(body: &[u8]) -> Value {
        let response = malformed_message(body);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn parse_errors_and_invalid_requests_are_told_apart() {
        let parse = answer(b"{not json").await;
        assert_eq!(parse["error"]["code"], -32700);
        assert_eq!(parse["id"], Value::Null);
        let invalid = answer(br#"{"jsonrpc":"2.0","id":7,"method":5}"#).await;
        assert_eq!(invalid["error"]["code"], -32600);
        assert_eq!(invalid["id"], 7);
    }
}
