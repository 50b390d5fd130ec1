//! Why a request was not authenticated, one variant per distinct answer.
//!
//! Each failure knows its HTTP status and RFC 6750 error code; `challenge.rs`
//! turns it into a response with the right `WWW-Authenticate` header.

use std::time::Duration;

use http::StatusCode;

use crate::types::ScopeSet;

/// An authentication or authorisation failure for one request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header: 401 with a bare challenge (RFC 6750 §3.1).
    #[error("no bearer token")]
    MissingToken,
    /// A malformed `Authorization` header: 400 `invalid_request`.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// The token was rejected: 401 `invalid_token`.
    #[error("invalid token: {0}")]
    InvalidToken(#[from] TokenRejection),
    /// A valid token without every required scope: 403 `insufficient_scope`.
    #[error("insufficient scope: {required} required")]
    InsufficientScope {
        /// The scopes a token needs (the granted ones plus the missing ones).
        required: ScopeSet,
    },
    /// A valid token that a policy refuses for a reason no scope can fix
    /// (a claim condition, a predicate, deny by default): 403 with
    /// `error="access_denied"` and no `scope`, so a client does not start a
    /// step-up that cannot succeed. (RFC 6750 has no code for this;
    /// `insufficient_scope` would make clients re-authorize in a loop.)
    #[error("access denied: {reason}")]
    AccessDenied {
        /// Why, for the `error_description` and logs; names no token contents.
        reason: String,
    },
    /// The token could not be checked because the authorization server could
    /// not be consulted: its signing keys were never fetched, its metadata
    /// (issuer discovery) could not be read, or its introspection endpoint
    /// failed. 503 with `Retry-After`: the token may be good, so the client
    /// must not discard it. (The name predates introspection; it covers
    /// every authority outage.)
    #[error("authorization server unavailable")]
    KeysUnavailable {
        /// Suggested wait before a retry.
        retry_after: Duration,
    },
}

impl AuthError {
    /// A step-up answer for a token holding `held` that needs `needed`: the
    /// `scope` asked for is `held` followed by what `needed` adds, so a
    /// client re-authorizing with it keeps the permissions it has.
    pub fn insufficient_scope(held: &ScopeSet, needed: &ScopeSet) -> Self {
        let mut required = held.clone();
        required.extend(needed);
        Self::InsufficientScope { required }
    }

    /// The HTTP status this failure is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. } | Self::AccessDenied { .. } => StatusCode::FORBIDDEN,
            Self::KeysUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 `error` code, if the answer carries one.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken => None,
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope { .. } => Some("insufficient_scope"),
            Self::AccessDenied { .. } => Some("access_denied"),
            Self::KeysUnavailable { .. } => Some("temporarily_unavailable"),
        }
    }

    /// The short human-readable `error_description`, if any.
    pub fn description(&self) -> Option<String> {
        match self {
            Self::MissingToken => None,
            Self::InvalidRequest(why) => Some((*why).to_owned()),
            Self::InvalidToken(why) => Some(why.to_string()),
            Self::InsufficientScope { required } => {
                Some(format!("this resource requires scope: {required}"))
            }
            Self::AccessDenied { reason } => Some(reason.clone()),
            Self::KeysUnavailable { .. } => Some(
                "the authorization server could not be reached to check the token; retry later"
                    .to_owned(),
            ),
        }
    }
}

/// Why a bearer token was rejected. The `Display` text is the `error_description`
/// sent to the client: short, specific, and free of token contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRejection {
    /// Longer than the configured cap (8 KiB by default).
    #[error("token too large")]
    TooLarge,
    /// Not a compact JWS with three base64url parts and JSON header and claims.
    #[error("malformed token")]
    Malformed,
    /// `alg` not in the verifier's allow-list (`none` and `HS*` never are).
    #[error("unsupported algorithm")]
    UnsupportedAlgorithm,
    /// `alg` is allowed, but the key with this `kid` was not made for it
    /// (another key type or curve, or a different declared `alg`).
    #[error("algorithm does not match the signing key")]
    AlgorithmKeyMismatch,
    /// The header has no `kid`.
    #[error("token header has no kid")]
    MissingKeyId,
    /// The header carries a parameter this server refuses (`crit`, `jku`, `jwk`, `x5u`, `x5c`).
    #[error("token header parameter `{0}` not allowed")]
    ForbiddenHeader(&'static str),
    /// `typ` is present and not `JWT`, `at+jwt` or `application/at+jwt`.
    #[error("unexpected token type")]
    UnexpectedType,
    /// No published key has the token's `kid`, even after a refresh.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("invalid signature")]
    BadSignature,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is in the future.
    #[error("token issued in the future")]
    IssuedInFuture,
    /// A required claim is absent.
    #[error("token lacks the `{0}` claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong type (for example a string `exp`).
    #[error("token claim `{0}` is invalid")]
    InvalidClaim(&'static str),
    /// `iss` is not this server's issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` does not name this server.
    #[error("wrong audience")]
    WrongAudience,
    /// A claim the configuration requires is absent.
    #[error("token lacks a required claim")]
    MissingConfiguredClaim(String),
    /// `azp` is absent or not an authorized party.
    #[error("token issued to an unauthorized party")]
    UnauthorizedParty,
    /// The token was refused by the introspection endpoint or is inactive.
    #[error("token is not active")]
    Inactive,
}
