//! Bench-only JWKS outages for `bench-as`: a switch that makes the
//! authorization server's `GET /keys` answer `503`, so the soak run
//! (`mcpgate-bench soak`) can check that mcpgate keeps verifying tokens signed
//! with keys it already has while the issuer's JWKS endpoint is down.
//!
//! - `POST /bench/keys-outage?on=1` starts an outage, `?on=0` ends it;
//! - `GET /bench/keys-outage` reports the state;
//!
//! both answer `{"on": bool, "served": n, "refused": n}`: whether an outage is
//! on, and how many `GET /keys` requests were answered normally and with `503`
//! since start-up (the JWKS fetches the server under test made). Requests that
//! carry `Origin` (a web page) are refused with `403`, as the dev AS does for
//! `POST /admin/rotate-keys`. Nothing here is part of `mcpgate-dev-as`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

/// The route that switches outages on and off.
pub const PATH: &str = "/bench/keys-outage";

/// Shared switch and counters.
#[derive(Debug, Clone, Default)]
struct Switch {
    on: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
}

impl Switch {
    fn report(&self) -> Response {
        axum::Json(json!({
            "on": self.on.load(Ordering::Acquire),
            "served": self.served.load(Ordering::Relaxed),
            "refused": self.refused.load(Ordering::Relaxed),
        }))
        .into_response()
    }
}

fn from_web_page(request: &Request) -> bool {
    request.headers().contains_key(header::ORIGIN)
}

async fn status(State(switch): State<Switch>, request: Request) -> Response {
    if from_web_page(&request) {
        return StatusCode::FORBIDDEN.into_response();
    }
    switch.report()
}

async fn toggle(
    State(switch): State<Switch>,
    Query(q): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    if from_web_page(&request) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let on = match q.get("on").map(String::as_str) {
        Some("1" | "true") => true,
        Some("0" | "false") => false,
        _ => return (StatusCode::BAD_REQUEST, "on must be 1 or 0").into_response(),
    };
    switch.on.store(on, Ordering::Release);
    switch.report()
}

/// Answers `GET /keys` with `503` while an outage is on; counts every `/keys` request.
async fn fail_keys(State(switch): State<Switch>, request: Request, next: Next) -> Response {
    if request.uri().path() != "/keys" || !matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    if switch.on.load(Ordering::Acquire) {
        switch.refused.fetch_add(1, Ordering::Relaxed);
        let mut response = (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": "temporarily_unavailable"})),
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return response;
    }
    switch.served.fetch_add(1, Ordering::Relaxed);
    next.run(request).await
}

/// `app` plus [`PATH`], with `GET /keys` failing while an outage is on.
pub fn wrap(app: Router) -> Router {
    let switch = Switch::default();
    let control = Router::new()
        .route(PATH, get(status).post(toggle))
        .with_state(switch.clone());
    app.merge(control)
        .layer(axum::middleware::from_fn_with_state(switch, fail_keys))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::proto::simple_request;

    #[tokio::test]
    async fn keys_fail_only_during_an_outage() {
        let app = wrap(Router::new().route("/keys", get(|| async { "{\"keys\":[]}" })));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let send = |method: Method, path: &'static str| async move {
            let (status, body) = simple_request(addr, method, path, Duration::from_secs(5))
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        };
        assert_eq!(send(Method::GET, "/keys").await.0, 200);
        let (status, body) = send(Method::POST, "/bench/keys-outage?on=1").await;
        assert_eq!(status, 200);
        assert!(body.contains("\"on\":true"), "{body}");
        assert_eq!(send(Method::GET, "/keys").await.0, 503);
        assert_eq!(send(Method::GET, "/keys").await.0, 503);
        assert_eq!(send(Method::POST, "/bench/keys-outage?on=x").await.0, 400);
        assert_eq!(send(Method::POST, "/bench/keys-outage?on=0").await.0, 200);
        assert_eq!(send(Method::GET, "/keys").await.0, 200);
        let (_, body) = send(Method::GET, "/bench/keys-outage").await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["on"], false);
        assert_eq!(v["served"], 2);
        assert_eq!(v["refused"], 2);
        server.abort();
    }
}
