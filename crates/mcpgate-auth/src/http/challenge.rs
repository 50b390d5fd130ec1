//! Turns an [`AuthError`] into the HTTP answer RFC 6750 and RFC 9728 describe:
//! a `WWW-Authenticate: Bearer …` challenge that points at the protected
//! resource metadata, plus a small JSON body.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};

use crate::error::AuthError;
use crate::types::{McpUrl, ScopeSet};

/// What every challenge from this server has in common.
#[derive(Debug)]
pub(crate) struct ChallengeParams {
    /// The RFC 9728 metadata URL sent as `resource_metadata`.
    pub(crate) resource_metadata: String,
    /// The server-wide required scopes, sent as `scope` in 401 challenges.
    pub(crate) required_scopes: ScopeSet,
}

/// An [`AuthError`] together with what is needed to answer it.
pub(crate) struct Rejection {
    pub(crate) error: AuthError,
    pub(crate) params: Arc<ChallengeParams>,
}

/// RFC 9110 quoted-string: escape `\` and `"`, and drop control characters so
/// a header value can never be broken by a description or a configured scope.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() || !c.is_ascii() => out.push('?'),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Rejection {
    /// The `WWW-Authenticate` value for this rejection.
    pub(crate) fn www_authenticate(&self) -> String {
        let mut parts: Vec<String> = Vec::with_capacity(4);
        if let Some(code) = self.error.error_code() {
            parts.push(format!("error={}", quote(code)));
        }
        if let Some(description) = self.error.description() {
            parts.push(format!("error_description={}", quote(&description)));
        }
        let scope = match &self.error {
            AuthError::InsufficientScope { required } => Some(required),
            // No scope would help: a hint would only start a futile step-up.
            AuthError::AccessDenied { .. } => None,
            _ if !self.params.required_scopes.is_empty() => Some(&self.params.required_scopes),
            _ => None,
        };
        if let Some(scope) = scope {
            parts.push(format!("scope={}", quote(&scope.to_space_separated())));
        }
        parts.push(format!(
            "resource_metadata={}",
            quote(&self.params.resource_metadata)
        ));
        format!("Bearer {}", parts.join(", "))
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let status = self.error.status();
        let challenge = self.www_authenticate();
        let mut response = match self.error.error_code() {
            // RFC 6750 §3.1: a request without credentials gets no error and no body.
            None => status.into_response(),
            Some(code) => {
                let body = serde_json::json!({
                    "error": code,
                    "error_description": self.error.description(),
                });
                (status, axum::Json(body)).into_response()
            }
        };
        let headers = response.headers_mut();
        if !matches!(self.error, AuthError::KeysUnavailable { .. })
            && let Ok(value) = HeaderValue::from_str(&challenge)
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let AuthError::KeysUnavailable { retry_after } = &self.error {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.as_secs().max(1)),
            );
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The HTTP answer to an authorization failure found after the guard let
/// the request in (a policy's [`Decision`](crate::policy::Decision) turned
/// into an [`AuthError`]), for the protected resource at `resource`: the
/// status, a `WWW-Authenticate` challenge pointing at its RFC 9728 metadata,
/// and the JSON error body, exactly as the guard answers its own refusals.
///
/// For [`AuthError::InsufficientScope`] the `scope` is the error's own set
/// (held plus required); for [`AuthError::AccessDenied`] there is none.
pub fn challenge_response(error: AuthError, resource: &McpUrl) -> Response {
    Rejection {
        error,
        params: Arc::new(ChallengeParams {
            resource_metadata: resource.protected_resource_metadata_url(),
            required_scopes: ScopeSet::new(),
        }),
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TokenRejection;

    fn params(scopes: &[&str]) -> Arc<ChallengeParams> {
        Arc::new(ChallengeParams {
            resource_metadata: "http://h/.well-known/oauth-protected-resource/mcp".into(),
            required_scopes: ScopeSet::parse(scopes.iter().copied()).unwrap(),
        })
    }

    #[test]
    fn missing_token_challenge_has_no_error() {
        let r = Rejection {
            error: AuthError::MissingToken,
            params: params(&["read"]),
        };
        assert_eq!(
            r.www_authenticate(),
            r#"Bearer scope="read", resource_metadata="http://h/.well-known/oauth-protected-resource/mcp""#
        );
        let r = Rejection {
            error: AuthError::MissingToken,
            params: params(&[]),
        };
        assert_eq!(
            r.www_authenticate(),
            r#"Bearer resource_metadata="http://h/.well-known/oauth-protected-resource/mcp""#
        );
    }

    proptest::proptest! {
        /// Whatever goes in (a description, a configured scope, a URL), the
        /// result is one RFC 9110 quoted-string that is a valid header value
        /// and unescapes to the input, with control and non-ASCII characters
        /// replaced by `?`.
        #[test]
        fn quoting_always_yields_one_valid_quoted_string(value in proptest::prelude::any::<String>()) {
            let quoted = quote(&value);
            proptest::prop_assert!(HeaderValue::from_str(&quoted).is_ok(), "{:?}", quoted);
            let inner = quoted
                .strip_prefix('"')
                .and_then(|q| q.strip_suffix('"'))
                .expect("enclosed in quotes");
            let mut unescaped = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => unescaped.push(chars.next().expect("an escape escapes something")),
                    '"' => proptest::prop_assert!(false, "unescaped quote in {:?}", quoted),
                    c => unescaped.push(c),
                }
            }
            let expected: String = value
                .chars()
                .map(|c| if c.is_control() || !c.is_ascii() { '?' } else { c })
                .collect();
            proptest::prop_assert_eq!(unescaped, expected);
        }
    }

    #[test]
    fn step_up_keeps_held_scopes_and_denial_has_no_scope() {
        let held = ScopeSet::parse(["mcp:tools", "todo:read"]).unwrap();
        let needed = ScopeSet::parse(["todo:write", "todo:read"]).unwrap();
        let r = Rejection {
            error: AuthError::insufficient_scope(&held, &needed),
            params: params(&["mcp:tools"]),
        };
        assert_eq!(
            r.www_authenticate(),
            r#"Bearer error="insufficient_scope", error_description="this resource requires scope: mcp:tools todo:read todo:write", scope="mcp:tools todo:read todo:write", resource_metadata="http://h/.well-known/oauth-protected-resource/mcp""#
        );
        let r = Rejection {
            error: AuthError::AccessDenied {
                reason: "no".into(),
            },
            params: params(&["mcp:tools"]),
        };
        assert_eq!(
            r.www_authenticate(),
            r#"Bearer error="access_denied", error_description="no", resource_metadata="http://h/.well-known/oauth-protected-resource/mcp""#
        );
        assert_eq!(r.error.status(), http::StatusCode::FORBIDDEN);
    }

    #[test]
    fn values_are_quoted_and_escaped() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("x\r\ny"), r#""x??y""#);
        let r = Rejection {
            error: AuthError::InvalidToken(TokenRejection::Expired),
            params: params(&[]),
        };
        assert!(
            r.www_authenticate()
                .starts_with(r#"Bearer error="invalid_token", error_description="token expired""#)
        );
    }
}
