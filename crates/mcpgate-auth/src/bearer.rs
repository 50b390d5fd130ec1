//! Reads the bearer token from the `Authorization` header, and only from there:
//! tokens in the query string or body are ignored, as the MCP specification asks.

use http::HeaderMap;
use http::header::AUTHORIZATION;

use crate::error::{AuthError, TokenRejection};
use crate::types::BearerToken;

/// Extracts the bearer token from request headers.
///
/// - no `Authorization` header, or a non-Bearer scheme → [`AuthError::MissingToken`]
///   (the client is told, by the challenge, which scheme to use);
/// - several headers, several credentials, an empty or ill-formed token →
///   [`AuthError::InvalidRequest`] (400);
/// - a token longer than `max_len` → [`TokenRejection::TooLarge`], before any decoding.
pub fn bearer_token(headers: &HeaderMap, max_len: usize) -> Result<BearerToken, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::MissingToken);
    };
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest("multiple Authorization headers"));
    }
    let value = value
        .to_str()
        .map_err(|_| AuthError::InvalidRequest("Authorization header is not visible ASCII"))?;
    let value = value.trim();
    let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::MissingToken);
    }
    let token = rest.trim();
    if token.is_empty() {
        return Err(AuthError::InvalidRequest("empty bearer token"));
    }
    // A well-formed token (every request's case) is scanned once; only a
    // token that fails the check is looked at again to say why.
    if is_b64token(token) {
        if token.len() > max_len {
            return Err(AuthError::InvalidToken(TokenRejection::TooLarge));
        }
        return Ok(BearerToken::new(token));
    }
    if token.contains(',') || token.contains([' ', '\t']) {
        return Err(AuthError::InvalidRequest(
            "more than one credential in Authorization",
        ));
    }
    if token.len() > max_len {
        return Err(AuthError::InvalidToken(TokenRejection::TooLarge));
    }
    Err(AuthError::InvalidRequest(
        "bearer token has characters RFC 6750 does not allow",
    ))
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let bytes = token.as_bytes();
    let body = bytes
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(0, |last| last + 1);
    body > 0 && bytes[..body].iter().all(|&b| B64TOKEN[usize::from(b)])
}

/// The `b64token` characters before the padding, as a lookup table: one load
/// per byte instead of a chain of comparisons (this runs on every request).
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] =
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for v in [
            "Bearer abc.def.ghi",
            "bearer abc.def.ghi",
            "BEARER  abc.def.ghi ",
        ] {
            assert_eq!(
                bearer_token(&headers(&[v]), 8192).unwrap().secret(),
                "abc.def.ghi"
            );
        }
    }

    #[test]
    fn missing_or_other_scheme_is_missing_token() {
        assert_eq!(
            bearer_token(&headers(&[]), 8192),
            Err(AuthError::MissingToken)
        );
        assert_eq!(
            bearer_token(&headers(&["Basic dXNlcjpwYXNz"]), 8192),
            Err(AuthError::MissingToken)
        );
    }

    #[test]
    fn malformed_headers_are_invalid_requests() {
        for v in [
            &["Bearer"][..],
            &["Bearer "],
            &["Bearer a, Bearer b"],
            &["Bearer a b"],
            &["Bearer a", "Bearer b"],
            &["Bearer a\"b"],
        ] {
            assert!(
                matches!(
                    bearer_token(&headers(v), 8192),
                    Err(AuthError::InvalidRequest(_))
                ),
                "{v:?}"
            );
        }
    }

    #[test]
    fn oversized_token_is_rejected_before_decoding() {
        let long = format!("Bearer {}", "a".repeat(8193));
        assert_eq!(
            bearer_token(&headers(&[&long]), 8192),
            Err(AuthError::InvalidToken(TokenRejection::TooLarge))
        );
    }
}
