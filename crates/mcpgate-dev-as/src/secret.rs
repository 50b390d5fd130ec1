//! Opaque secrets (authorization codes, refresh tokens, client secrets, CSRF
//! tokens) and the hashes under which the persistent ones are stored.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// 32 random bytes, base64url without padding (43 characters): unguessable and
/// safe in URLs, forms and HTML attributes without escaping.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The system RNG failing is not a condition a dev server can recover from.
    aws_lc_rs::rand::fill(&mut bytes).expect("system RNG unavailable");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of `value`, base64url. Refresh tokens and client secrets are stored
/// only as this hash, so a copied database file grants nothing.
pub(crate) fn hash(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, value.as_bytes()))
}

/// Compares two secrets' hashes in constant time.
pub(crate) fn hashes_equal(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// RFC 7636 §4.6: `BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge`.
pub(crate) fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    hashes_equal(&hash(verifier), challenge)
}

/// RFC 7636 §4.1: a verifier (and, for S256, the challenge's alphabet) is 43–128
/// characters of `[A-Za-z0-9-._~]`.
pub(crate) fn is_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example_verifies() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_s256_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_s256_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
        assert!(is_pkce_value(verifier));
        assert!(!is_pkce_value("short"));
    }
}
