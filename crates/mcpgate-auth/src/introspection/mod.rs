//! RFC 7662 token introspection: verifying opaque access tokens by asking the
//! authorization server about them.
//!
//! [`IntrospectionVerifier::verify`] has the shape of
//! [`JwtVerifier::verify`](crate::verify::JwtVerifier::verify) and answers with
//! the same [`AuthError`]s. What it guarantees, and why:
//! - **Fails closed.** An endpoint that is down, slow, answers other than
//!   `200`, rejects our client credentials, sends more than the size cap or
//!   something that is not an introspection response produces
//!   [`AuthError::KeysUnavailable`] (503 `temporarily_unavailable` with a
//!   `Retry-After`), never an accept and never a 401 that would make the client
//!   throw a good token away.
//! - **RFC 7662 semantics, strictly.** `active: false` is
//!   [`TokenRejection::Inactive`]; an `active: true` answer is still refused
//!   when its `exp` has passed or is missing, its `nbf`/`iat` is in the future,
//!   its `iss` is not the configured issuer, its `aud` names none of the
//!   configured audiences, or its `token_type` is not a bearer access token.
//!   Required scopes are checked by [`ProtectedResource`](crate::ProtectedResource)
//!   exactly as for JWTs, from the answer's `scope`.
//! - **Client authentication** with `client_secret_basic` or
//!   `client_secret_post`; the secret is a [`ClientSecret`], which never prints.
//! - **A bounded cache** of answers keyed by the token's SHA-256, positive
//!   answers never past `exp` nor the maximum TTL, refusals for a few seconds,
//!   outages never (see `cache.rs`).
//! - **Single flight per token.** Concurrent verifications of one uncached
//!   token make one request; the others wait for its outcome. The request runs
//!   in its own task, so a caller that goes away does not cancel it for the
//!   others, and the number of requests in progress is capped.
//! - Bounded: token size, response size, connect and total time (the total
//!   includes waiting for a slot under the cap).
//!
//! Configure it in code ([`IntrospectionSettings`]), from a configuration
//! file ([`IntrospectionConfig`], the secret read from a named environment
//! variable) or from FastMCP's `FASTMCP_SERVER_AUTH_INTROSPECTION_*`
//! variables ([`env::from_vars`]; `FASTMCP_SERVER_AUTH=introspection` makes
//! [`providers::from_vars`](crate::providers::from_vars) use them). As a
//! [`ProviderConfig`](crate::providers::ProviderConfig) it is
//! `provider = "introspection"` (opaque tokens only) or an `introspection`
//! table next to a JWT provider. A resource built with
//! [`ProtectedResource::opaque_builder`](crate::ProtectedResource::opaque_builder)
//! sends it every token; next to JWT verifiers, a
//! [`ProtectedResource`](crate::ProtectedResource) sends it every token that
//! is not a JWT:
//!
//! ```
//! use mcpgate_auth::introspection::{ClientSecret, IntrospectionSettings, IntrospectionVerifier};
//! use mcpgate_auth::jwks::{JwksCache, JwksConfig};
//! use mcpgate_auth::verify::{JwtVerifier, SigningAlgorithm, VerifierSettings};
//! use mcpgate_auth::{McpUrl, ProtectedResource};
//!
//! # fn secret_from_your_vault() -> String { "example".into() }
//! let mcp_url = "https://mcp.example.com/mcp";
//! let opaque = IntrospectionVerifier::new(IntrospectionSettings::new(
//!     "https://id.example.com/oauth2/introspect",
//!     "https://id.example.com",
//!     "mcp-gateway",
//!     ClientSecret::new(secret_from_your_vault()),
//!     [mcp_url],
//! ))?;
//! // JWT access tokens from the same server keep being verified locally.
//! let keys = JwksCache::new("https://id.example.com/jwks", JwksConfig::default());
//! let jwt = JwtVerifier::new(keys, VerifierSettings::new(
//!     ["https://id.example.com"], [mcp_url], [SigningAlgorithm::Rs256],
//! ))?;
//! let resource = ProtectedResource::builder(McpUrl::parse(mcp_url)?, jwt)
//!     .opaque_verifier(opaque)
//!     .authorization_server("https://id.example.com")
//!     .required_scopes(["mcp:tools"])
//!     .build()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cache;
mod client;
mod config;
pub mod env;
mod response;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Semaphore;
use tokio::time::Instant;
use url::Url;

use crate::claims::AccessToken;
use crate::error::{AuthError, TokenRejection};
use crate::types::BearerToken;
use crate::verify::{DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, DEFAULT_SCOPE_CLAIMS};

pub use client::{ClientAuthMethod, ClientSecret};
pub use config::IntrospectionConfig;

use cache::{AnswerCache, Lookup, Outcome};
use client::{ExchangeError, Introspector};
use response::{Expectations, Verdict};

/// Default longest time a positive answer is reused: how long a token revoked
/// at the authorization server can still be accepted here.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// Default time a refusal is reused.
pub const DEFAULT_NEGATIVE_CACHE_TTL: Duration = Duration::from_secs(5);

/// Default number of answers remembered (each of positive and negative).
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// Default largest introspection response read.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Default cap on introspection requests in progress at once.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 64;

/// Everything an [`IntrospectionVerifier`] needs. Start from
/// [`IntrospectionSettings::new`], then change the fields you need.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IntrospectionSettings {
    /// The introspection endpoint (`introspection_endpoint` in the
    /// authorization server's metadata). `https`, or `http` to a loopback
    /// address unless [`allow_insecure_http`](Self::allow_insecure_http): the
    /// request carries the token and the client secret.
    pub endpoint: String,
    /// Accept a plain-http endpoint off loopback (trusted networks only;
    /// default `false`).
    pub allow_insecure_http: bool,
    /// The authorization server's issuer identifier. An `iss` in an answer
    /// must equal it; an answer without one is taken to be from it.
    pub issuer: String,
    /// The resource server's client id at the authorization server.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: ClientSecret,
    /// How the client id and secret are sent (default `client_secret_basic`).
    pub client_auth: ClientAuthMethod,
    /// Accepted audiences: an `aud` in an answer must contain at least one.
    /// Must not be empty (usually the MCP URL).
    pub audiences: Vec<String>,
    /// Refuse answers without `aud` (default `false`: RFC 7662 makes `aud`
    /// optional, and the authorization server already knows which resource
    /// server is asking, since it authenticated it).
    pub require_audience: bool,
    /// Clock skew tolerated for `exp`, `nbf` and `iat` (default 60 s).
    pub leeway: Duration,
    /// Tokens longer than this are refused without a request (default 8 KiB).
    pub max_token_bytes: usize,
    /// Longest reuse of a positive answer (default 60 s); never past `exp`.
    pub cache_ttl: Duration,
    /// Reuse of a refusal (default 5 s; zero turns it off).
    pub negative_cache_ttl: Duration,
    /// Answers remembered, of each kind (default 10,000; 0 turns caching off).
    pub cache_capacity: usize,
    /// TCP connect timeout (default 3 s).
    pub connect_timeout: Duration,
    /// Whole-request timeout, including waiting for a free slot (default 5 s).
    pub request_timeout: Duration,
    /// Largest response body read (default 64 KiB).
    pub max_response_bytes: usize,
    /// Requests in progress at once (default 64); more wait for a slot.
    pub max_concurrent_requests: usize,
    /// `Retry-After` sent when the endpoint cannot be used (default 5 s).
    pub retry_after: Duration,
    /// Answer members the granted scopes are read from (default `scope`, the
    /// RFC 7662 member, plus `scopes` and `scp` as on the JWT path).
    pub scope_claims: Vec<String>,
    /// The name [`AccessToken::provider`] reports for tokens this verifier
    /// accepts (default `introspection`).
    pub provider: String,
}

impl IntrospectionSettings {
    /// Settings for this endpoint, issuer, client and audiences, with the
    /// defaults above.
    pub fn new<A>(
        endpoint: impl Into<String>,
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: ClientSecret,
        audiences: A,
    ) -> Self
    where
        A: IntoIterator,
        A::Item: Into<String>,
    {
        Self {
            endpoint: endpoint.into(),
            allow_insecure_http: false,
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret,
            client_auth: ClientAuthMethod::default(),
            audiences: audiences.into_iter().map(Into::into).collect(),
            require_audience: false,
            leeway: DEFAULT_LEEWAY,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            cache_ttl: DEFAULT_CACHE_TTL,
            negative_cache_ttl: DEFAULT_NEGATIVE_CACHE_TTL,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(5),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            retry_after: Duration::from_secs(5),
            scope_claims: DEFAULT_SCOPE_CLAIMS.map(str::to_owned).to_vec(),
            provider: "introspection".to_owned(),
        }
    }

    /// Sets how the client authenticates.
    #[must_use]
    pub fn client_auth(mut self, method: ClientAuthMethod) -> Self {
        self.client_auth = method;
        self
    }

    /// Sets whether answers without `aud` are refused.
    #[must_use]
    pub fn require_audience(mut self, required: bool) -> Self {
        self.require_audience = required;
        self
    }

    /// Sets the positive and negative cache TTLs.
    #[must_use]
    pub fn cache_ttls(mut self, positive: Duration, negative: Duration) -> Self {
        self.cache_ttl = positive;
        self.negative_cache_ttl = negative;
        self
    }

    /// Sets the whole-request timeout.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}

/// Why [`IntrospectionVerifier::new`] refused its settings. Each names the
/// field; each would otherwise switch a check off or leak a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidIntrospectionSettings {
    /// `endpoint` is not an absolute http(s) URL.
    #[error("endpoint `{0}` is not an absolute http(s) URL")]
    BadEndpoint(String),
    /// `endpoint` is plain `http` to a host that is not loopback, and
    /// `allow_insecure_http` is off.
    #[error(
        "endpoint `{0}` uses plain http on a non-loopback host, so the token and the client secret would travel unprotected; use https:// (or allow_insecure_http on a trusted network)"
    )]
    InsecureEndpoint(String),
    /// `issuer` is empty.
    #[error("issuer is empty; set the authorization server's issuer identifier")]
    NoIssuer,
    /// `client_id` is empty.
    #[error("client_id is empty; set the resource server's client id")]
    NoClientId,
    /// `client_secret` is empty.
    #[error("client_secret is empty")]
    NoClientSecret,
    /// No non-empty audience.
    #[error("at least one audience is required")]
    NoAudience,
    /// `max_concurrent_requests` is zero: no request could ever be made.
    #[error("max_concurrent_requests must be at least 1")]
    NoConcurrency,
}

struct Inner {
    client: Introspector,
    cache: AnswerCache,
    slots: Semaphore,
    issuer: String,
    audiences: Vec<String>,
    require_audience: bool,
    leeway_secs: u64,
    max_token_bytes: usize,
    cache_ttl: Duration,
    negative_cache_ttl: Duration,
    request_timeout: Duration,
    retry_after: Duration,
    scope_claims: Vec<String>,
    provider: String,
}

/// Verifies opaque bearer tokens with the authorization server's RFC 7662
/// introspection endpoint. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct IntrospectionVerifier {
    inner: Arc<Inner>,
}

impl IntrospectionVerifier {
    /// Builds a verifier. Nothing is sent until the first token arrives.
    pub fn new(settings: IntrospectionSettings) -> Result<Self, InvalidIntrospectionSettings> {
        let endpoint = parse_endpoint(&settings.endpoint, settings.allow_insecure_http)?;
        let issuer = settings.issuer.trim();
        if issuer.is_empty() {
            return Err(InvalidIntrospectionSettings::NoIssuer);
        }
        if settings.client_id.trim().is_empty() {
            return Err(InvalidIntrospectionSettings::NoClientId);
        }
        if settings.client_secret.expose_secret().is_empty() {
            return Err(InvalidIntrospectionSettings::NoClientSecret);
        }
        let audiences: Vec<String> = settings
            .audiences
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        if audiences.is_empty() {
            return Err(InvalidIntrospectionSettings::NoAudience);
        }
        if settings.max_concurrent_requests == 0 {
            return Err(InvalidIntrospectionSettings::NoConcurrency);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                client: Introspector::new(
                    endpoint,
                    settings.client_id,
                    settings.client_secret,
                    settings.client_auth,
                    settings.connect_timeout,
                    settings.request_timeout,
                    settings.max_response_bytes,
                ),
                cache: AnswerCache::new(settings.cache_capacity),
                slots: Semaphore::new(settings.max_concurrent_requests),
                issuer: issuer.to_owned(),
                audiences,
                require_audience: settings.require_audience,
                leeway_secs: settings.leeway.as_secs(),
                max_token_bytes: settings.max_token_bytes,
                cache_ttl: settings.cache_ttl,
                negative_cache_ttl: settings.negative_cache_ttl,
                request_timeout: settings.request_timeout,
                retry_after: settings.retry_after,
                scope_claims: settings.scope_claims,
                provider: settings.provider,
            }),
        })
    }

    /// The authorization server's issuer identifier (for the RFC 9728
    /// `authorization_servers` list).
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The introspection endpoint.
    pub fn endpoint(&self) -> &str {
        self.inner.client.endpoint().as_str()
    }

    /// The longest token accepted.
    pub fn max_token_bytes(&self) -> usize {
        self.inner.max_token_bytes
    }

    /// Verifies `token` with the introspection endpoint (or a remembered
    /// answer) and returns the caller's identity and claims.
    pub async fn verify(&self, token: &BearerToken) -> Result<Arc<AccessToken>, AuthError> {
        let raw = token.secret();
        if raw.len() > self.inner.max_token_bytes {
            return Err(TokenRejection::TooLarge.into());
        }
        let key = cache::key(raw);
        let mut flight = match self.inner.cache.lookup(key, Instant::now(), unix_now()) {
            Lookup::Accepted(access) => return Ok(access),
            Lookup::Refused(why) => return Err(why.into()),
            Lookup::Wait(flight) => flight,
            Lookup::Lead(sender, flight) => {
                let inner = self.inner.clone();
                let raw = raw.to_owned();
                tokio::spawn(async move {
                    let outcome = inner.introspect(&raw).await;
                    let (accept_until, refuse_until) = inner.deadlines(&outcome);
                    inner
                        .cache
                        .complete(key, &outcome, Instant::now(), accept_until, refuse_until);
                    sender.send_replace(Some(outcome));
                });
                flight
            }
        };
        match flight.wait_for(Option::is_some).await {
            Ok(outcome) => outcome
                .clone()
                .unwrap_or_else(|| Err(self.inner.unavailable())),
            Err(_) => {
                tracing::warn!(
                    endpoint = %self.inner.client.endpoint(),
                    error = %ExchangeError::Abandoned,
                    "token introspection failed; refusing with 503"
                );
                Err(self.inner.unavailable())
            }
        }
    }
}

impl Inner {
    fn unavailable(&self) -> AuthError {
        AuthError::KeysUnavailable {
            retry_after: self.retry_after,
        }
    }

    /// One introspection, start to verdict.
    async fn introspect(&self, raw: &str) -> Outcome {
        let exchange = async {
            // Closed only if the semaphore is closed, which this type never does.
            let _slot = self
                .slots
                .acquire()
                .await
                .map_err(|_| ExchangeError::Abandoned)?;
            self.client.introspect(raw).await
        };
        let body = match tokio::time::timeout(self.request_timeout, exchange).await {
            Ok(Ok(body)) => body,
            Ok(Err(error)) => return Err(self.failed(&error)),
            Err(_) => return Err(self.failed(&ExchangeError::Timeout(self.request_timeout))),
        };
        let expect = Expectations {
            issuer: &self.issuer,
            audiences: &self.audiences,
            require_audience: self.require_audience,
            leeway_secs: self.leeway_secs,
            scope_claims: &self.scope_claims,
            provider: &self.provider,
        };
        match response::read(&body, &expect, unix_now()) {
            Ok(access) => Ok(Arc::new(access)),
            Err(Verdict::Refused(why)) => {
                tracing::debug!(reason = %why, "introspection refused the token");
                Err(why.into())
            }
            Err(Verdict::NotAnAnswer(what)) => {
                tracing::warn!(
                    endpoint = %self.client.endpoint(),
                    problem = what,
                    "introspection endpoint sent something that is not an RFC 7662 response; refusing with 503"
                );
                Err(self.unavailable())
            }
        }
    }

    /// Logs why the endpoint could not be used and returns the 503.
    fn failed(&self, error: &ExchangeError) -> AuthError {
        let hint = match error {
            ExchangeError::Status(s) if s.as_u16() == 401 || s.as_u16() == 403 => {
                "check the client id, secret and authentication method"
            }
            _ => "",
        };
        tracing::warn!(
            endpoint = %self.client.endpoint(),
            client_id = self.client.client_id(),
            %error,
            hint,
            "token introspection failed; refusing with 503"
        );
        self.unavailable()
    }

    /// How long `outcome` may be reused: an accept until the earlier of its
    /// `exp` and the maximum TTL, a refusal for the negative TTL.
    fn deadlines(&self, outcome: &Outcome) -> (Option<Instant>, Option<Instant>) {
        let now = Instant::now();
        match outcome {
            Ok(access) => {
                let left = access.expires_at_unix().saturating_sub(unix_now());
                let ttl = self.cache_ttl.min(Duration::from_secs(left));
                (Some(now + ttl), None)
            }
            Err(AuthError::InvalidToken(_)) => (None, Some(now + self.negative_cache_ttl)),
            Err(_) => (None, None),
        }
    }
}

fn parse_endpoint(
    raw: &str,
    allow_insecure_http: bool,
) -> Result<Url, InvalidIntrospectionSettings> {
    let bad = || InvalidIntrospectionSettings::BadEndpoint(raw.to_owned());
    let url = Url::parse(raw.trim()).map_err(|_| bad())?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(bad());
    }
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => Ok(url),
        ("http", Some(host)) if allow_insecure_http || is_loopback(&host) => Ok(url),
        ("http", Some(_)) => Err(InvalidIntrospectionSettings::InsecureEndpoint(
            raw.to_owned(),
        )),
        _ => Err(bad()),
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl std::fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is a `ClientSecret` and would print redacted anyway; it
        // is left out altogether.
        f.debug_struct("IntrospectionVerifier")
            .field("endpoint", &self.inner.client.endpoint().as_str())
            .field("issuer", &self.inner.issuer)
            .field("client_id", &self.inner.client.client_id())
            .field("client_auth", &self.inner.client.method())
            .field("audiences", &self.inner.audiences)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: &str) -> IntrospectionSettings {
        IntrospectionSettings::new(
            endpoint,
            "https://as.example",
            "rs_1",
            ClientSecret::new("s3cret"),
            ["https://mcp.example/mcp"],
        )
    }

    #[test]
    fn endpoints_must_be_https_or_loopback_http() {
        for ok in [
            "https://as.example/introspect",
            "http://127.0.0.1:9/introspect",
            "http://[::1]:9/introspect",
            "http://localhost:9/introspect",
        ] {
            assert!(IntrospectionVerifier::new(settings(ok)).is_ok(), "{ok}");
        }
        assert!(matches!(
            IntrospectionVerifier::new(settings("http://as.example/introspect")),
            Err(InvalidIntrospectionSettings::InsecureEndpoint(_))
        ));
        let mut trusted = settings("http://as.internal/introspect");
        trusted.allow_insecure_http = true;
        assert!(IntrospectionVerifier::new(trusted).is_ok());
        for bad in [
            "",
            "as.example/introspect",
            "ftp://as.example/x",
            "https://u:p@as.example/x",
        ] {
            assert!(
                matches!(
                    IntrospectionVerifier::new(settings(bad)),
                    Err(InvalidIntrospectionSettings::BadEndpoint(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn settings_that_would_switch_a_check_off_are_refused() {
        let mut s = settings("https://as.example/i");
        s.audiences = vec![String::new()];
        assert_eq!(
            IntrospectionVerifier::new(s).err(),
            Some(InvalidIntrospectionSettings::NoAudience)
        );
        let mut s = settings("https://as.example/i");
        s.issuer = " ".into();
        assert_eq!(
            IntrospectionVerifier::new(s).err(),
            Some(InvalidIntrospectionSettings::NoIssuer)
        );
        let mut s = settings("https://as.example/i");
        s.client_secret = ClientSecret::new("");
        assert_eq!(
            IntrospectionVerifier::new(s).err(),
            Some(InvalidIntrospectionSettings::NoClientSecret)
        );
    }
}
