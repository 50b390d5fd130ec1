//! `bearer_token`: the `Authorization` header → bearer token step.
//!
//! Input: each line is one `Authorization` header value (lines that are not
//! valid header values are dropped; no line, no header). A first line `#N`
//! (N a byte) sets the size cap to N instead of 8192.
//!
//! Asserts, from RFC 6750 §2.1 rather than from the implementation:
//! - a token is returned only for exactly one header of the form
//!   `OWS bearer 1*(SP / HTAB) b64token OWS` (scheme in any case), and it is
//!   that `b64token`, no longer than the cap;
//! - every header of that form is accepted (or `TooLarge` past the cap);
//! - `TooLarge` only for one Bearer credential longer than the cap;
//! - `MissingToken` only without a header or for another scheme;
//! - the accepted token round-trips through `Bearer <token>`.

#![no_main]

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use mcpgate_auth::{AuthError, TokenRejection, bearer_token};

fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// The scheme and the credentials of a well-formed `Bearer` header, if it is one.
fn well_formed(value: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(value).ok()?;
    let s = s.trim_matches([' ', '\t']);
    let scheme = s.get(..6)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let rest = &s[6..];
    let token = rest.trim_start_matches([' ', '\t']);
    (token.len() < rest.len() && is_b64token(token)).then_some(token)
}

fn scheme_is_bearer(value: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(value) else {
        return false;
    };
    let s = s.trim();
    let scheme = s.split([' ', '\t']).next().unwrap_or("");
    scheme.eq_ignore_ascii_case("bearer")
}

fuzz_target!(|data: &[u8]| {
    let mut lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    let mut max_len = 8192;
    if let Some(first) = lines.first()
        && first.len() == 2
        && first[0] == b'#'
    {
        max_len = usize::from(first[1]);
        lines.remove(0);
    }
    let values: Vec<HeaderValue> = lines
        .iter()
        .filter(|l| !l.is_empty())
        .filter_map(|l| HeaderValue::from_bytes(l).ok())
        .collect();
    let mut headers = HeaderMap::new();
    for v in &values {
        headers.append(AUTHORIZATION, v.clone());
    }

    let result = bearer_token(&headers, max_len);
    let expected = match values.as_slice() {
        [one] => well_formed(one.as_bytes()),
        _ => None,
    };
    match &result {
        Ok(token) => {
            let [one] = values.as_slice() else {
                panic!("accepted {} Authorization headers", values.len());
            };
            assert_eq!(
                expected,
                Some(token.secret()),
                "accepted {:?}, which is not `Bearer <b64token>`",
                one
            );
            assert!(
                token.secret().len() <= max_len,
                "accepted a token over the cap"
            );
            let again = HeaderValue::from_str(&format!("Bearer {}", token.secret()))
                .expect("a b64token is a valid header value");
            let mut h = HeaderMap::new();
            h.insert(AUTHORIZATION, again);
            assert_eq!(
                bearer_token(&h, max_len).as_ref(),
                Ok(token),
                "no round trip"
            );
        }
        Err(AuthError::InvalidToken(TokenRejection::TooLarge)) => {
            // The size is checked before the characters, so any one credential
            // over the cap (even one that is not a b64token) is TooLarge.
            let [one] = values.as_slice() else {
                panic!("TooLarge for {} headers", values.len());
            };
            assert!(
                scheme_is_bearer(one.as_bytes()),
                "TooLarge for another scheme"
            );
            let text = one
                .to_str()
                .expect("TooLarge for a header that is not ASCII")
                .trim();
            let credential = text[6..].trim();
            assert!(
                credential.len() > max_len,
                "TooLarge for a token within the cap"
            );
        }
        Err(AuthError::MissingToken) => {
            assert!(
                values.is_empty() || (values.len() == 1 && !scheme_is_bearer(values[0].as_bytes())),
                "MissingToken although a Bearer header was sent: {values:?}"
            );
        }
        Err(AuthError::InvalidRequest(_)) => {
            if let Some(token) = expected {
                panic!("refused well-formed `Bearer {token}` ({result:?})");
            }
        }
        Err(other) => panic!("unexpected rejection {other:?}"),
    }
    if let Some(token) = expected
        && token.len() <= max_len
    {
        assert!(
            result.is_ok(),
            "refused well-formed `Bearer {token}`: {result:?}"
        );
    }
    if let Err(e) = &result {
        let status = e.status().as_u16();
        assert!(status == 400 || status == 401, "status {status} for {e:?}");
    }
});
