//! Signing keys (a small on-disk pool, so RSA generation is paid once), token
//! forging for headers and segments no well-behaved issuer would produce, and
//! claim-editing helpers.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcpgate_dev_as::keys::{SigningKey, random_digits_id};
use serde_json::{Value, json};

/// Keys kept on disk so that repeated test runs (and nextest, which runs one
/// process per test) do not pay for RSA key generation; tests only need them
/// to be distinct.
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
            let key = SigningKey::generate().expect("RSA key generation");
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
pub(crate) fn shared_key(index: usize) -> SigningKey {
    assert!(
        index < 2,
        "shared keys are 0 and 1; use next_key() for more"
    );
    pooled_key(index)
}

/// A key distinct from the shared ones and from every earlier `next_key()` of
/// this process (for rotation tests, where kids must be new).
pub(crate) fn next_key() -> SigningKey {
    static NEXT: AtomicUsize = AtomicUsize::new(2);
    let index = NEXT.fetch_add(1, Ordering::SeqCst);
    if index < KEY_POOL {
        pooled_key(index)
    } else {
        SigningKey::generate().expect("RSA key generation")
    }
}

/// A compact JWS under any header JSON (even one jsonwebtoken's `Header`
/// cannot express), RS256-signed by `key` over the exact bytes.
pub(crate) fn forge(key: &SigningKey, header: &Value, claims: &Value) -> String {
    key.sign_with_raw_header(header, claims)
        .expect("RSA signature")
}

/// A token whose header and claims are given as raw segments (already
/// base64url, or deliberately not), with a real signature over them.
pub(crate) fn forge_raw(key: &SigningKey, header_segment: &str, claims_segment: &str) -> String {
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
pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The claims segment of a compact JWS, decoded (panics if it is not JSON).
pub(crate) fn payload_of(token: &str) -> Value {
    let segment = token.split('.').nth(1).expect("a claims segment");
    let bytes = URL_SAFE_NO_PAD.decode(segment).expect("base64url claims");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Scalekit's token header: `{alg: RS256, kid, typ: JWT}`.
pub(crate) fn scalekit_header(kid: &str) -> Value {
    json!({"alg": "RS256", "kid": kid, "typ": "JWT"})
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `claims` without the named claim.
pub(crate) fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().expect("claims object").remove(name);
    claims
}

/// `claims` with one claim replaced.
pub(crate) fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}
