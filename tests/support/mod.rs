//! Shared test support: an in-process stand-in for Scalekit, token minting and
//! forging, and a protected MCP server running on a loopback port.
//!
//! Everything listens on `127.0.0.1:0`; nothing leaves the machine.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, StatusCode, header};
use mcpgate::jwks::JwksConfig;
use mcpgate::{AccessToken, McpServer, ScalekitProvider, ServeError};
use mcpgate_dev_as::keys::{SigningKey, random_digits_id};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The refetch interval tests run with (the default is 5 s).
pub const TEST_REFETCH_INTERVAL: Duration = Duration::from_secs(1);

/// Text the stand-in puts in its failing metadata answers; it must never reach clients.
pub const UPSTREAM_SECRET_TEXT: &str =
    "upstream-diagnostic: db connection string postgres://internal";

// ---------------------------------------------------------------------------
// Keys

/// Keys kept on disk so that each test process (nextest runs one per test)
/// does not pay for RSA key generation; tests only need them to be distinct.
const KEY_POOL: usize = 8;

fn pooled_key(index: usize) -> SigningKey {
    static KEYS: [OnceLock<SigningKey>; KEY_POOL] = [const { OnceLock::new() }; KEY_POOL];
    KEYS[index]
        .get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("mcpgate-test-keys");
            let path = dir.join(format!("rsa2048-{index}.pk8"));
            if let Ok(der) = std::fs::read(&path)
                && let Ok(key) = SigningKey::from_pkcs8(&random_digits_id("snk_"), &der)
            {
                return key;
            }
            let key = fresh_key();
            // Write then rename, so a concurrent reader never sees half a key.
            let _ = std::fs::create_dir_all(&dir);
            let tmp = dir.join(format!("rsa2048-{index}.{}.tmp", std::process::id()));
            if std::fs::write(&tmp, key.pkcs8_der()).is_ok() {
                let _ = std::fs::rename(&tmp, &path);
            }
            key
        })
        .clone()
}

/// One of two keys shared by the tests of a process (index 0 or 1).
pub fn shared_key(index: usize) -> SigningKey {
    assert!(
        index < 2,
        "shared keys are 0 and 1; use next_key() for more"
    );
    pooled_key(index)
}

/// A key distinct from the shared ones and from every earlier `next_key()` of
/// this process (for rotation tests, where kids must be new).
pub fn next_key() -> SigningKey {
    static NEXT: AtomicUsize = AtomicUsize::new(2);
    let index = NEXT.fetch_add(1, Ordering::SeqCst);
    if index < KEY_POOL {
        pooled_key(index)
    } else {
        fresh_key()
    }
}

/// A freshly generated key.
pub fn fresh_key() -> SigningKey {
    SigningKey::generate().expect("RSA key generation")
}

/// Builds a compact JWS by hand: any header JSON, RS256 signature by `key`
/// over the exact bytes. For headers jsonwebtoken's `Header` cannot express.
pub fn forge(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(header).unwrap()),
        b64(&serde_json::to_vec(claims).unwrap())
    );
    let pair = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(key.pkcs8_der()).expect("pkcs8");
    let mut signature = vec![0u8; pair.public_modulus_len()];
    pair.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .expect("RSA signature");
    format!("{input}.{}", b64(&signature))
}

/// A token whose header and claims are given as raw segments (already
/// base64url or deliberately not), with a real signature over them.
pub fn forge_raw(key: &SigningKey, header_segment: &str, claims_segment: &str) -> String {
    let input = format!("{header_segment}.{claims_segment}");
    let pair = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(key.pkcs8_der()).expect("pkcs8");
    let mut signature = vec![0u8; pair.public_modulus_len()];
    pair.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .expect("RSA signature");
    format!("{input}.{}", b64(&signature))
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Scalekit's token header: `{alg: RS256, kid, typ: JWT}`.
pub fn scalekit_header(kid: &str) -> Value {
    json!({"alg": "RS256", "kid": kid, "typ": "JWT"})
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `claims` without the named claim.
pub fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().expect("claims object").remove(name);
    claims
}

/// `claims` with one claim replaced.
pub fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

// ---------------------------------------------------------------------------
// The Scalekit stand-in

/// How `GET /keys` answers.
#[derive(Debug, Clone, PartialEq)]
pub enum KeysMode {
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
    metadata_body: String,
}

/// An in-process Scalekit environment on `127.0.0.1:0`: JWKS at `/keys`, AS
/// metadata at `/.well-known/oauth-authorization-server/resources/{res}`.
/// Cloning gives another handle to the same stand-in.
#[derive(Clone)]
pub struct StandIn {
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
    /// Starts a stand-in publishing one (shared) key.
    pub async fn start() -> Self {
        Self::start_with_key(shared_key(0)).await
    }

    /// Starts a stand-in publishing and signing with `key`.
    pub async fn start_with_key(key: SigningKey) -> Self {
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

    /// The environment URL, `http://127.0.0.1:PORT` (also the historical `iss`).
    pub fn url(&self) -> &str {
        &self.state.url
    }

    /// The resource id, `res_…`.
    pub fn res_id(&self) -> &str {
        &self.state.res_id
    }

    /// The newer issuer form, `{env}/resources/{res}`.
    pub fn resource_issuer(&self) -> String {
        format!("{}/resources/{}", self.state.url, self.state.res_id)
    }

    /// The key tokens are currently signed with.
    pub fn signer(&self) -> SigningKey {
        self.state.signer.lock().unwrap().clone()
    }

    /// How many times `GET /keys` was requested.
    pub fn keys_hits(&self) -> usize {
        self.state.keys_hits.load(Ordering::SeqCst)
    }

    /// How many times the AS metadata was requested.
    pub fn metadata_hits(&self) -> usize {
        self.state.metadata_hits.load(Ordering::SeqCst)
    }

    /// The exact AS metadata body served.
    pub fn metadata_body(&self) -> &str {
        &self.state.metadata_body
    }

    /// Switches the behaviour of `/keys`.
    pub fn set_keys_mode(&self, mode: KeysMode) {
        *self.state.keys_mode.lock().unwrap() = mode;
    }

    /// Sets (or clears) the `Cache-Control` header of `/keys`.
    pub fn set_cache_control(&self, value: Option<&str>) {
        *self.state.cache_control.lock().unwrap() = value.map(str::to_owned);
    }

    /// Makes the AS metadata endpoint fail (500 with a diagnostic body) or work.
    pub fn set_metadata_failing(&self, failing: bool) {
        self.state.metadata_failing.store(failing, Ordering::SeqCst);
    }

    /// Raw JWK entries published in front of the real keys.
    pub fn set_extra_jwks(&self, entries: Vec<Value>) {
        *self.state.extra_jwks.lock().unwrap() = entries;
    }

    /// Replaces the published keys (the signer is unchanged).
    pub fn publish(&self, keys: Vec<SigningKey>) {
        *self.state.published.lock().unwrap() = keys;
    }

    /// Publishes `key` next to the current keys and signs new tokens with it.
    pub fn rotate_to(&self, key: SigningKey) -> SigningKey {
        self.state.published.lock().unwrap().push(key.clone());
        *self.state.signer.lock().unwrap() = key.clone();
        key
    }

    /// Publishes a new key next to the old ones and signs with it.
    pub fn rotate(&self) -> SigningKey {
        self.rotate_to(next_key())
    }

    /// Publishes only the current signer (old keys are retired).
    pub fn retire_old_keys(&self) {
        let signer = self.signer();
        self.publish(vec![signer]);
    }

    /// The JWKS document as currently published.
    pub fn jwks(&self) -> Value {
        let mut entries = self.state.extra_jwks.lock().unwrap().clone();
        entries.extend(
            self.state
                .published
                .lock()
                .unwrap()
                .iter()
                .map(|k| k.jwk().clone()),
        );
        json!({ "keys": entries })
    }

    /// Waits until `/keys` was hit at least `n` times (panics after 5 s).
    pub async fn wait_for_keys_hits(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
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
    pub fn user_claims(&self, mcp_url: &str) -> Value {
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
    pub fn machine_claims(&self, mcp_url: &str, scopes: &[&str]) -> Value {
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
    pub fn mint(&self, claims: &Value) -> String {
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
            axum::Json(current_jwks(&state)).into_response()
        }
        KeysMode::Normal => axum::Json(current_jwks(&state)).into_response(),
    };
    if let Some(cc) = state.cache_control.lock().unwrap().clone() {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_str(&cc).unwrap());
    }
    response
}

fn current_jwks(state: &StandInState) -> Value {
    let mut entries = state.extra_jwks.lock().unwrap().clone();
    entries.extend(
        state
            .published
            .lock()
            .unwrap()
            .iter()
            .map(|k| k.jwk().clone()),
    );
    json!({ "keys": entries })
}

async fn metadata(State(state): State<Arc<StandInState>>, Path(res): Path<String>) -> Response {
    state.metadata_hits.fetch_add(1, Ordering::SeqCst);
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

// ---------------------------------------------------------------------------
// The protected MCP server (Scalekit's sample server)

async fn auth_status(token: AccessToken) -> Value {
    json!({
        "message": format!("Authenticated as {}", token.subject()),
        "authenticated": true,
        "provider": "Scalekit",
    })
}

async fn protected_action(_token: AccessToken) -> &'static str {
    "Access granted via Scalekit!"
}

async fn inspect_token(token: AccessToken) -> Value {
    Value::Object(token.claims().clone())
}

/// The JWKS settings tests use: a 1 s refetch interval, defaults otherwise.
pub fn test_jwks_config() -> JwksConfig {
    JwksConfig::default().with_refetch_interval(TEST_REFETCH_INTERVAL)
}

/// Scalekit's sample MCP server, protected by a stand-in, on a loopback port.
pub struct TestServer {
    /// The Scalekit stand-in this server trusts.
    pub idp: StandIn,
    /// The listening port.
    pub port: u16,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `http://127.0.0.1:PORT/mcp`, the resource identifier.
    pub mcp_url: String,
    /// An HTTP client that follows no redirects and uses no proxy.
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl TestServer {
    /// A fresh stand-in and a server with the test JWKS settings.
    pub async fn start() -> Self {
        Self::start_with(StandIn::start().await, |p| p).await
    }

    /// A server trusting `idp`; `configure` adjusts the provider (it starts
    /// with [`test_jwks_config`], which `configure` may replace).
    pub async fn start_with(
        idp: StandIn,
        configure: impl FnOnce(ScalekitProvider) -> ScalekitProvider,
    ) -> Self {
        Self::start_server(idp, configure, |s| s).await
    }

    /// Like [`start_with`](Self::start_with), also adjusting the server builder.
    pub async fn start_server(
        idp: StandIn,
        configure: impl FnOnce(ScalekitProvider) -> ScalekitProvider,
        server: impl FnOnce(McpServer) -> McpServer,
    ) -> Self {
        // Bind first: the MCP URL (and so the audience) needs the port.
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind MCP server");
        let port = listener.local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        let mcp_url = format!("{base}/mcp");
        let provider = configure(
            ScalekitProvider::new(idp.url(), idp.res_id(), &mcp_url)
                .jwks_config(test_jwks_config()),
        );
        let mcp = server(
            McpServer::new("My Scalekit Protected Server")
                .auth(provider)
                .tool("auth_status", "Check authentication status", auth_status)
                .tool(
                    "protected_action",
                    "A protected action that requires authentication",
                    protected_action,
                )
                .tool(
                    "inspect_token",
                    "Return the caller's JWT claims",
                    inspect_token,
                ),
        );
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(mcp.serve_with_shutdown(listener, async {
            let _ = rx.await;
        }));
        Self {
            idp,
            port,
            base,
            mcp_url,
            http: http_client(),
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the server and waits for it (bounded).
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            match tokio::time::timeout(Duration::from_secs(5), task).await {
                Ok(joined) => joined.expect("server task").expect("server result"),
                Err(_) => panic!("server did not shut down within 5 s"),
            }
        }
    }

    /// RFC 9728 path-inserted metadata URL, derived here independently of the library.
    pub fn metadata_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/.well-known/oauth-protected-resource/mcp",
            self.port
        )
    }

    /// Default user claims for this server.
    pub fn claims(&self) -> Value {
        self.idp.user_claims(&self.mcp_url)
    }

    /// Signs claims with the stand-in's current key.
    pub fn mint(&self, claims: &Value) -> String {
        self.idp.mint(claims)
    }

    /// A valid user token.
    pub fn token(&self) -> String {
        self.mint(&self.claims())
    }

    /// `WWW-Authenticate` for an error, as this server must send it.
    pub fn challenge(&self, error: &str, description: &str) -> String {
        format!(
            r#"Bearer error="{error}", error_description="{description}", resource_metadata="{}""#,
            self.metadata_url()
        )
    }

    /// `WWW-Authenticate` for `invalid_token` with this description.
    pub fn invalid_token(&self, description: &str) -> String {
        self.challenge("invalid_token", description)
    }

    /// The bare challenge for a request without credentials.
    pub fn bare_challenge(&self) -> String {
        format!(r#"Bearer resource_metadata="{}""#, self.metadata_url())
    }

    /// A POST to the MCP endpoint with the headers Streamable HTTP requires.
    pub fn post(&self, token: Option<&str>) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .post(&self.mcp_url)
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        request
    }

    /// POSTs an `initialize` request.
    pub async fn initialize(&self, token: Option<&str>) -> reqwest::Response {
        self.post(token)
            .json(&initialize_request())
            .send()
            .await
            .expect("initialize request")
    }

    /// Initializes a session with `token` and sends `notifications/initialized`;
    /// returns the session id.
    pub async fn open_session(&self, token: &str) -> String {
        let response = self.initialize(Some(token)).await;
        assert_eq!(response.status(), StatusCode::OK, "initialize");
        let session = response
            .headers()
            .get("mcp-session-id")
            .expect("Mcp-Session-Id on initialize")
            .to_str()
            .unwrap()
            .to_owned();
        let _ = read_jsonrpc(response).await;
        let notified = self
            .in_session(Some(token), &session)
            .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            notified.status(),
            StatusCode::ACCEPTED,
            "notifications/initialized"
        );
        session
    }

    /// A POST within a session.
    pub fn in_session(&self, token: Option<&str>, session: &str) -> reqwest::RequestBuilder {
        self.post(token)
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", PROTOCOL_VERSION)
    }

    /// `tools/list` within a session.
    pub async fn list_tools(&self, token: Option<&str>, session: &str) -> reqwest::Response {
        self.in_session(token, session)
            .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
            .send()
            .await
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The protocol version the raw-HTTP tests speak.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// A JSON-RPC `initialize` request.
pub fn initialize_request() -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mcpgate-tests", "version": "0.0.0"},
        },
    })
}

/// An HTTP client that follows no redirects and ignores proxy settings.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The JSON-RPC message of a response, whether sent as JSON or as SSE.
pub async fn read_jsonrpc(response: reqwest::Response) -> Value {
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = tokio::time::timeout(Duration::from_secs(10), response.text())
        .await
        .expect("body in time")
        .unwrap();
    if !is_sse {
        return serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    }
    body.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .filter(|data| !data.is_empty())
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .find(|message| message.get("id").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC response in SSE body: {body}"))
}

/// The `WWW-Authenticate` value of a response (panics if absent).
pub fn www_authenticate(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .expect("WWW-Authenticate header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// Parses a single `Bearer` challenge strictly per RFC 9110 §11 (auth-params
/// separated by commas, values token or quoted-string with `\` escapes).
/// Returns the parameters in order, unescaped.
pub fn parse_bearer_challenge(value: &str) -> Result<Vec<(String, String)>, String> {
    let rest = value.strip_prefix("Bearer").ok_or("scheme is not Bearer")?;
    let mut chars = rest.chars().peekable();
    let mut params = Vec::new();
    let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let skip_ows = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
    };
    if rest.is_empty() {
        return Ok(params);
    }
    if chars.next() != Some(' ') {
        return Err("no space after scheme".into());
    }
    loop {
        skip_ows(&mut chars);
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if is_tchar(c) {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        if name.is_empty() {
            return Err(format!("empty parameter name in {value}"));
        }
        skip_ows(&mut chars);
        if chars.next() != Some('=') {
            return Err(format!("no `=` after {name}"));
        }
        skip_ows(&mut chars);
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated quoted-string".into()),
                    Some('"') => break,
                    Some('\\') => val.push(chars.next().ok_or("dangling escape")?),
                    Some(c) if c == '\t' || (' '..='~').contains(&c) => val.push(c),
                    Some(c) => return Err(format!("character {c:?} not allowed in quoted-string")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if is_tchar(c) {
                    val.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            if val.is_empty() {
                return Err(format!("empty value for {name}"));
            }
        }
        params.push((name, val));
        skip_ows(&mut chars);
        match chars.next() {
            None => return Ok(params),
            Some(',') => continue,
            Some(c) => return Err(format!("unexpected {c:?} after a parameter")),
        }
    }
}
