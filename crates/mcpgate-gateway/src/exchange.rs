//! On-behalf-of tokens for HTTP upstreams: RFC 8693 token exchange of the
//! caller's verified access token (the `subject_token`) for one whose
//! audience is the upstream, sent as the upstream session's
//! `Authorization`. The caller's own token never leaves the gateway except
//! to the authorization server that issued it.
//!
//! - **Cache**: one exchanged token per (principal, upstream), reused until
//!   shortly before it expires ([`REFRESH_MARGIN`]); at most
//!   [`MAX_CACHED`] principals per upstream (expired entries go first, then
//!   the least recently used), so memory is bounded whatever callers do.
//! - **Single flight**: concurrent calls of one principal wait for one
//!   exchange instead of each sending their own.
//! - **Expired subject tokens are not exchanged**: the guard answers such a
//!   caller `401` first anyway; this is the second line.
//! - **Failures** are [`ExchangeError`]s (the caller gets a JSON-RPC error),
//!   never a fallback to the caller's token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use mcpgate_auth::{AccessToken, BearerToken};
use serde_json::Value;

use crate::error::GatewayError;
use crate::pool::PrincipalKey;

/// RFC 8693's grant type.
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693's token type of an access token.
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// An exchanged token is replaced this long before it expires (or after
/// nine tenths of its life, if that is sooner), so a forwarded request does
/// not arrive with a token that expires on the way.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(30);
/// Most principals whose exchanged token is kept per upstream.
pub const MAX_CACHED: usize = 10_000;
/// Largest token-endpoint or metadata answer read.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Bound on one exchange (or discovery) round trip.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the token endpoint is.
#[derive(Debug, Clone)]
enum Endpoint {
    /// Given.
    Token(reqwest::Url),
    /// Read from the issuer's metadata (RFC 8414, then OpenID discovery).
    Issuer(reqwest::Url),
}

/// How an HTTP upstream gets its on-behalf-of token: the authorization
/// server, the gateway's client credentials there, and the token asked for.
#[derive(Clone)]
pub struct TokenExchange {
    endpoint: Endpoint,
    client_id: String,
    client_secret: String,
    resource: Option<String>,
    audience: Option<String>,
    scopes: Vec<String>,
}

impl std::fmt::Debug for TokenExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is never printed.
        f.debug_struct("TokenExchange")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("resource", &self.resource)
            .field("audience", &self.audience)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

fn parse_url(key: &str, url: &str) -> Result<reqwest::Url, GatewayError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| GatewayError::config(key, format!("`{url}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(GatewayError::config(
            key,
            format!("`{url}` must be an http:// or https:// URL with a host"),
        ));
    }
    Ok(parsed)
}

impl TokenExchange {
    /// Exchanges at `token_endpoint`, authenticating as `client_id` with
    /// `client_secret` (HTTP Basic). The client must be registered for the
    /// token-exchange grant type.
    pub fn new(
        token_endpoint: &str,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Result<Self, GatewayError> {
        Ok(Self::with_endpoint(
            Endpoint::Token(parse_url("token exchange token_endpoint", token_endpoint)?),
            client_id.into(),
            client_secret.into(),
        ))
    }

    /// As [`new`](Self::new), with the token endpoint read from `issuer`'s
    /// metadata (RFC 8414 `/.well-known/oauth-authorization-server`, then
    /// `/.well-known/openid-configuration`) on the first exchange.
    pub fn discover(
        issuer: &str,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Result<Self, GatewayError> {
        Ok(Self::with_endpoint(
            Endpoint::Issuer(parse_url("token exchange issuer", issuer)?),
            client_id.into(),
            client_secret.into(),
        ))
    }

    fn with_endpoint(endpoint: Endpoint, client_id: String, client_secret: String) -> Self {
        Self {
            endpoint,
            client_id,
            client_secret,
            resource: None,
            audience: None,
            scopes: Vec::new(),
        }
    }

    /// The upstream as RFC 8707 `resource` (its URL, usually).
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// The upstream as RFC 8693 `audience` (a logical name).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Scopes asked for (a subset of the caller's; default: the
    /// authorization server's choice, typically all of the caller's).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    pub(crate) fn validate(&self) -> Result<(), GatewayError> {
        if self.client_id.is_empty() {
            return Err(GatewayError::config(
                "token exchange client_id",
                "must not be empty",
            ));
        }
        if self.client_secret.is_empty() {
            return Err(GatewayError::config(
                "token exchange client secret",
                "must not be empty (an exchanging client authenticates with its secret)",
            ));
        }
        if self.resource.is_none() && self.audience.is_none() {
            return Err(GatewayError::config(
                "token exchange",
                "name the upstream with `resource` (its URL) or `audience`",
            ));
        }
        Ok(())
    }
}

/// Why no on-behalf-of token could be had. Its text names no token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// No verified caller (an unauthenticated gateway): nothing to exchange.
    #[error("on-behalf-of tokens need an authenticated caller")]
    NoCaller,
    /// The caller's token has expired; it is not sent for exchange.
    #[error("the caller's token has expired; it is not exchanged")]
    SubjectExpired,
    /// The authorization server could not be reached or answered garbage.
    #[error("token exchange at {endpoint} failed: {problem}")]
    Transport {
        /// The token endpoint (or issuer).
        endpoint: String,
        /// What went wrong.
        problem: String,
    },
    /// The authorization server refused the exchange.
    #[error("the authorization server refused the token exchange ({status}): {error}{}", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        /// HTTP status.
        status: u16,
        /// OAuth `error`.
        error: String,
        /// OAuth `error_description`.
        description: Option<String>,
    },
}

/// One principal's cached token; its async lock is the single flight.
#[derive(Default)]
struct Entry {
    token: tokio::sync::Mutex<Option<Cached>>,
}

#[derive(Clone)]
struct Cached {
    token: Arc<str>,
    refresh_at: Instant,
}

/// Exchanges and caches on-behalf-of tokens for one upstream.
pub(crate) struct Exchanger {
    config: TokenExchange,
    http: reqwest::Client,
    /// The token endpoint, once known (discovery runs once).
    endpoint: tokio::sync::OnceCell<reqwest::Url>,
    entries: Mutex<HashMap<PrincipalKey, (Arc<Entry>, Instant)>>,
    capacity: usize,
}

/// The caller's raw bearer token, kept in the request's extensions for the
/// exchange only when an upstream exchanges (see `app`): the guard removes
/// the `Authorization` header itself before the MCP service runs.
#[derive(Clone)]
pub(crate) struct SubjectToken(pub(crate) BearerToken);

/// Copies the caller's bearer token into [`SubjectToken`] before the guard
/// verifies it; the guard refuses the request unless that same header
/// carries a valid token, so a `SubjectToken` that reaches the MCP service
/// is the verified caller's.
pub(crate) async fn keep_subject_token(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let raw = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    if let Some(raw) = raw {
        request
            .extensions_mut()
            .insert(SubjectToken(BearerToken::new(raw)));
    }
    next.run(request).await
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'*') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Exchanger {
    pub(crate) fn new(config: TokenExchange, http: reqwest::Client) -> Self {
        Self::with_capacity(config, http, MAX_CACHED)
    }

    pub(crate) fn with_capacity(
        config: TokenExchange,
        http: reqwest::Client,
        capacity: usize,
    ) -> Self {
        Self {
            config,
            http,
            endpoint: tokio::sync::OnceCell::new(),
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The upstream token for `principal` calling with `subject`: cached,
    /// or exchanged now (one exchange at a time per principal).
    /// `raw` is the caller's token as sent; `subject` its verified claims.
    pub(crate) async fn token_for(
        &self,
        principal: &PrincipalKey,
        subject: Option<&AccessToken>,
        raw: Option<&BearerToken>,
    ) -> Result<Arc<str>, ExchangeError> {
        let (Some(subject), Some(raw)) = (subject, raw) else {
            return Err(ExchangeError::NoCaller);
        };
        if subject.expires_at() <= SystemTime::now() {
            return Err(ExchangeError::SubjectExpired);
        }
        let entry = self.entry(principal);
        let mut slot = entry.token.lock().await;
        if let Some(cached) = &*slot
            && Instant::now() < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        let cached = self.exchange(subject, raw).await?;
        tracing::debug!(subject = subject.subject(), "on-behalf-of token exchanged");
        *slot = Some(cached.clone());
        Ok(cached.token)
    }

    /// The principal's entry, created if needed; evicts to stay bounded.
    fn entry(&self, principal: &PrincipalKey) -> Arc<Entry> {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((entry, used)) = entries.get_mut(principal) {
            *used = now;
            return entry.clone();
        }
        if entries.len() >= self.capacity {
            // Entries nobody waits on whose token is stale go first, then the
            // least recently used.
            entries.retain(|_, (entry, _)| {
                Arc::strong_count(entry) > 1
                    || entry
                        .token
                        .try_lock()
                        .map_or(true, |t| t.as_ref().is_some_and(|c| c.refresh_at > now))
            });
            while entries.len() >= self.capacity {
                let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, (_, used))| *used)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                entries.remove(&oldest);
            }
        }
        let entry = Arc::new(Entry::default());
        entries.insert(principal.clone(), (entry.clone(), now));
        entry
    }

    /// Number of principals with a cache entry.
    #[cfg(test)]
    fn cached(&self) -> usize {
        self.entries.lock().unwrap().len()
    }

    async fn token_endpoint(&self) -> Result<&reqwest::Url, ExchangeError> {
        self.endpoint
            .get_or_try_init(|| async {
                match &self.config.endpoint {
                    Endpoint::Token(url) => Ok(url.clone()),
                    Endpoint::Issuer(issuer) => self.discover(issuer).await,
                }
            })
            .await
    }

    async fn discover(&self, issuer: &reqwest::Url) -> Result<reqwest::Url, ExchangeError> {
        let failed = |problem: String| ExchangeError::Transport {
            endpoint: issuer.to_string(),
            problem,
        };
        let path = issuer.path().trim_end_matches('/');
        let mut candidates = Vec::new();
        for well_known in ["oauth-authorization-server", "openid-configuration"] {
            let mut rfc8414 = issuer.clone();
            rfc8414.set_path(&format!("/.well-known/{well_known}{path}"));
            candidates.push(rfc8414);
            let mut appended = issuer.clone();
            appended.set_path(&format!("{path}/.well-known/{well_known}"));
            if !candidates.contains(&appended) {
                candidates.push(appended);
            }
        }
        let mut last = String::from("no metadata document");
        for url in candidates {
            match self.get_json(url.clone()).await {
                Ok(metadata) => {
                    let Some(endpoint) = metadata.get("token_endpoint").and_then(Value::as_str)
                    else {
                        last = format!("{url} has no token_endpoint");
                        continue;
                    };
                    return parse_url("token_endpoint", endpoint)
                        .map_err(|e| failed(format!("in {url}: {e}")));
                }
                Err(problem) => last = format!("{url}: {problem}"),
            }
        }
        Err(failed(last))
    }

    async fn get_json(&self, url: reqwest::Url) -> Result<Value, String> {
        let response = self
            .http
            .get(url)
            .timeout(EXCHANGE_TIMEOUT)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status().as_u16()));
        }
        let body = read_bounded(response).await?;
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    }

    async fn exchange(
        &self,
        subject: &AccessToken,
        raw: &BearerToken,
    ) -> Result<Cached, ExchangeError> {
        let endpoint = self.token_endpoint().await?;
        let failed = |problem: String| ExchangeError::Transport {
            endpoint: endpoint.to_string(),
            problem,
        };
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", GRANT_TYPE),
            ("subject_token", raw.secret()),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("requested_token_type", ACCESS_TOKEN_TYPE),
        ];
        if let Some(resource) = &self.config.resource {
            form.push(("resource", resource));
        }
        if let Some(audience) = &self.config.audience {
            form.push(("audience", audience));
        }
        let scope = self.config.scopes.join(" ");
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        let response = self
            .http
            .post(endpoint.clone())
            // RFC 6749 §2.3.1: the credentials are form-encoded before Basic.
            .basic_auth(
                form_encode(&self.config.client_id),
                Some(form_encode(&self.config.client_secret)),
            )
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(
                form.iter()
                    .map(|(k, v)| format!("{k}={}", form_encode(v)))
                    .collect::<Vec<_>>()
                    .join("&"),
            )
            .timeout(EXCHANGE_TIMEOUT)
            .send()
            .await
            .map_err(|e| failed(e.without_url().to_string()))?;
        let status = response.status();
        let body = read_bounded(response).await.map_err(failed)?;
        let answer: Option<Value> = serde_json::from_slice(&body).ok();
        let text = |name: &str| {
            answer
                .as_ref()
                .and_then(|a| a.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        if !status.is_success() {
            return Err(match text("error") {
                Some(error) => ExchangeError::Refused {
                    status: status.as_u16(),
                    error,
                    description: text("error_description"),
                },
                None => failed(format!("HTTP {} without an OAuth error", status.as_u16())),
            });
        }
        let access_token = text("access_token")
            .ok_or_else(|| failed("the answer has no access_token".to_owned()))?;
        let expires_in = answer
            .as_ref()
            .and_then(|a| a.get("expires_in"))
            .and_then(Value::as_u64);
        if access_token.is_empty()
            || http::HeaderValue::from_str(&format!("Bearer {access_token}")).is_err()
        {
            return Err(failed(
                "the access_token cannot be sent in a header".to_owned(),
            ));
        }
        // Without `expires_in`, the token is trusted no longer than the
        // caller's own.
        let subject_left = subject
            .expires_at()
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        let lifetime = expires_in.map_or(subject_left, Duration::from_secs);
        let margin = REFRESH_MARGIN.min(lifetime / 10);
        Ok(Cached {
            token: access_token.into(),
            refresh_at: Instant::now() + lifetime.saturating_sub(margin),
        })
    }
}

/// A response body, refused beyond [`MAX_RESPONSE_BYTES`].
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!(
                "the answer is larger than {MAX_RESPONSE_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(subject: &str) -> PrincipalKey {
        PrincipalKey::Principal {
            issuer: "https://issuer.test".into(),
            subject: subject.into(),
            client_id: None,
        }
    }

    fn exchanger(capacity: usize) -> Exchanger {
        let config = TokenExchange::new("http://127.0.0.1:9/token", "c", "s")
            .unwrap()
            .resource("http://127.0.0.1:9/mcp");
        Exchanger::with_capacity(config, reqwest::Client::new(), capacity)
    }

    #[tokio::test]
    async fn an_expired_subject_token_is_not_sent() {
        let ex = exchanger(4);
        let expired = AccessToken::for_testing(serde_json::json!({"sub": "u", "exp": 1}));
        // Port 9 would refuse a connection: the error proves nothing was tried.
        let raw = BearerToken::new("t");
        assert!(matches!(
            ex.token_for(&key("u"), Some(&expired), Some(&raw)).await,
            Err(ExchangeError::SubjectExpired)
        ));
        assert!(matches!(
            ex.token_for(&key("u"), None, None).await,
            Err(ExchangeError::NoCaller)
        ));
    }

    #[test]
    fn form_values_are_encoded() {
        assert_eq!(form_encode("a b+c/d:é"), "a%20b%2Bc%2Fd%3A%C3%A9");
    }

    #[test]
    fn the_cache_is_bounded() {
        let ex = exchanger(3);
        for i in 0..10 {
            drop(ex.entry(&key(&format!("u{i}"))));
        }
        assert!(ex.cached() <= 3);
    }

    #[test]
    fn config_needs_a_secret_and_a_target() {
        let no_target = TokenExchange::new("http://127.0.0.1:9/token", "c", "s").unwrap();
        assert!(
            no_target
                .validate()
                .unwrap_err()
                .to_string()
                .contains("resource")
        );
        let no_secret = TokenExchange::new("http://127.0.0.1:9/token", "c", "")
            .unwrap()
            .audience("api");
        assert!(
            no_secret
                .validate()
                .unwrap_err()
                .to_string()
                .contains("secret")
        );
        assert!(TokenExchange::new("ftp://x/token", "c", "s").is_err());
        let debug = format!(
            "{:?}",
            TokenExchange::new("http://127.0.0.1:9/token", "c", "hunter2").unwrap()
        );
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
