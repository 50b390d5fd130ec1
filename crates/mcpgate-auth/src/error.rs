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
    /// No signing keys could ever be fetched from the issuer: 503.
    #[error("signing keys unavailable")]
    KeysUnavailable {
        /// Suggested wait before a retry.
        retry_after: Duration,
    },
}

impl AuthError {
    /// The HTTP status this failure is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
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
            Self::KeysUnavailable { .. } => {
                Some("the authorization server's signing keys could not be fetched".to_owned())
            }
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
    /// `alg` not in the allow-list (only RS256 today).
    #[error("unsupported algorithm")]
    UnsupportedAlgorithm,
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
}
