//! Forwards the authorization server's RFC 8414 metadata at this server's own
//! `/.well-known/oauth-authorization-server`, for clients written against the
//! 2025-03-26 revision, which looked for it on the MCP server.
//!
//! Cached (5 minutes), single-flight, and a stale copy is served while the
//! upstream fails. With nothing cached the answer is a 502 with a generic body:
//! upstream error text stays in our logs.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use tokio::time::Instant;

/// Well-known path of RFC 8414.
pub(crate) const AS_METADATA_PREFIX: &str = "/.well-known/oauth-authorization-server";

const FRESH_FOR: Duration = Duration::from_secs(300);
/// After a failed fetch, serve the stale copy this long before trying again,
/// so an outage does not turn every request into an upstream call.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);
const MAX_BODY: usize = 64 * 1024;

#[derive(Default)]
struct Cached {
    body: Option<Bytes>,
    next_fetch: Option<Instant>,
}

/// A caching forwarder for one upstream metadata URL.
#[derive(Clone)]
pub(crate) struct MetadataForwarder {
    upstream: Arc<str>,
    /// Built on the first fetch, not at start-up: building a client loads
    /// the platform's root certificates (a few milliseconds of file reading
    /// and PEM parsing, `bench/analysis.md`, cold start), and most servers
    /// never receive a request for this document.
    http: Arc<OnceLock<reqwest::Client>>,
    // A tokio mutex on purpose: it is held across the upstream fetch, which is
    // what makes the fetch single-flight.
    cache: Arc<tokio::sync::Mutex<Cached>>,
}

impl MetadataForwarder {
    pub(crate) fn new(upstream: String) -> Self {
        Self {
            upstream: upstream.into(),
            http: Arc::default(),
            cache: Arc::default(),
        }
    }

    /// The HTTP client, built on first use (see the field).
    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(3))
                .timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::limited(3))
                .build()
                .unwrap_or_else(|_| reqwest::Client::new())
        })
    }

    pub(crate) async fn respond(&self) -> Response {
        let mut cache = self.cache.lock().await;
        let due = cache.next_fetch.is_none_or(|at| Instant::now() >= at);
        if due {
            match self.fetch().await {
                Ok(body) => {
                    tracing::debug!(upstream = %self.upstream, "discovery: fetched authorization server metadata");
                    cache.body = Some(body);
                    cache.next_fetch = Some(Instant::now() + FRESH_FOR);
                }
                Err(error) => {
                    tracing::warn!(upstream = %self.upstream, %error, stale = cache.body.is_some(), "authorization server metadata fetch failed");
                    cache.next_fetch = Some(Instant::now() + RETRY_AFTER_FAILURE);
                }
            }
        }
        match &cache.body {
            Some(body) => {
                let mut r = Response::new(Body::from(body.clone()));
                r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
                r
            }
            None => (
                StatusCode::BAD_GATEWAY,
                axum::Json(serde_json::json!({
                    "error": "temporarily_unavailable",
                    "error_description": "authorization server metadata is unavailable; try again shortly",
                })),
            )
                .into_response(),
        }
    }

    async fn fetch(&self) -> Result<Bytes, String> {
        let mut response = self
            .http()
            .get(&*self.upstream)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("body larger than {MAX_BODY} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        // Only forward something that is at least a JSON object.
        let parsed: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
        if !parsed.is_object() {
            return Err("not a JSON object".to_owned());
        }
        Ok(Bytes::from(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No client (and no root certificates loaded) until the document is
    /// first asked for; then one client, kept.
    #[test]
    fn client_is_built_on_first_use() {
        let forwarder = MetadataForwarder::new("http://127.0.0.1:9/meta".to_owned());
        assert!(forwarder.http.get().is_none(), "built at construction");
        let first: *const reqwest::Client = forwarder.http();
        let clone = forwarder.clone();
        assert!(
            std::ptr::eq(first, clone.http()),
            "one client for all clones"
        );
    }
}
