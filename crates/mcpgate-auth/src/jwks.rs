//! A cache of the issuer's signing keys (JWKS), shared by all requests.
//!
//! What it guarantees, and why:
//! - **Lazy and single-flight.** Keys are fetched on first use; only one fetch
//!   runs at a time, and requests that were waiting for it reuse its result.
//! - **Unknown `kid` → refetch, rate-limited.** A token signed with a key we do
//!   not know triggers a refetch, but fetches start at most once per
//!   `refetch_interval` (5 s by default) however many such tokens arrive, so a
//!   flood of forged `kid`s cannot turn us into an amplifier. A request that
//!   arrives inside the interval *waits* for the next slot instead of being
//!   rejected, so a key the issuer has just published is accepted within one
//!   interval even right after a flood (FastMCP rejects it for 30 s).
//! - **Stale-if-error.** A failed fetch never drops keys we already have; keys
//!   are replaced only by a successful fetch that returns at least one usable key.
//! - **Honours `Cache-Control: max-age`,** clamped to sane bounds; an expired set
//!   keeps serving while one background refresh runs.
//! - **Skips keys it cannot use** (not RSA, EC P-256/P-384 or OKP Ed25519, not
//!   for signatures, an `alg` that does not fit the key, RSA under 2048 bits,
//!   no `kid`) instead of failing the whole set, and never builds an HMAC key
//!   from a JWKS. Each key remembers its type and declared `alg`, so a token can
//!   only be checked with an algorithm its key was made for.
//! - **Discovery.** The JWKS URL may come from the issuer's metadata (OpenID
//!   Connect discovery or RFC 8414), resolved on first use with the same
//!   timeouts and size cap; the document's `issuer` must equal the configured
//!   issuer exactly. Until it resolves there are no keys, so requests get 503,
//!   never an accept.
//! - Bounded: response size, key count, connect and total timeouts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde_json::Value;
use tokio::time::Instant;

use crate::discovery::{self, DiscoveryError};
use crate::verify::SigningAlgorithm;

/// Limits and timings of a [`JwksCache`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JwksConfig {
    /// Minimum time between two fetches caused by unknown `kid`s (default 5 s).
    pub refetch_interval: Duration,
    /// Lifetime when the response has no usable `Cache-Control: max-age` (default 10 min).
    pub default_ttl: Duration,
    /// Lower bound applied to `max-age` (default 1 min).
    pub min_ttl: Duration,
    /// Upper bound applied to `max-age` (default 24 h).
    pub max_ttl: Duration,
    /// TCP connect timeout (default 3 s).
    pub connect_timeout: Duration,
    /// Whole-request timeout (default 5 s).
    pub request_timeout: Duration,
    /// Largest accepted JWKS body (default 256 KiB).
    pub max_body_bytes: usize,
    /// Most keys kept from one document (default 64).
    pub max_keys: usize,
}

impl Default for JwksConfig {
    fn default() -> Self {
        Self {
            refetch_interval: Duration::from_secs(5),
            default_ttl: Duration::from_secs(600),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(5),
            max_body_bytes: 256 * 1024,
            max_keys: 64,
        }
    }
}

impl JwksConfig {
    /// Sets the minimum interval between unknown-`kid` refetches.
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// Sets the TTL used when the issuer sends no `max-age`.
    pub fn with_default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// Sets the bounds `max-age` is clamped to.
    pub fn with_ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_ttl = min;
        self.max_ttl = max;
        self
    }

    /// Sets the whole-request timeout of a fetch.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }
}

/// Why no key could be returned for a `kid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyLookupError {
    /// We have keys, but none with this `kid`, even after a refetch.
    UnknownKid,
    /// No key set was ever obtained: the issuer has been unreachable since start-up.
    Unavailable,
}

/// Why one fetch failed (logged, never sent to clients).
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("unexpected status {0}")]
    Status(reqwest::StatusCode),
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    #[error("body is not a JWKS document: {0}")]
    NotJwks(String),
    #[error("no usable signing key in the document")]
    NoUsableKeys,
    #[error("discovery failed: {0}")]
    Discovery(#[from] DiscoveryError),
}

/// The type of a published key, which decides the algorithms it can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyKind {
    /// An RSA key of at least 2048 bits (RS256/384/512, PS256/384/512).
    Rsa,
    /// An EC key on P-256 (ES256).
    EcP256,
    /// An EC key on P-384 (ES384).
    EcP384,
    /// An OKP key on Ed25519 (EdDSA).
    Ed25519,
}

impl KeyKind {
    /// Whether a key of this type can verify `alg`.
    pub fn fits(self, alg: SigningAlgorithm) -> bool {
        use SigningAlgorithm as A;
        match self {
            Self::Rsa => matches!(
                alg,
                A::Rs256 | A::Rs384 | A::Rs512 | A::Ps256 | A::Ps384 | A::Ps512
            ),
            Self::EcP256 => alg == A::Es256,
            Self::EcP384 => alg == A::Es384,
            Self::Ed25519 => alg == A::EdDsa,
        }
    }
}

/// One usable key of a JWKS: the verification key, its type and, when the
/// document declares one, its `alg`.
pub struct JwkKey {
    key: DecodingKey,
    kind: KeyKind,
    alg: Option<SigningAlgorithm>,
}

impl JwkKey {
    /// The key type.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The `alg` the JWKS declared for this key, if any.
    pub fn declared_alg(&self) -> Option<SigningAlgorithm> {
        self.alg
    }

    /// Whether a token whose header says `alg` may be checked with this key:
    /// the type must fit and a declared `alg` must be exactly `alg`, so an RSA
    /// key published for RS256 never verifies a PS256 token (and vice versa).
    pub fn accepts(&self, alg: SigningAlgorithm) -> bool {
        self.kind.fits(alg) && self.alg.is_none_or(|declared| declared == alg)
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }
}

impl std::fmt::Debug for JwkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwkKey")
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Where a cache's keys come from.
enum KeySource {
    /// A JWKS URL given directly.
    Jwks(String),
    /// The `jwks_uri` of the issuer's metadata, resolved on first use.
    Discovery {
        /// Metadata URLs tried in order (OpenID Connect, then RFC 8414).
        metadata_urls: Vec<String>,
        /// The issuer the document must name exactly.
        issuer: String,
        /// The resolved `jwks_uri`; kept once found (it is not expected to move).
        resolved: std::sync::OnceLock<String>,
    },
}

/// One fetched key set.
struct KeySet {
    keys: HashMap<String, Arc<JwkKey>>,
    /// When the set should be refreshed; `None` until the first successful fetch.
    expires_at: Option<Instant>,
}

struct Inner {
    source: KeySource,
    config: JwksConfig,
    http: reqwest::Client,
    /// A std lock: it is held only to clone an `Arc` or swap the map, never across
    /// an `.await`, so readers are never blocked by a slow fetch.
    current: RwLock<Arc<KeySet>>,
    /// Serialises fetches (single flight). Holds the time of the last attempt.
    fetch_gate: tokio::sync::Mutex<Option<Instant>>,
    /// Counts fetch attempts *started*; a waiter compares it with the value it saw
    /// when it missed, to know whether a fetch began after its miss.
    attempts_started: AtomicU64,
    /// Whether a background refresh for an expired set is already scheduled.
    refresh_scheduled: AtomicBool,
    /// Fetches completed (successful or not); exposed for diagnostics and tests.
    fetches: AtomicU64,
}

/// A shared, cloneable handle to the key cache of one issuer.
#[derive(Clone)]
pub struct JwksCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("jwks_uri", &self.jwks_uri())
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// Creates a cache for the JWKS at `jwks_uri`. Nothing is fetched until first use.
    pub fn new(jwks_uri: impl Into<String>, config: JwksConfig) -> Self {
        Self::with_source(KeySource::Jwks(jwks_uri.into()), config)
    }

    /// Creates a cache whose JWKS URL is the `jwks_uri` of the first of
    /// `metadata_urls` that answers with a document whose `issuer` is exactly
    /// `issuer`. Nothing is fetched until first use; see
    /// [`discovery::metadata_urls`] for the
    /// standard locations.
    pub fn discover(
        metadata_urls: Vec<String>,
        issuer: impl Into<String>,
        config: JwksConfig,
    ) -> Self {
        Self::with_source(
            KeySource::Discovery {
                metadata_urls,
                issuer: issuer.into(),
                resolved: std::sync::OnceLock::new(),
            },
            config,
        )
    }

    fn with_source(source: KeySource, config: JwksConfig) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // A JWKS URL that redirects elsewhere is a configuration problem, not
            // something to follow silently.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            inner: Arc::new(Inner {
                source,
                config,
                http,
                current: RwLock::new(Arc::new(KeySet {
                    keys: HashMap::new(),
                    expires_at: None,
                })),
                fetch_gate: tokio::sync::Mutex::new(None),
                attempts_started: AtomicU64::new(0),
                refresh_scheduled: AtomicBool::new(false),
                fetches: AtomicU64::new(0),
            }),
        }
    }

    /// The URL keys are fetched from. For a cache built by
    /// [`discover`](Self::discover), the first metadata URL until discovery
    /// has resolved the `jwks_uri`.
    pub fn jwks_uri(&self) -> &str {
        match &self.inner.source {
            KeySource::Jwks(uri) => uri,
            KeySource::Discovery {
                metadata_urls,
                resolved,
                ..
            } => resolved
                .get()
                .map(String::as_str)
                .or(metadata_urls.first().map(String::as_str))
                .unwrap_or(""),
        }
    }

    /// How many fetches have completed so far.
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// The minimum interval between refetches, used as a `Retry-After` hint.
    pub fn refetch_interval(&self) -> Duration {
        self.inner.config.refetch_interval
    }

    fn snapshot(&self) -> Arc<KeySet> {
        // A poisoned lock only means a panic elsewhere while swapping an Arc;
        // the value inside is still a complete key set.
        self.inner
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether a key with this `kid` is in the current set (no fetch).
    pub fn has_key(&self, kid: &str) -> bool {
        self.snapshot().keys.contains_key(kid)
    }

    /// Fetches keys now (if none were fetched yet), e.g. to warm the cache at start-up.
    pub async fn prefetch(&self) {
        let seen = self.inner.attempts_started.load(Ordering::Acquire);
        if self.snapshot().expires_at.is_none() {
            self.fetch_after_miss(seen, |set| set.expires_at.is_some())
                .await;
        }
    }

    /// The decoding key for `kid`, fetching or refetching the JWKS as needed.
    pub async fn key(&self, kid: &str) -> Result<Arc<JwkKey>, KeyLookupError> {
        // Read the attempt counter before looking, so a fetch that starts after
        // this miss is recognised as one that may already carry the new key.
        let seen = self.inner.attempts_started.load(Ordering::Acquire);
        let set = self.snapshot();
        if let Some(key) = set.keys.get(kid) {
            if set.expires_at.is_some_and(|at| Instant::now() >= at) {
                self.schedule_refresh();
            }
            return Ok(key.clone());
        }
        self.fetch_after_miss(seen, |set| set.keys.contains_key(kid))
            .await;
        let set = self.snapshot();
        match set.keys.get(kid) {
            Some(key) => Ok(key.clone()),
            None if set.expires_at.is_none() => Err(KeyLookupError::Unavailable),
            None => Err(KeyLookupError::UnknownKid),
        }
    }

    /// Waits for a fetch that started after the caller's miss, running one if
    /// nobody else has; never starts two fetches within `refetch_interval`.
    /// `satisfied` says whether the current set already has what the caller needs.
    async fn fetch_after_miss(&self, seen_attempts: u64, satisfied: impl Fn(&KeySet) -> bool) {
        let mut last_attempt = self.inner.fetch_gate.lock().await;
        if self.inner.attempts_started.load(Ordering::Acquire) != seen_attempts {
            return; // someone fetched after our miss; their result is the answer
        }
        if satisfied(&self.snapshot()) {
            // A fetch that was already running when we missed (e.g. the start-up
            // prefetch) brought it; do not wait for the next slot to fetch again.
            return;
        }
        if let Some(last) = *last_attempt {
            let next_slot = last + self.inner.config.refetch_interval;
            if Instant::now() < next_slot && self.snapshot().expires_at.is_none() {
                // Never had keys and the last try just failed: waiting would only
                // delay the 503 the caller is about to get; let it retry later.
                return;
            }
            if Instant::now() < next_slot {
                tracing::debug!(jwks_uri = %self.jwks_uri(), "JWKS refetch rate-limited; waiting for the next slot");
                tokio::time::sleep_until(next_slot).await;
            }
        }
        self.inner.attempts_started.fetch_add(1, Ordering::AcqRel);
        *last_attempt = Some(Instant::now());
        self.fetch_and_store().await;
    }

    fn schedule_refresh(&self) {
        if self.inner.refresh_scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let cache = self.clone();
        tokio::spawn(async move {
            let seen = cache.inner.attempts_started.load(Ordering::Acquire);
            cache
                .fetch_after_miss(seen, |set| {
                    set.expires_at.is_some_and(|at| Instant::now() < at)
                })
                .await;
            cache
                .inner
                .refresh_scheduled
                .store(false, Ordering::Release);
        });
    }

    async fn fetch_and_store(&self) {
        let started = Instant::now();
        let result = self.fetch().await;
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok((keys, ttl)) => {
                tracing::debug!(
                    jwks_uri = %self.jwks_uri(),
                    keys = keys.len(),
                    kids = ?keys.keys().collect::<Vec<_>>(),
                    ttl_secs = ttl.as_secs(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "fetched JWKS"
                );
                let set = Arc::new(KeySet {
                    keys,
                    expires_at: Some(Instant::now() + ttl),
                });
                *self
                    .inner
                    .current
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) = set;
            }
            Err(error) => {
                let have = self.snapshot().keys.len();
                tracing::warn!(
                    jwks_uri = %self.jwks_uri(),
                    %error,
                    cached_keys = have,
                    "JWKS fetch failed; keeping the last good keys"
                );
            }
        }
    }

    /// The JWKS URL, running discovery first if this cache needs it.
    async fn resolve_jwks_uri(&self) -> Result<String, FetchError> {
        match &self.inner.source {
            KeySource::Jwks(uri) => Ok(uri.clone()),
            KeySource::Discovery {
                metadata_urls,
                issuer,
                resolved,
            } => {
                if let Some(uri) = resolved.get() {
                    return Ok(uri.clone());
                }
                let uri = discovery::resolve_jwks_uri(
                    &self.inner.http,
                    metadata_urls,
                    issuer,
                    self.inner.config.max_body_bytes,
                )
                .await?;
                tracing::debug!(%issuer, jwks_uri = %uri, "discovered JWKS URL");
                Ok(resolved.get_or_init(|| uri).clone())
            }
        }
    }

    async fn fetch(&self) -> Result<(HashMap<String, Arc<JwkKey>>, Duration), FetchError> {
        let config = &self.inner.config;
        let jwks_uri = self.resolve_jwks_uri().await?;
        let mut response = self
            .inner
            .http
            .get(&jwks_uri)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > config.max_body_bytes as u64)
        {
            return Err(FetchError::TooLarge(config.max_body_bytes));
        }
        let ttl = ttl_from_cache_control(response.headers(), config);
        let body = discovery::read_bounded(&mut response, config.max_body_bytes)
            .await
            .map_err(|e| match e {
                discovery::BodyError::Http(e) => FetchError::Http(e),
                discovery::BodyError::TooLarge => FetchError::TooLarge(config.max_body_bytes),
            })?;
        Ok((parse_document(&body, config.max_keys)?, ttl))
    }
}

/// The usable keys of a JWKS document (at most `max_keys`), by `kid`.
fn parse_document(
    body: &[u8],
    max_keys: usize,
) -> Result<HashMap<String, Arc<JwkKey>>, FetchError> {
    let document: Value =
        serde_json::from_slice(body).map_err(|e| FetchError::NotJwks(e.to_string()))?;
    let entries = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| FetchError::NotJwks("no `keys` array".to_owned()))?;
    let mut keys = HashMap::new();
    for entry in entries {
        if keys.len() >= max_keys {
            tracing::warn!(
                max = max_keys,
                "JWKS has more keys than allowed; ignoring the rest"
            );
            break;
        }
        match usable_key(entry) {
            Ok((kid, key)) => {
                keys.insert(kid, Arc::new(key));
            }
            Err(reason) => {
                let kid = entry.get("kid").and_then(Value::as_str).unwrap_or("<none>");
                tracing::debug!(kid, reason, "skipping JWKS key");
            }
        }
    }
    if keys.is_empty() {
        return Err(FetchError::NoUsableKeys);
    }
    Ok(keys)
}

/// Fuzzing only: key sets that come from a document in memory, never from the network.
#[cfg(fuzzing)]
impl JwksCache {
    /// A cache holding the usable keys of `document`, parsed exactly as a fetched
    /// one is. It never expires; an unknown `kid` still goes through the refetch
    /// path, which fails at once (the JWKS URL is empty, so nothing is sent) and
    /// is never rate-limited (the refetch interval is zero), so it answers
    /// [`KeyLookupError::UnknownKid`] without waiting.
    pub(crate) fn from_static_document(
        document: &[u8],
        config: JwksConfig,
    ) -> Result<Self, String> {
        let keys = parse_document(document, config.max_keys).map_err(|e| e.to_string())?;
        let cache = Self::new("", config.with_refetch_interval(Duration::ZERO));
        *cache
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(KeySet {
            keys,
            expires_at: Some(Instant::now() + Duration::from_secs(10 * 365 * 24 * 3600)),
        });
        Ok(cache)
    }

    /// The `kid`s [`parse_document`] keeps from `document`, sorted.
    pub(crate) fn document_kids(document: &[u8], max_keys: usize) -> Result<Vec<String>, String> {
        let mut kids: Vec<String> = parse_document(document, max_keys)
            .map_err(|e| e.to_string())?
            .into_keys()
            .collect();
        kids.sort();
        Ok(kids)
    }
}

pub(crate) fn ttl_from_cache_control(
    headers: &reqwest::header::HeaderMap,
    config: &JwksConfig,
) -> Duration {
    let max_age = headers
        .get_all(reqwest::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|directive| {
            let (name, value) = directive.trim().split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("max-age")
                .then(|| value.trim().trim_matches('"').parse::<u64>().ok())?
        });
    match max_age {
        Some(secs) => Duration::from_secs(secs).clamp(config.min_ttl, config.max_ttl),
        None => config.default_ttl,
    }
}

/// Accepts only keys this crate can verify with, for the algorithms they
/// were made for. Returns the reason a key is skipped otherwise.
fn usable_key(jwk: &Value) -> Result<(String, JwkKey), &'static str> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    if field("use").is_some_and(|u| u != "sig") {
        return Err("use is not sig");
    }
    if let Some(ops) = jwk.get("key_ops").and_then(Value::as_array)
        && !ops.iter().any(|op| op.as_str() == Some("verify"))
    {
        return Err("key_ops lacks verify");
    }
    let kid = field("kid").filter(|k| !k.is_empty()).ok_or("no kid")?;
    let declared = match field("alg") {
        None => None,
        // RFC 9864 names the fully specified Ed25519 algorithm `Ed25519`.
        Some("Ed25519") => Some(SigningAlgorithm::EdDsa),
        // Exact names only: `alg` is case-sensitive (RFC 7515 §4.1.1).
        Some(name) => Some(SigningAlgorithm::from_header(name).ok_or("alg is not supported")?),
    };
    let (kind, key) = match field("kty") {
        Some("RSA") => (KeyKind::Rsa, rsa_key(jwk)?),
        Some("EC") => ec_key(jwk)?,
        Some("OKP") => {
            if field("crv") != Some("Ed25519") {
                return Err("OKP curve is not Ed25519");
            }
            let x = field("x").ok_or("no x")?;
            if URL_SAFE_NO_PAD
                .decode(x)
                .map_err(|_| "x is not base64url")?
                .len()
                != 32
            {
                return Err("Ed25519 x is not 32 bytes");
            }
            let key = DecodingKey::from_ed_components(x).map_err(|_| "bad Ed25519 key")?;
            (KeyKind::Ed25519, key)
        }
        // `oct` above all: an HMAC key from a JWKS is the key-confusion attack.
        _ => return Err("kty is not RSA, EC or OKP"),
    };
    if declared.is_some_and(|alg| !kind.fits(alg)) {
        return Err("alg does not fit the key type");
    }
    Ok((
        kid.to_owned(),
        JwkKey {
            key,
            kind,
            alg: declared,
        },
    ))
}

fn rsa_key(jwk: &Value) -> Result<DecodingKey, &'static str> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    let n = URL_SAFE_NO_PAD
        .decode(field("n").ok_or("no n")?)
        .map_err(|_| "n is not base64url")?;
    let e = URL_SAFE_NO_PAD
        .decode(field("e").ok_or("no e")?)
        .map_err(|_| "e is not base64url")?;
    let significant = n.iter().skip_while(|b| **b == 0).count();
    if significant * 8 < 2048 {
        return Err("RSA modulus shorter than 2048 bits");
    }
    if e.is_empty() || e.len() > 8 {
        return Err("bad RSA exponent");
    }
    Ok(DecodingKey::from_rsa_raw_components(&n, &e))
}

fn ec_key(jwk: &Value) -> Result<(KeyKind, DecodingKey), &'static str> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    let (kind, len) = match field("crv") {
        Some("P-256") => (KeyKind::EcP256, 32),
        Some("P-384") => (KeyKind::EcP384, 48),
        _ => return Err("EC curve is not P-256 or P-384"),
    };
    let x = field("x").ok_or("no x")?;
    let y = field("y").ok_or("no y")?;
    for coordinate in [x, y] {
        let bytes = URL_SAFE_NO_PAD
            .decode(coordinate)
            .map_err(|_| "EC coordinate is not base64url")?;
        if bytes.len() != len {
            return Err("EC coordinate has the wrong length for its curve");
        }
    }
    let key = DecodingKey::from_ec_components(x, y).map_err(|_| "bad EC key")?;
    Ok((kind, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unusable_keys_are_skipped_with_a_reason() {
        let n = URL_SAFE_NO_PAD.encode([0xC5u8; 256]);
        let good = json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "snk_1", "n": n, "e": "AQAB"});
        assert!(usable_key(&good).is_ok());
        let reason = |jwk: &Value| usable_key(jwk).err();
        let mut oct = good.clone();
        oct["kty"] = json!("oct");
        assert_eq!(reason(&oct), Some("kty is not RSA, EC or OKP"));
        let mut enc = good.clone();
        enc["use"] = json!("enc");
        assert_eq!(reason(&enc), Some("use is not sig"));
        let mut hs = good.clone();
        hs["alg"] = json!("HS256");
        assert_eq!(reason(&hs), Some("alg is not supported"));
        let mut es = good.clone();
        es["alg"] = json!("ES256");
        assert_eq!(reason(&es), Some("alg does not fit the key type"));
        let mut weak = good.clone();
        weak["n"] = json!(URL_SAFE_NO_PAD.encode([0xC5u8; 128]));
        assert_eq!(reason(&weak), Some("RSA modulus shorter than 2048 bits"));
        let mut nokid = good.clone();
        nokid.as_object_mut().unwrap().remove("kid");
        assert_eq!(reason(&nokid), Some("no kid"));
        let coord = |len: usize| URL_SAFE_NO_PAD.encode(vec![7u8; len]);
        let p256 = json!({"kty": "EC", "crv": "P-256", "kid": "e", "x": coord(32), "y": coord(32)});
        let (_, key) = usable_key(&p256).unwrap();
        assert!(key.accepts(SigningAlgorithm::Es256));
        assert!(!key.accepts(SigningAlgorithm::Es384));
        let mut short = p256.clone();
        short["crv"] = json!("P-384");
        assert_eq!(
            reason(&short),
            Some("EC coordinate has the wrong length for its curve")
        );
        let mut k1 = p256;
        k1["crv"] = json!("secp256k1");
        assert_eq!(reason(&k1), Some("EC curve is not P-256 or P-384"));
        let ed =
            json!({"kty": "OKP", "crv": "Ed25519", "kid": "d", "x": coord(32), "alg": "EdDSA"});
        assert!(usable_key(&ed).unwrap().1.accepts(SigningAlgorithm::EdDsa));
        let mut x448 = ed;
        x448["crv"] = json!("Ed448");
        assert_eq!(reason(&x448), Some("OKP curve is not Ed25519"));
        // An RSA key declared for RS256 does not verify PS256, nor the reverse.
        let (_, rsa) = usable_key(&good).unwrap();
        assert!(rsa.accepts(SigningAlgorithm::Rs256));
        assert!(!rsa.accepts(SigningAlgorithm::Ps256));
    }

    #[test]
    fn max_age_is_clamped() {
        let config = JwksConfig::default();
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(ttl_from_cache_control(&h, &config), config.default_ttl);
        h.insert(
            reqwest::header::CACHE_CONTROL,
            "public, max-age=1".parse().unwrap(),
        );
        assert_eq!(ttl_from_cache_control(&h, &config), config.min_ttl);
        h.insert(
            reqwest::header::CACHE_CONTROL,
            "max-age=999999999".parse().unwrap(),
        );
        assert_eq!(ttl_from_cache_control(&h, &config), config.max_ttl);
        h.insert(
            reqwest::header::CACHE_CONTROL,
            "max-age=3600".parse().unwrap(),
        );
        assert_eq!(
            ttl_from_cache_control(&h, &config),
            Duration::from_secs(3600)
        );
    }
}
