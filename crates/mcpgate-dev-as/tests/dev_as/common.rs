//! Helpers: start a server on 127.0.0.1, drive the browser flow over real HTTP,
//! verify tokens against the published JWKS.

use std::path::{Path, PathBuf};

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mcpgate_dev_as::{DevAuthServer, DevAuthServerConfig, DevAuthServerHandle, Url};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The MCP server the tokens are for; never contacted.
pub(crate) const MCP_URL: &str = "http://127.0.0.1:9/mcp";
pub(crate) const REDIRECT: &str = "http://127.0.0.1:7777/callback";

pub(crate) fn config() -> DevAuthServerConfig {
    DevAuthServerConfig::new(Url::parse(MCP_URL).unwrap())
}

pub(crate) struct Fixture {
    pub server: DevAuthServerHandle,
    pub http: reqwest::Client,
}

pub(crate) async fn start() -> Fixture {
    start_with(config()).await
}

pub(crate) async fn start_with(config: DevAuthServerConfig) -> Fixture {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = DevAuthServer::start(listener, config).await.unwrap();
    Fixture {
        server,
        http: http_client(),
    }
}

/// A client that, like a test harness rather than a browser, shows redirects.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A PKCE pair: (verifier, S256 challenge).
pub(crate) fn pkce() -> (String, String) {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
    (verifier, challenge)
}

/// The `csrf_token` hidden field of a consent page.
pub(crate) fn csrf_token(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html
        .find(marker)
        .expect("consent page has a csrf_token field")
        + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_owned()
}

/// Query parameters of a `Location` header.
pub(crate) fn location_params(response: &reqwest::Response) -> (Url, Vec<(String, String)>) {
    let location = response
        .headers()
        .get("location")
        .expect("a redirect")
        .to_str()
        .unwrap();
    let url = Url::parse(location).unwrap();
    let params = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (url, params)
}

pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Fixture {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.env_url())
    }

    pub(crate) fn register_url(&self) -> String {
        self.url(&format!(
            "/api/v1/resources/{}/clients:register",
            self.server.resource_id()
        ))
    }

    pub(crate) async fn register(&self, metadata: Value) -> reqwest::Response {
        self.http
            .post(self.register_url())
            .json(&metadata)
            .send()
            .await
            .unwrap()
    }

    /// Registers a public client with [`REDIRECT`]; returns its id.
    pub(crate) async fn register_public(&self) -> String {
        let response = self
            .register(json!({
                "client_name": "Test Client",
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
            }))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json::<Value>().await.unwrap()["client_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `GET /oauth/authorize` with the given parameters.
    pub(crate) async fn authorize(&self, params: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .get(self.url("/oauth/authorize"))
            .query(params)
            .send()
            .await
            .unwrap()
    }

    /// Standard authorization parameters for `client_id` with `challenge`.
    pub(crate) fn auth_params<'a>(
        client_id: &'a str,
        challenge: &'a str,
        scope: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("state", "xyz-state"),
            ("scope", scope),
            ("resource", MCP_URL),
        ]
    }

    /// Posts the consent decision.
    pub(crate) async fn decide(
        &self,
        csrf: &str,
        decision: &str,
        subject: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![("csrf_token", csrf), ("decision", decision)];
        if let Some(s) = subject {
            form.push(("subject", s));
        }
        self.http
            .post(self.url("/oauth/authorize/decision"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Runs authorize → consent → approve; returns the code.
    pub(crate) async fn code_for(&self, client_id: &str, challenge: &str, scope: &str) -> String {
        let page = self
            .authorize(&Self::auth_params(client_id, challenge, scope))
            .await;
        assert_eq!(page.status(), StatusCode::OK, "consent page");
        let csrf = csrf_token(&page.text().await.unwrap());
        let response = self.decide(&csrf, "approve", None).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let (_, params) = location_params(&response);
        param(&params, "code").expect("a code").to_owned()
    }

    pub(crate) async fn token(
        &self,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let response = self
            .http
            .post(self.url("/oauth/token"))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        (status, response.json().await.unwrap(), headers)
    }

    pub(crate) async fn exchange_code(
        &self,
        client_id: &str,
        code: &str,
        verifier: &str,
    ) -> (StatusCode, Value) {
        let (status, body, _) = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("client_id", client_id),
                ("code", code),
                ("code_verifier", verifier),
                ("redirect_uri", REDIRECT),
            ])
            .await;
        (status, body)
    }

    pub(crate) async fn jwks(&self) -> JwkSet {
        self.http
            .get(self.url("/keys"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Verifies `token` against the published JWKS the way a resource server
    /// would: RS256, `kid` lookup, `iss` (either form), `aud`, `exp`.
    pub(crate) async fn verify(&self, token: &str) -> Value {
        let jwks = self.jwks().await;
        self.verify_with(&jwks, token)
    }

    /// [`Fixture::verify`] against a JWKS fetched earlier.
    pub(crate) fn verify_with(&self, jwks: &JwkSet, token: &str) -> Value {
        let header = jsonwebtoken::decode_header(token).unwrap();
        let kid = header.kid.expect("kid");
        let jwk = jwks.find(&kid).expect("kid published in the JWKS");
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[MCP_URL]);
        validation.set_issuer(&self.server.issuers());
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap()
            .claims
    }
}

/// A directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        let path = std::env::temp_dir().join(mcpgate_dev_as::keys::random_digits_id(
            "mcpgate-dev-as-test-",
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
