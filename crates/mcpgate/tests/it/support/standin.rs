//! An in-process stand-in for a Scalekit environment on `127.0.0.1:0`: the
//! JWKS at `/keys` and the authorization-server metadata at
//! `/.well-known/oauth-authorization-server/resources/{res}`, each with
//! switchable failure modes and hit counters. It mints Scalekit-shaped tokens.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use mcpgate::ScalekitProvider;
use mcpgate::jwks::JwksConfig;
use mcpgate_dev_as::keys::{SigningKey, random_digits_id};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::keys::{next_key, now, shared_key};

/// The refetch interval tests run with (the default is 5 s).
pub(crate) const TEST_REFETCH_INTERVAL: Duration = Duration::from_secs(1);

/// Text the stand-in puts in its failing metadata answers; it must never reach clients.
const UPSTREAM_SECRET_TEXT: &str = "upstream-diagnostic: db connection string postgres://internal";

/// The JWKS settings tests use: a 1 s refetch interval, defaults otherwise.
pub(crate) fn test_jwks_config() -> JwksConfig {
    JwksConfig::default().with_refetch_interval(TEST_REFETCH_INTERVAL)
}

/// How `GET /keys` answers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KeysMode {
    /// The published keys.
    Normal,
    /// HTTP 500.
    Error500,
    /// 200 with a body that is not JSON.
    Garbage,
    /// The published keys after this delay.
    Slow(Duration),
}

struct StandInState {
    url: String,
    res_id: String,
    /// Keys published at `/keys`.
    published: Mutex<Vec<SigningKey>>,
    /// Raw JWK entries published before the real keys (junk for skip tests).
    extra_jwks: Mutex<Vec<Value>>,
    /// The key new tokens are signed with.
    signer: Mutex<SigningKey>,
    keys_mode: Mutex<KeysMode>,
    cache_control: Mutex<Option<String>>,
    keys_hits: AtomicUsize,
    metadata_hits: AtomicUsize,
    metadata_failing: AtomicBool,
    /// How long the AS metadata endpoint waits before answering.
    metadata_delay: Mutex<Duration>,
    metadata_body: String,
}

impl StandInState {
    fn jwks(&self) -> Value {
        let mut entries = self.extra_jwks.lock().unwrap().clone();
        entries.extend(
            self.published
                .lock()
                .unwrap()
                .iter()
                .map(|k| k.jwk().clone()),
        );
        json!({ "keys": entries })
    }
}

/// A running stand-in. Cloning gives another handle to the same one; it stops
/// when the last handle is dropped.
#[derive(Clone)]
pub(crate) struct StandIn {
    state: Arc<StandInState>,
    _task: Arc<AbortOnDrop>,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl StandIn {
    /// Starts a stand-in publishing and signing with one (shared) key.
    pub(crate) async fn start() -> Self {
        let key = shared_key(0);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stand-in");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let res_id = random_digits_id("res_");
        let metadata_body = serde_json::to_string_pretty(&json!({
            "issuer": format!("{url}/resources/{res_id}"),
            "authorization_endpoint": format!("{url}/oauth/authorize"),
            "token_endpoint": format!("{url}/oauth/token"),
            "registration_endpoint": format!("{url}/api/v1/resources/{res_id}/clients:register"),
            "jwks_uri": format!("{url}/keys"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "client_id_metadata_document_supported": true,
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "offline_access", "todo:read", "todo:write"],
        }))
        .unwrap();
        let state = Arc::new(StandInState {
            url,
            res_id,
            published: Mutex::new(vec![key.clone()]),
            extra_jwks: Mutex::new(Vec::new()),
            signer: Mutex::new(key),
            keys_mode: Mutex::new(KeysMode::Normal),
            cache_control: Mutex::new(None),
            keys_hits: AtomicUsize::new(0),
            metadata_hits: AtomicUsize::new(0),
            metadata_failing: AtomicBool::new(false),
            metadata_delay: Mutex::new(Duration::ZERO),
            metadata_body,
        });
        let app = Router::new()
            .route("/keys", get(keys))
            .route(
                "/.well-known/oauth-authorization-server/resources/{res}",
                get(metadata),
            )
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            state,
            _task: Arc::new(AbortOnDrop(task)),
        }
    }

    /// A provider trusting this stand-in for a server at `mcp_url`, with the
    /// test JWKS settings.
    pub(crate) fn provider(&self, mcp_url: &str) -> ScalekitProvider {
        ScalekitProvider::new(self.url(), self.res_id(), mcp_url).jwks_config(test_jwks_config())
    }

    /// The environment URL, `http://127.0.0.1:PORT` (also the historical `iss`).
    pub(crate) fn url(&self) -> &str {
        &self.state.url
    }

    /// The resource id, `res_…`.
    pub(crate) fn res_id(&self) -> &str {
        &self.state.res_id
    }

    /// The newer issuer form, `{env}/resources/{res}`.
    pub(crate) fn resource_issuer(&self) -> String {
        format!("{}/resources/{}", self.state.url, self.state.res_id)
    }

    /// The key tokens are currently signed with.
    pub(crate) fn signer(&self) -> SigningKey {
        self.state.signer.lock().unwrap().clone()
    }

    /// How many times `GET /keys` was requested.
    pub(crate) fn keys_hits(&self) -> usize {
        self.state.keys_hits.load(Ordering::SeqCst)
    }

    /// How many times the AS metadata was requested.
    pub(crate) fn metadata_hits(&self) -> usize {
        self.state.metadata_hits.load(Ordering::SeqCst)
    }

    /// The exact AS metadata body served.
    pub(crate) fn metadata_body(&self) -> &str {
        &self.state.metadata_body
    }

    /// Switches the behaviour of `/keys`.
    pub(crate) fn set_keys_mode(&self, mode: KeysMode) {
        *self.state.keys_mode.lock().unwrap() = mode;
    }

    /// Sets (or clears) the `Cache-Control` header of `/keys`.
    pub(crate) fn set_cache_control(&self, value: Option<&str>) {
        *self.state.cache_control.lock().unwrap() = value.map(str::to_owned);
    }

    /// Makes the AS metadata endpoint fail (500 with a diagnostic body) or work.
    pub(crate) fn set_metadata_failing(&self, failing: bool) {
        self.state.metadata_failing.store(failing, Ordering::SeqCst);
    }

    /// Makes the AS metadata endpoint wait this long before each answer (it
    /// counts the hit first), so that concurrent requests overlap its fetch.
    pub(crate) fn set_metadata_delay(&self, delay: Duration) {
        *self.state.metadata_delay.lock().unwrap() = delay;
    }

    /// Raw JWK entries published in front of the real keys.
    pub(crate) fn set_extra_jwks(&self, entries: Vec<Value>) {
        *self.state.extra_jwks.lock().unwrap() = entries;
    }

    /// Replaces the published keys (the signer is unchanged).
    pub(crate) fn publish(&self, keys: Vec<SigningKey>) {
        *self.state.published.lock().unwrap() = keys;
    }

    /// Publishes a new key next to the old ones and signs new tokens with it.
    pub(crate) fn rotate(&self) -> SigningKey {
        let key = next_key();
        self.state.published.lock().unwrap().push(key.clone());
        *self.state.signer.lock().unwrap() = key.clone();
        key
    }

    /// Publishes only the current signer (old keys are retired).
    pub(crate) fn retire_old_keys(&self) {
        let signer = self.signer();
        self.publish(vec![signer]);
    }

    /// The JWKS document as currently published.
    pub(crate) fn jwks(&self) -> Value {
        self.state.jwks()
    }

    /// Waits until `/keys` was hit at least `n` times (panics after 20 s: a
    /// bound for a broken build, generous for a loaded machine).
    pub(crate) async fn wait_for_keys_hits(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.keys_hits() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} JWKS fetches, saw {}",
                self.keys_hits()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Scalekit-shaped user-token claims for a server at `mcp_url`: `iss` `{env}`,
    /// `aud` `[mcp_url, res]`, `sub` `usr_…`, integer times, `jti`, `client_id`,
    /// `scope` (space-separated), `sid`, `oid`.
    pub(crate) fn user_claims(&self, mcp_url: &str) -> Value {
        let now = now();
        json!({
            "iss": self.url(),
            "aud": [mcp_url, self.res_id()],
            "sub": random_digits_id("usr_"),
            "exp": now + 3600,
            "iat": now,
            "nbf": now,
            "jti": random_digits_id("tkn_"),
            "client_id": random_digits_id("skc_"),
            "scope": "openid offline_access email profile",
            "sid": random_digits_id("ses_"),
            "oid": random_digits_id("org_"),
        })
    }

    /// Scalekit-shaped machine-to-machine claims: `iss` `{env}/resources/{res}`,
    /// `sub` = `client_id` = `m2m_…`, `scopes` as an array.
    pub(crate) fn machine_claims(&self, mcp_url: &str, scopes: &[&str]) -> Value {
        let now = now();
        let client = random_digits_id("m2m_");
        json!({
            "iss": self.resource_issuer(),
            "aud": [mcp_url, self.res_id()],
            "sub": client,
            "client_id": client,
            "exp": now + 3600,
            "iat": now,
            "nbf": now,
            "jti": random_digits_id("tkn_"),
            "scopes": scopes,
            "oid": random_digits_id("org_"),
        })
    }

    /// Signs `claims` as Scalekit does (RS256, `kid` snk_…, `typ: JWT`) with the current signer.
    pub(crate) fn mint(&self, claims: &Value) -> String {
        self.signer().sign(claims).expect("sign token")
    }
}

async fn keys(State(state): State<Arc<StandInState>>) -> Response {
    state.keys_hits.fetch_add(1, Ordering::SeqCst);
    let mode = state.keys_mode.lock().unwrap().clone();
    let mut response = match mode {
        KeysMode::Error500 => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
        KeysMode::Garbage => (StatusCode::OK, "<html>this is not a key set</html>").into_response(),
        KeysMode::Slow(delay) => {
            tokio::time::sleep(delay).await;
            axum::Json(state.jwks()).into_response()
        }
        KeysMode::Normal => axum::Json(state.jwks()).into_response(),
    };
    if let Some(cc) = state.cache_control.lock().unwrap().clone() {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_str(&cc).unwrap());
    }
    response
}

async fn metadata(State(state): State<Arc<StandInState>>, Path(res): Path<String>) -> Response {
    state.metadata_hits.fetch_add(1, Ordering::SeqCst);
    let delay = *state.metadata_delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if res != state.res_id {
        return StatusCode::NOT_FOUND.into_response();
    }
    if state.metadata_failing.load(Ordering::SeqCst) {
        return (StatusCode::INTERNAL_SERVER_ERROR, UPSTREAM_SECRET_TEXT).into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.metadata_body.clone(),
    )
        .into_response()
}
