//! What the fuzz targets share: two RSA keys (one published, one not), a
//! verifier over a static JWKS, token signing from raw bytes, and the
//! independent check that an accepted token really is acceptable.
//!
//! Nothing here touches the network: the key cache is built from a document
//! in memory (`mcpgate_auth::__fuzz::static_jwks`), so an unknown `kid` is
//! answered without a fetch.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcpgate_auth::AccessToken;
use mcpgate_auth::jwks::JwksConfig;
use mcpgate_auth::verify::{JwtVerifier, SigningAlgorithm, VerifierSettings};
use mcpgate_dev_as::SigningKey;
use serde_json::{Map, Value, json};

/// The only accepted `iss`.
pub const ISSUER: &str = "https://auth.example.com";
/// The MCP URL, also the only accepted audience.
pub const MCP_URL: &str = "https://mcp.example.com/mcp";
/// The `kid` of the published key.
pub const KID: &str = "snk_fuzz_a";
/// The `kid` of the key that is not published (tokens may still claim [`KID`]).
pub const OTHER_KID: &str = "snk_fuzz_b";
/// The verifier's clock-skew leeway, in seconds (the default).
pub const LEEWAY_SECS: u64 = 60;
/// Slack for the second that may tick between the verifier's clock and ours.
const CLOCK_SLACK_SECS: u64 = 2;

/// The published key and the unpublished one, with raw signers.
pub struct Keys {
    /// Published in the JWKS under [`KID`].
    pub published: SigningKey,
    /// Never published.
    pub unpublished: SigningKey,
    published_signer: RsaKeyPair,
    unpublished_signer: RsaKeyPair,
    /// `{"keys": [published]}`.
    pub jwks: Vec<u8>,
}

/// The keys, generated once per process.
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let make = |kid: &str| {
            let fresh = SigningKey::generate().expect("RSA key generation");
            let key = SigningKey::from_pkcs8(kid, fresh.pkcs8_der()).expect("reload key");
            let signer = RsaKeyPair::from_pkcs8(key.pkcs8_der()).expect("PKCS#8 signer");
            (key, signer)
        };
        let (published, published_signer) = make(KID);
        let (unpublished, unpublished_signer) = make(OTHER_KID);
        let jwks = serde_json::to_vec(&mcpgate_dev_as::keys::jwks([&published])).expect("JWKS");
        Keys {
            published,
            unpublished,
            published_signer,
            unpublished_signer,
            jwks,
        }
    })
}

/// Which key signs a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// The key in the JWKS.
    Published,
    /// A key nobody published.
    Unpublished,
}

/// `base64url(header).base64url(claims).base64url(RS256 signature)` over the
/// bytes exactly as given (no re-serialisation), so the fuzzer controls them.
pub fn sign_raw(signer: Signer, header: &[u8], claims: &[u8]) -> String {
    let keys = keys();
    let pair = match signer {
        Signer::Published => &keys.published_signer,
        Signer::Unpublished => &keys.unpublished_signer,
    };
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .expect("RS256 signing");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A well-formed token from the published key: `{alg, typ: JWT, kid}` and
/// `claims` as given.
pub fn sign_claims(claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": KID});
    sign_raw(
        Signer::Published,
        &serde_json::to_vec(&header).expect("JSON"),
        &serde_json::to_vec(claims).expect("JSON"),
    )
}

/// Whether `signature` over `input` verifies with the published key.
fn published_key_signed(input: &[u8], signature: &[u8]) -> bool {
    let jwk = keys().published.jwk();
    let part = |name: &str| {
        URL_SAFE_NO_PAD
            .decode(jwk[name].as_str().expect("JWK member"))
            .expect("JWK base64url")
    };
    RsaPublicKeyComponents {
        n: part("n"),
        e: part("e"),
    }
    .verify(&RSA_PKCS1_2048_8192_SHA256, input, signature)
    .is_ok()
}

/// The verifier every target uses: [`ISSUER`], audience [`MCP_URL`], RS256,
/// default leeway and caches, keys from the static JWKS.
pub fn verifier() -> &'static JwtVerifier {
    static VERIFIER: OnceLock<JwtVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let keys = mcpgate_auth::__fuzz::static_jwks(&keys().jwks, JwksConfig::default())
            .expect("the fuzz JWKS is usable");
        JwtVerifier::new(
            keys,
            VerifierSettings::new([ISSUER], [MCP_URL], [SigningAlgorithm::Rs256]),
        )
        .expect("valid settings")
    })
}

/// A current-thread runtime for the async parts (verification, the router).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("tokio runtime")
    })
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Panics unless `raw`, which the verifier accepted as `access` at a time
/// between `before` and `after` (Unix seconds), meets every rule on its own
/// terms: a compact JWS signed by the published key with an allowed header,
/// and the right issuer, audience, subject and lifetime.
pub fn assert_acceptable(raw: &str, access: &AccessToken, before: u64, after: u64) {
    let parts: Vec<&str> = raw.split('.').collect();
    assert_eq!(parts.len(), 3, "accepted a token that is not a compact JWS");
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .unwrap_or_else(|e| panic!("accepted a token with a part that is not base64url: {e}"))
    };
    let signing_input = &raw[..parts[0].len() + 1 + parts[1].len()];
    assert!(
        published_key_signed(signing_input.as_bytes(), &decode(parts[2])),
        "accepted a token the published key did not sign"
    );

    let header: Map<String, Value> = serde_json::from_slice(&decode(parts[0]))
        .expect("accepted a header that is not a JSON object");
    assert_eq!(
        header.get("alg"),
        Some(&json!("RS256")),
        "accepted alg {:?}",
        header.get("alg")
    );
    assert_eq!(
        header.get("kid"),
        Some(&json!(KID)),
        "accepted kid {:?}",
        header.get("kid")
    );
    for forbidden in ["crit", "jku", "jwk", "x5u", "x5c"] {
        assert!(
            !header.contains_key(forbidden),
            "accepted a header with {forbidden}"
        );
    }
    if let Some(typ) = header.get("typ") {
        let typ = typ
            .as_str()
            .expect("accepted a non-string typ")
            .to_ascii_lowercase();
        assert!(
            ["jwt", "at+jwt", "application/at+jwt"].contains(&typ.as_str()),
            "accepted typ {typ:?}"
        );
    }

    let claims: Map<String, Value> = serde_json::from_slice(&decode(parts[1]))
        .expect("accepted claims that are not a JSON object");
    assert_eq!(
        claims.get("iss"),
        Some(&json!(ISSUER)),
        "accepted iss {:?}",
        claims.get("iss")
    );
    match claims.get("aud") {
        Some(Value::String(aud)) => assert_eq!(aud, MCP_URL, "accepted aud {aud:?}"),
        Some(Value::Array(auds)) => {
            assert!(auds.contains(&json!(MCP_URL)), "accepted aud {auds:?}")
        }
        other => panic!("accepted aud {other:?}"),
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("accepted sub {:?}", claims.get("sub")));
    assert!(!sub.is_empty(), "accepted an empty sub");
    assert_eq!(
        access.subject(),
        sub,
        "the caller is not the token's subject"
    );
    assert_eq!(access.issuer(), ISSUER);

    let exp = claims
        .get("exp")
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("accepted exp {:?}", claims.get("exp")));
    assert!(
        exp.saturating_add(LEEWAY_SECS + CLOCK_SLACK_SECS) >= before,
        "accepted a token that expired at {exp} (now {before})"
    );
    for name in ["nbf", "iat"] {
        if let Some(value) = claims.get(name) {
            let t = value
                .as_u64()
                .unwrap_or_else(|| panic!("accepted {name} {value:?}"));
            assert!(
                t <= after + LEEWAY_SECS + CLOCK_SLACK_SECS,
                "accepted {name} {t} in the future (now {after})"
            );
        }
    }
}

/// Splits `data` at the first `\n`: (first line, rest). No newline: (data, empty).
pub fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}
