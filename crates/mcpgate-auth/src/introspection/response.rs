//! What an RFC 7662 introspection answer means for the request in hand.
//!
//! Two kinds of failure are kept apart on purpose:
//! - the answer is not an introspection response at all (not JSON, not an
//!   object, `active` missing or not a boolean): the authorization server is
//!   misbehaving, which says nothing about the token, so the request gets a
//!   503-class answer and is retried later — never an accept;
//! - the answer is well-formed and says no (`active: false`, or an `active:
//!   true` answer whose `exp`, `nbf`, `iss`, `aud` or `token_type` rule the
//!   token out here): a 401 `invalid_token` with the specific reason.

use serde_json::{Map, Value};

use crate::claims::AccessToken;
use crate::error::TokenRejection;

/// `token_type` values accepted when the answer carries one: RFC 7662 uses
/// the RFC 6749 §7.1 names (`Bearer`), and some servers echo the hint's
/// vocabulary (`access_token`). A refresh token or a DPoP-bound token is not a
/// bearer access token and is refused.
const ACCEPTED_TOKEN_TYPES: [&str; 2] = ["bearer", "access_token"];

/// What an answer is checked against.
pub(super) struct Expectations<'a> {
    /// The authorization server's issuer identifier: an `iss` in the answer
    /// must equal it, and it stands in for an absent one.
    pub(super) issuer: &'a str,
    /// An `aud` in the answer must contain at least one of these.
    pub(super) audiences: &'a [String],
    /// Whether an answer without `aud` is refused.
    pub(super) require_audience: bool,
    /// Clock skew tolerated for `exp`, `nbf` and `iat`, in seconds.
    pub(super) leeway_secs: u64,
    /// Members the granted scopes are read from (RFC 7662 uses `scope`).
    pub(super) scope_claims: &'a [String],
    /// The name [`AccessToken::provider`] reports.
    pub(super) provider: &'a str,
}

/// Why an answer did not produce a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The answer is not an introspection response (503-class).
    NotAnAnswer(&'static str),
    /// The answer refuses the token (401).
    Refused(TokenRejection),
}

impl From<TokenRejection> for Verdict {
    fn from(why: TokenRejection) -> Self {
        Self::Refused(why)
    }
}

/// Reads an introspection response and, if it vouches for the token, the
/// verified caller.
///
/// Members the answer leaves out (all but `active` are optional in RFC 7662)
/// are filled in before the [`AccessToken`] is built, and the filled-in values
/// are what [`AccessToken::claims`] shows: `iss` becomes the configured
/// issuer, `sub` the `client_id` (a machine-to-machine token names no user),
/// `aud` an empty list (only when audiences are not required). `exp` is not
/// filled in: without it nothing bounds how long the answer may be trusted or
/// cached, so it is required, as on the JWT path.
pub(super) fn read(
    body: &[u8],
    expect: &Expectations<'_>,
    now: u64,
) -> Result<AccessToken, Verdict> {
    let Ok(Value::Object(mut claims)) = serde_json::from_slice::<Value>(body) else {
        return Err(Verdict::NotAnAnswer("not a JSON object"));
    };
    match claims.get("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return Err(TokenRejection::Inactive.into()),
        Some(_) => return Err(Verdict::NotAnAnswer("`active` is not a boolean")),
        None => return Err(Verdict::NotAnAnswer("no `active` member")),
    }
    check_token_type(&claims)?;
    check_times(&claims, expect.leeway_secs, now)?;
    check_issuer(&mut claims, expect.issuer)?;
    check_audience(&mut claims, expect)?;
    fill_subject(&mut claims)?;
    AccessToken::from_verified_claims_with(claims, expect.scope_claims, expect.provider)
        .ok_or(Verdict::Refused(TokenRejection::Malformed))
}

fn check_token_type(claims: &Map<String, Value>) -> Result<(), TokenRejection> {
    match claims.get("token_type") {
        None => Ok(()),
        Some(Value::String(t))
            if ACCEPTED_TOKEN_TYPES
                .iter()
                .any(|a| t.eq_ignore_ascii_case(a)) =>
        {
            Ok(())
        }
        Some(_) => Err(TokenRejection::UnexpectedType),
    }
}

/// `exp` is required and must not have passed even though the server said
/// `active` (a server with a lagging clock or a stale replica must not extend
/// a token's life); `nbf` and `iat` must not be in the future.
fn check_times(claims: &Map<String, Value>, leeway: u64, now: u64) -> Result<(), TokenRejection> {
    let time = |name: &'static str| match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or(TokenRejection::InvalidClaim(name)),
    };
    let exp = time("exp")?.ok_or(TokenRejection::MissingClaim("exp"))?;
    if exp.saturating_add(leeway) < now {
        return Err(TokenRejection::Expired);
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(TokenRejection::NotYetValid);
    }
    if time("iat")?.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(TokenRejection::IssuedInFuture);
    }
    Ok(())
}

fn check_issuer(claims: &mut Map<String, Value>, issuer: &str) -> Result<(), TokenRejection> {
    match claims.get("iss") {
        None => {
            claims.insert("iss".into(), issuer.into());
            Ok(())
        }
        Some(Value::String(iss)) if iss == issuer => Ok(()),
        Some(Value::String(_)) => Err(TokenRejection::WrongIssuer),
        Some(_) => Err(TokenRejection::InvalidClaim("iss")),
    }
}

fn check_audience(
    claims: &mut Map<String, Value>,
    expect: &Expectations<'_>,
) -> Result<(), TokenRejection> {
    let listed = |aud: &str| expect.audiences.iter().any(|a| a == aud);
    let ok = match claims.get("aud") {
        None if expect.require_audience => return Err(TokenRejection::MissingClaim("aud")),
        None => {
            claims.insert("aud".into(), Value::Array(Vec::new()));
            return Ok(());
        }
        Some(Value::String(aud)) => listed(aud),
        Some(Value::Array(items)) => {
            if !items.iter().all(Value::is_string) {
                return Err(TokenRejection::InvalidClaim("aud"));
            }
            items.iter().filter_map(Value::as_str).any(listed)
        }
        Some(_) => return Err(TokenRejection::InvalidClaim("aud")),
    };
    if ok {
        Ok(())
    } else {
        Err(TokenRejection::WrongAudience)
    }
}

fn fill_subject(claims: &mut Map<String, Value>) -> Result<(), TokenRejection> {
    match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() => Ok(()),
        Some(_) => Err(TokenRejection::InvalidClaim("sub")),
        None => match claims.get("client_id") {
            Some(Value::String(id)) if !id.is_empty() => {
                let id = id.clone();
                claims.insert("sub".into(), id.into());
                Ok(())
            }
            _ => Err(TokenRejection::MissingClaim("sub")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_000_000;

    fn expect(require_audience: bool) -> Expectations<'static> {
        static AUD: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        static SCOPES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        Expectations {
            issuer: "https://as.example",
            audiences: AUD.get_or_init(|| vec!["https://mcp.example/mcp".to_owned()]),
            require_audience,
            leeway_secs: 60,
            scope_claims: SCOPES.get_or_init(|| vec!["scope".to_owned()]),
            provider: "introspection",
        }
    }

    fn answer(extra: Value) -> Result<AccessToken, Verdict> {
        let mut body = json!({"active": true, "sub": "usr_1", "exp": NOW + 600});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        read(body.to_string().as_bytes(), &expect(false), NOW)
    }

    fn refused(why: TokenRejection) -> Result<AccessToken, Verdict> {
        Err(Verdict::Refused(why))
    }

    #[test]
    fn a_minimal_active_answer_gets_the_configured_issuer() {
        let t = answer(json!({"scope": "a b"})).unwrap();
        assert_eq!(t.issuer(), "https://as.example");
        assert_eq!(t.subject(), "usr_1");
        assert_eq!(t.scopes().to_space_separated(), "a b");
        assert!(t.audiences().is_empty());
        assert_eq!(t.provider(), "introspection");
    }

    #[test]
    fn malformed_answers_are_not_answers() {
        for body in [
            &b"nope"[..],
            b"[]",
            b"{}",
            br#"{"active":"true"}"#,
            br#"{"active":1}"#,
        ] {
            assert!(
                matches!(
                    read(body, &expect(false), NOW),
                    Err(Verdict::NotAnAnswer(_))
                ),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn each_rule_has_its_own_rejection() {
        assert_eq!(
            read(br#"{"active":false}"#, &expect(false), NOW),
            refused(TokenRejection::Inactive)
        );
        assert_eq!(
            answer(json!({"exp": NOW - 61})),
            refused(TokenRejection::Expired)
        );
        assert!(answer(json!({"exp": NOW - 59})).is_ok(), "within leeway");
        assert_eq!(
            answer(json!({"exp": "soon"})),
            refused(TokenRejection::InvalidClaim("exp"))
        );
        assert_eq!(
            answer(json!({"nbf": NOW + 61})),
            refused(TokenRejection::NotYetValid)
        );
        assert_eq!(
            answer(json!({"iat": NOW + 61})),
            refused(TokenRejection::IssuedInFuture)
        );
        assert_eq!(
            answer(json!({"iss": "https://other"})),
            refused(TokenRejection::WrongIssuer)
        );
        assert_eq!(
            answer(json!({"aud": "x"})),
            refused(TokenRejection::WrongAudience)
        );
        assert_eq!(
            answer(json!({"aud": ["x", 1]})),
            refused(TokenRejection::InvalidClaim("aud"))
        );
        assert!(answer(json!({"aud": ["x", "https://mcp.example/mcp"]})).is_ok());
        assert_eq!(
            answer(json!({"token_type": "refresh_token"})),
            refused(TokenRejection::UnexpectedType)
        );
        assert!(answer(json!({"token_type": "Bearer"})).is_ok());
        assert_eq!(
            answer(json!({"sub": ""})),
            refused(TokenRejection::InvalidClaim("sub"))
        );
    }

    #[test]
    fn exp_is_required() {
        let body = json!({"active": true, "sub": "usr_1"}).to_string();
        assert_eq!(
            read(body.as_bytes(), &expect(false), NOW),
            refused(TokenRejection::MissingClaim("exp"))
        );
    }

    #[test]
    fn a_required_audience_must_be_present() {
        let body = json!({"active": true, "sub": "u", "exp": NOW + 1}).to_string();
        assert_eq!(
            read(body.as_bytes(), &expect(true), NOW),
            refused(TokenRejection::MissingClaim("aud"))
        );
    }

    #[test]
    fn a_machine_token_is_its_client() {
        let body = json!({"active": true, "client_id": "m2m_1", "exp": NOW + 1}).to_string();
        let t = read(body.as_bytes(), &expect(false), NOW).unwrap();
        assert_eq!(t.subject(), "m2m_1");
        assert_eq!(t.client_id(), Some("m2m_1"));
        let body = json!({"active": true, "exp": NOW + 1}).to_string();
        assert_eq!(
            read(body.as_bytes(), &expect(false), NOW),
            refused(TokenRejection::MissingClaim("sub"))
        );
    }
}
