//! The child cap at the HTTP layer: a `POST` from a principal that has no
//! upstream while the gateway is at its limit is refused with `503` and
//! `Retry-After`, before any MCP processing (clients and load balancers
//! understand that better than a JSON-RPC error inside a `200`).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http::{HeaderValue, Method, StatusCode, header};
use mcpgate_auth::AccessToken;
use tower_service::Service;

use crate::config::Isolation;
use crate::pool::{Pool, PrincipalKey};

/// Seconds a refused client is told to wait: about the time an idle
/// upstream takes to be reaped, bounded to something a client will honour.
pub(crate) fn retry_after_secs(idle: std::time::Duration) -> u64 {
    idle.as_secs().clamp(1, 60)
}

#[derive(Clone)]
pub(crate) struct CapacityGate<S> {
    pub(crate) inner: S,
    /// Every upstream's pool, with the isolation its principals are keyed by.
    pub(crate) pools: Vec<(Arc<Pool>, Isolation)>,
    pub(crate) retry_after: u64,
}

impl<S> Service<Request> for CapacityGate<S>
where
    S: Service<Request, Error = Infallible>,
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
        if request.method() == Method::POST {
            let token = request.extensions().get::<Arc<AccessToken>>();
            let refused = self.pools.iter().any(|(pool, isolation)| {
                !pool.admits(&PrincipalKey::for_caller(*isolation, token.map(|t| &**t)))
            });
            if refused {
                tracing::warn!("refusing a new principal: the gateway is at its upstream limit");
                let refused = at_capacity(self.retry_after);
                return Box::pin(async move { Ok(refused) });
            }
        }
        let future = self.inner.call(request);
        Box::pin(async move {
            let Ok(response) = future.await;
            Ok(response.into_response())
        })
    }
}

fn at_capacity(retry_after: u64) -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        Body::from(
            "the gateway is serving as many principals as it may (max children); retry later\n",
        ),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
