//! `JwtVerifier::verify`: the JWT structure, header allow-lists, signature and
//! claim checks, with keys from a static JWKS (no network).
//!
//! Input: the first byte picks what is verified, the rest is its material.
//! - `r` + token: the bytes as the token (lossy UTF-8);
//! - `a` + header `\n` claims: signed by the published key over exactly these bytes;
//! - `b` + header `\n` claims: the same, signed by a key nobody published;
//! - `c` + claims: signed by the published key under `{alg: RS256, typ: JWT, kid}`.
//!
//! Claims that are a JSON object have `exp`, `nbf` and `iat` given as integers
//! in ±10⁹ taken as seconds from now (so seeds never go stale), and are then
//! re-serialised; claims starting with `!` are signed verbatim (after the `!`).
//!
//! Asserts: nothing panics; an accepted token meets every rule on its own
//! terms (signed by the published key, allowed header, issuer, audience,
//! subject, lifetime: `fuzz/src/lib.rs`, `assert_acceptable`); a second
//! verification (the verified-token cache) gives the same answer.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpgate_auth::{AuthError, BearerToken, TokenRejection};
use mcpgate_fuzz::{Signer, assert_acceptable, now, runtime, sign_raw, split_line, verifier};
use serde_json::Value;

const RELATIVE_SPAN: i64 = 1_000_000_000;

fn claims_bytes(raw: &[u8], now: u64) -> Vec<u8> {
    if let Some(verbatim) = raw.strip_prefix(b"!") {
        return verbatim.to_vec();
    }
    let Ok(Value::Object(mut claims)) = serde_json::from_slice::<Value>(raw) else {
        return raw.to_vec();
    };
    for name in ["exp", "nbf", "iat"] {
        if let Some(offset) = claims.get(name).and_then(Value::as_i64)
            && (-RELATIVE_SPAN..=RELATIVE_SPAN).contains(&offset)
        {
            let at = now.saturating_add_signed(offset);
            claims.insert(name.to_owned(), at.into());
        }
    }
    serde_json::to_vec(&claims).expect("a JSON object serialises")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let started = now();
    let token = match mode {
        b'a' | b'b' => {
            let (header, claims) = split_line(rest);
            let signer = if mode == b'a' {
                Signer::Published
            } else {
                Signer::Unpublished
            };
            sign_raw(signer, header, &claims_bytes(claims, started))
        }
        b'c' => sign_raw(
            Signer::Published,
            br#"{"alg":"RS256","typ":"JWT","kid":"snk_fuzz_a"}"#,
            &claims_bytes(rest, started),
        ),
        _ => String::from_utf8_lossy(rest).into_owned(),
    };
    let token = BearerToken::new(token);
    let verifier = verifier();
    let first = runtime().block_on(verifier.verify(&token));
    let finished = now();
    match &first {
        Ok(access) => {
            assert_acceptable(token.secret(), access, started, finished);
            // Served from the verified-token cache now; `exp` is re-checked, so
            // only a token at the very edge of its lifetime may change its answer.
            let again = runtime().block_on(verifier.verify(&token));
            match again {
                Ok(second) => assert_eq!(&second, access, "the cache changed the caller"),
                Err(AuthError::InvalidToken(TokenRejection::Expired)) => {}
                Err(e) => panic!("accepted once, then refused with {e:?}"),
            }
        }
        Err(error) => {
            match error {
                AuthError::InvalidToken(_) => {}
                other => panic!("a static key set answered {other:?}"),
            }
            let again = runtime().block_on(verifier.verify(&token));
            if let Ok(access) = again {
                // Only time can turn a refusal into an acceptance (nbf or iat
                // reached in between); the token must still be acceptable.
                assert!(
                    matches!(
                        error,
                        AuthError::InvalidToken(
                            TokenRejection::NotYetValid | TokenRejection::IssuedInFuture
                        )
                    ),
                    "refused with {error:?}, then accepted"
                );
                assert_acceptable(token.secret(), &access, started, now());
            }
        }
    }
});
