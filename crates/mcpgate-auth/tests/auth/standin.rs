//! A loopback identity-provider stand-in: serves a discovery document and a
//! JWKS at whatever paths a provider documents, with keys of every supported
//! type, and signs tokens (including ones no honest issuer would sign).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, RsaKeyPair,
};
use axum::Router;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The key material of one test key.
#[derive(Clone)]
pub(crate) enum Material {
    Rsa(Arc<RsaKeyPair>),
    P256(Arc<EcdsaKeyPair>),
    P384(Arc<EcdsaKeyPair>),
    Ed(Arc<Ed25519KeyPair>),
}

/// A signing key with its `kid` and the `alg` its JWK declares (if any).
#[derive(Clone)]
pub(crate) struct TestKey {
    pub(crate) kid: String,
    pub(crate) material: Material,
    pub(crate) declared_alg: Option<&'static str>,
}

fn rsa_pair(index: usize) -> Arc<RsaKeyPair> {
    // RSA generation is the slow part; a few pairs serve every test.
    static PAIRS: [OnceLock<Arc<RsaKeyPair>>; 4] = [const { OnceLock::new() }; 4];
    PAIRS[index % 4]
        .get_or_init(|| Arc::new(RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key")))
        .clone()
}

impl TestKey {
    pub(crate) fn rsa(kid: &str, index: usize) -> Self {
        Self {
            kid: kid.into(),
            material: Material::Rsa(rsa_pair(index)),
            declared_alg: Some("RS256"),
        }
    }

    pub(crate) fn p256(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        Self {
            kid: kid.into(),
            material: Material::P256(Arc::new(pair)),
            declared_alg: Some("ES256"),
        }
    }

    pub(crate) fn p384(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
        Self {
            kid: kid.into(),
            material: Material::P384(Arc::new(pair)),
            declared_alg: Some("ES384"),
        }
    }

    pub(crate) fn ed25519(kid: &str) -> Self {
        let pair = Ed25519KeyPair::generate().unwrap();
        Self {
            kid: kid.into(),
            material: Material::Ed(Arc::new(pair)),
            declared_alg: Some("EdDSA"),
        }
    }

    /// Whether this key can produce `alg` signatures.
    pub(crate) fn can_sign(&self, alg: &str) -> bool {
        match &self.material {
            Material::Rsa(_) => alg.starts_with("RS") || alg.starts_with("PS"),
            Material::P256(_) => alg == "ES256",
            Material::P384(_) => alg == "ES384",
            Material::Ed(_) => alg == "EdDSA",
        }
    }

    /// The same key published without an `alg` (as many issuers do).
    pub(crate) fn undeclared(mut self) -> Self {
        self.declared_alg = None;
        self
    }

    /// The public JWK.
    pub(crate) fn jwk(&self) -> Value {
        let mut jwk = match &self.material {
            Material::Rsa(pair) => {
                let c = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)})
            }
            Material::P256(pair) | Material::P384(pair) => {
                let point = pair.public_key().as_ref();
                let len = (point.len() - 1) / 2;
                let crv = if len == 32 { "P-256" } else { "P-384" };
                json!({"kty": "EC", "crv": crv, "x": b64(&point[1..1 + len]), "y": b64(&point[1 + len..])})
            }
            Material::Ed(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())})
            }
        };
        jwk["kid"] = json!(self.kid);
        jwk["use"] = json!("sig");
        if let Some(alg) = self.declared_alg {
            jwk["alg"] = json!(alg);
        }
        jwk
    }

    /// The RSA public key as the DER an HMAC-confusion attacker would use as
    /// the secret (the modulus bytes: any public encoding serves the test).
    pub(crate) fn public_bytes(&self) -> Vec<u8> {
        match &self.material {
            Material::Rsa(pair) => pair.public_key().as_ref().to_vec(),
            Material::P256(p) | Material::P384(p) => p.public_key().as_ref().to_vec(),
            Material::Ed(p) => p.public_key().as_ref().to_vec(),
        }
    }

    /// Signs `header`.`claims` with `alg` (which need not suit the key: an
    /// unsuitable combination panics, so tests only ask for real ones).
    pub(crate) fn sign(&self, alg: &str, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(&serde_json::to_vec(header).unwrap()),
            b64(&serde_json::to_vec(claims).unwrap())
        );
        let rng = SystemRandom::new();
        let signature = match (&self.material, alg) {
            (Material::Rsa(pair), _) => {
                use aws_lc_rs::signature as s;
                let padding: &'static dyn s::RsaEncoding = match alg {
                    "RS256" => &s::RSA_PKCS1_SHA256,
                    "RS384" => &s::RSA_PKCS1_SHA384,
                    "RS512" => &s::RSA_PKCS1_SHA512,
                    "PS256" => &s::RSA_PSS_SHA256,
                    "PS384" => &s::RSA_PSS_SHA384,
                    "PS512" => &s::RSA_PSS_SHA512,
                    other => panic!("RSA cannot sign {other}"),
                };
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(padding, &rng, input.as_bytes(), &mut sig)
                    .unwrap();
                sig
            }
            (Material::P256(pair), "ES256") | (Material::P384(pair), "ES384") => {
                pair.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec()
            }
            (Material::Ed(pair), "EdDSA") => pair.sign(input.as_bytes()).as_ref().to_vec(),
            (_, other) => panic!("this key cannot sign {other}"),
        };
        format!("{input}.{}", b64(&signature))
    }

    /// HS256 over `header`.`claims` with `secret` (key-confusion attempts).
    pub(crate) fn hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(&serde_json::to_vec(header).unwrap()),
            b64(&serde_json::to_vec(claims).unwrap())
        );
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
        let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", b64(tag.as_ref()))
    }
}

struct Shared {
    /// Path → JSON document; `{base}` in strings is replaced by the base URL.
    documents: HashMap<String, Value>,
    jwks_path: String,
    keys: Vec<TestKey>,
    hits: HashMap<String, usize>,
}

/// A running stand-in on 127.0.0.1.
#[derive(Clone)]
pub(crate) struct StandIn {
    pub(crate) base: String,
    shared: Arc<Mutex<Shared>>,
    _task: Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn serve(State(shared): State<Arc<Mutex<Shared>>>, uri: Uri) -> Response {
    let mut shared = shared.lock().unwrap();
    let path = uri.path().to_owned();
    *shared.hits.entry(path.clone()).or_default() += 1;
    if path == shared.jwks_path {
        let keys: Vec<Value> = shared.keys.iter().map(TestKey::jwk).collect();
        return axum::Json(json!({ "keys": keys })).into_response();
    }
    match shared.documents.get(&path) {
        Some(doc) => axum::Json(doc.clone()).into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

impl StandIn {
    /// Serves `jwks_path` with `keys`; documents are added with [`document`].
    pub(crate) async fn start(jwks_path: &str, keys: Vec<TestKey>) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            documents: HashMap::new(),
            jwks_path: jwks_path.to_owned(),
            keys,
            hits: HashMap::new(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(serve).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base,
            shared,
            _task: Arc::new(AbortOnDrop(task)),
        }
    }

    /// Serves `doc` at `path`.
    pub(crate) fn document(&self, path: &str, doc: Value) {
        self.shared
            .lock()
            .unwrap()
            .documents
            .insert(path.to_owned(), doc);
    }

    /// Publishes another key (rotation: old and new both published).
    pub(crate) fn publish(&self, key: TestKey) {
        self.shared.lock().unwrap().keys.push(key);
    }

    pub(crate) fn hits(&self, path: &str) -> usize {
        self.shared
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}
