//! Operations endpoints next to the MCP endpoint: `/healthz` (the process
//! serves) and `/readyz` (the authorization server's signing keys were
//! obtained at least once, and every HTTP upstream accepts a connection now;
//! stdio upstreams answered the start-up check, and each principal's child
//! is started on demand).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use mcpgate_auth::ProtectedResource;

/// Bound on one readiness look at the JWKS.
const KEYS_CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on one readiness look at an HTTP upstream.
const UPSTREAM_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest JWKS document read for the readiness check.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// Whether the gateway is ready; sticky once the keys were seen.
#[derive(Clone)]
pub(crate) struct Readiness {
    keys_seen: Arc<AtomicBool>,
    protection: Option<ProtectedResource>,
    http: reqwest::Client,
    /// HTTP upstreams, checked on every probe (not sticky: an upstream that
    /// goes away makes the gateway unready until it is back).
    upstreams: Arc<[reqwest::Url]>,
}

impl Readiness {
    pub(crate) fn new(protection: Option<ProtectedResource>) -> Self {
        Self {
            keys_seen: Arc::new(AtomicBool::new(protection.is_none())),
            protection,
            http: reqwest::Client::new(),
            upstreams: Arc::new([]),
        }
    }

    /// The HTTP upstreams to check on every probe.
    pub(crate) fn upstreams(mut self, urls: Vec<reqwest::Url>) -> Self {
        self.upstreams = urls.into();
        self
    }

    /// Ready when the keys were seen and every HTTP upstream accepts a TCP
    /// connection (a connection, not an MCP request: a probe must not
    /// open sessions or spend the upstream's rate limits).
    pub(crate) async fn check(&self) -> Result<(), String> {
        self.check_keys().await?;
        for url in self.upstreams.iter() {
            let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
                return Err(format!("upstream {url} has no host or port"));
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            match tokio::time::timeout(
                UPSTREAM_CHECK_TIMEOUT,
                tokio::net::TcpStream::connect((host, port)),
            )
            .await
            {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("upstream {url} is not reachable: {e}")),
                Err(_) => {
                    return Err(format!(
                        "upstream {url} did not accept a connection within {} s",
                        UPSTREAM_CHECK_TIMEOUT.as_secs()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether the JWKS has been fetched with at least one key; sticky once
    /// it was. Until then each call looks again, so a probe recovers as soon
    /// as the authorization server does.
    async fn check_keys(&self) -> Result<(), String> {
        if self.keys_seen.load(Ordering::Acquire) {
            return Ok(());
        }
        let Some(protection) = &self.protection else {
            return Ok(());
        };
        // A resource checking tokens by introspection only has no keys to
        // wait for: it asks the authorization server per token.
        let Some(verifier) = protection.jwt_verifier() else {
            self.keys_seen.store(true, Ordering::Release);
            return Ok(());
        };
        let keys = verifier.keys();
        // Resolves the JWKS URI of a discovered issuer and warms the cache.
        keys.prefetch().await;
        let uri = keys.jwks_uri().to_owned();
        if uri.is_empty() {
            return Err("the JWKS URI is not known yet (issuer discovery pending)".to_owned());
        }
        let fetched = async {
            let response = self
                .http
                .get(&uri)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("{uri} answered {}", response.status()));
            }
            let body = response.bytes().await.map_err(|e| e.to_string())?;
            if body.len() > MAX_JWKS_BYTES {
                return Err(format!(
                    "{uri}: the JWKS is larger than {MAX_JWKS_BYTES} bytes"
                ));
            }
            let doc: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            match doc.get("keys").and_then(|k| k.as_array()) {
                Some(keys) if !keys.is_empty() => Ok(()),
                _ => Err(format!("{uri} has no keys")),
            }
        };
        match tokio::time::timeout(KEYS_CHECK_TIMEOUT, fetched).await {
            Ok(Ok(())) => {
                self.keys_seen.store(true, Ordering::Release);
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!(
                "{uri} did not answer within {} s",
                KEYS_CHECK_TIMEOUT.as_secs()
            )),
        }
    }
}

/// `/healthz` and `/readyz`.
pub(crate) fn routes(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let readiness = readiness.clone();
                async move {
                    match readiness.check().await {
                        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
                        Err(why) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("not ready: {why}\n"),
                        ),
                    }
                }
            }),
        )
}
