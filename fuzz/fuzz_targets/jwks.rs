//! JWKS documents as a fetch reads them: which keys are kept, and for how
//! long (`Cache-Control`).
//!
//! Input: the first line is the response's `Cache-Control` value (empty: none;
//! a leading `#N` (N a byte) caps the key count at N % 8 + 1 instead of 64);
//! the rest is the document.
//!
//! Asserts:
//! - the kept keys are exactly those an independent reading of the rules
//!   keeps: `use` sig if given, `key_ops` (an array) naming verify if given,
//!   a non-empty `kid`, an `alg` if given that is supported and fits the key;
//!   `kty` RSA with base64url `n` of at least 2048 significant bits and `e` of
//!   1 to 8 bytes, or EC on P-256/P-384 with base64url `x` and `y` of the
//!   curve's size, or OKP Ed25519 with a 32-byte base64url `x`; in document
//!   order until the cap; a document with none is refused whole;
//! - the kept keys survive a round trip (a document of just those entries keeps
//!   them all);
//! - the lifetime is the default without `max-age`, else within the bounds.

#![no_main]

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::CACHE_CONTROL;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use mcpgate_auth::__fuzz::{jwks_document_kids, jwks_ttl};
use mcpgate_auth::jwks::JwksConfig;
use mcpgate_fuzz::split_line;
use serde_json::{Value, json};

/// The kid of `entry` if a verifier may use it, read straight from the rules.
fn usable_kid(entry: &Value) -> Option<&str> {
    let obj = entry.as_object()?;
    let string = |name: &str| obj.get(name).and_then(Value::as_str);
    let b64_len = |name: &str| URL_SAFE_NO_PAD.decode(string(name)?).ok().map(|b| b.len());
    // A member that is not a string (or, for key_ops, not an array) is read as
    // absent, as the implementation does.
    if string("use").is_some_and(|u| u != "sig") {
        return None;
    }
    if let Some(Value::Array(ops)) = obj.get("key_ops")
        && !ops.contains(&json!("verify"))
    {
        return None;
    }
    let kid = string("kid").filter(|k| !k.is_empty())?;
    // The algorithms each key type can verify.
    let fits: &[&str] = match string("kty")? {
        "RSA" => {
            let n = URL_SAFE_NO_PAD.decode(string("n")?).ok()?;
            let e = URL_SAFE_NO_PAD.decode(string("e")?).ok()?;
            let first = n.iter().position(|b| *b != 0).unwrap_or(n.len());
            let bits = (n.len() - first) * 8;
            if bits < 2048 || e.is_empty() || e.len() > 8 {
                return None;
            }
            &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
        }
        "EC" => {
            let (size, alg) = match string("crv")? {
                "P-256" => (32, "ES256"),
                "P-384" => (48, "ES384"),
                _ => return None,
            };
            if b64_len("x")? != size || b64_len("y")? != size {
                return None;
            }
            if alg == "ES256" {
                &["ES256"]
            } else {
                &["ES384"]
            }
        }
        "OKP" => {
            if string("crv")? != "Ed25519" || b64_len("x")? != 32 {
                return None;
            }
            &["EdDSA", "Ed25519"]
        }
        _ => return None,
    };
    if string("alg").is_some_and(|a| !fits.contains(&a)) {
        return None;
    }
    Some(kid)
}

/// (kept kids, the entries that put them there) by the rules above.
fn expected(document: &Value, max_keys: usize) -> (BTreeSet<String>, Vec<Value>) {
    let mut kids = BTreeSet::new();
    let mut entries = Vec::new();
    if let Some(keys) = document.get("keys").and_then(Value::as_array) {
        for entry in keys {
            if kids.len() >= max_keys {
                break;
            }
            if let Some(kid) = usable_kid(entry) {
                kids.insert(kid.to_owned());
                entries.push(entry.clone());
            }
        }
    }
    (kids, entries)
}

fuzz_target!(|data: &[u8]| {
    let (mut cache_control, document) = split_line(data);
    let mut config = JwksConfig::default();
    if cache_control.len() >= 2 && cache_control[0] == b'#' {
        config.max_keys = usize::from(cache_control[1] % 8) + 1;
        cache_control = &cache_control[2..];
    }

    let mut headers = HeaderMap::new();
    if !cache_control.is_empty()
        && let Ok(v) = HeaderValue::from_bytes(cache_control)
    {
        headers.insert(CACHE_CONTROL, v);
    }
    let ttl = jwks_ttl(&headers, &config);
    assert!(
        ttl == config.default_ttl || (config.min_ttl <= ttl && ttl <= config.max_ttl),
        "ttl {ttl:?} outside the bounds"
    );
    if headers.is_empty() {
        assert_eq!(ttl, config.default_ttl);
    }
    let unusual = {
        let mut c = config.clone();
        c.default_ttl = Duration::from_secs(1);
        c
    };
    let t = jwks_ttl(&headers, &unusual);
    assert!(
        t == unusual.default_ttl || (unusual.min_ttl <= t && t <= unusual.max_ttl),
        "ttl {t:?} outside the bounds"
    );

    let parsed = jwks_document_kids(document, config.max_keys);
    let Ok(value) = serde_json::from_slice::<Value>(document) else {
        assert!(
            parsed.is_err(),
            "kept keys from a document that is not JSON"
        );
        return;
    };
    let (want, entries) = expected(&value, config.max_keys);
    match parsed {
        Ok(kids) => {
            let kids: BTreeSet<String> = kids.into_iter().collect();
            assert_eq!(kids, want, "kept keys differ from the rules");
            assert!(kids.len() <= config.max_keys);

            let again = serde_json::to_vec(&json!({ "keys": entries })).expect("JSON");
            let round: BTreeSet<String> = jwks_document_kids(&again, config.max_keys)
                .expect("the kept entries are a usable document")
                .into_iter()
                .collect();
            assert_eq!(round, kids, "kept keys did not survive a round trip");
        }
        Err(_) => assert!(
            want.is_empty(),
            "refused a document with usable keys {want:?}"
        ),
    }
});
