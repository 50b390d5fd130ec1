//! The verifiers of one protected resource: JWT verifiers keyed by issuer,
//! plus at most one verifier for opaque (non-JWT) tokens.
//!
//! Routing reads the JWT payload's `iss` *before* verification, and only to
//! choose which verifier runs; the chosen verifier then checks signature,
//! issuer and every claim as if it were alone, so a forged `iss` can at most
//! select a verifier whose keys will refuse the token. With a single JWT
//! verifier no routing happens at all (every answer is exactly that
//! verifier's). With no JWT verifier at all (an opaque-only resource) every
//! token goes to the opaque-token verifier: an introspection endpoint
//! answers for JWT access tokens too.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::claims::AccessToken;
use crate::error::{AuthError, TokenRejection};
use crate::types::BearerToken;
use crate::verify::JwtVerifier;

/// Verifies tokens that are not JWTs (for example by RFC 7662
/// introspection). Implemented by the introspection verifier; implement it to
/// plug in another opaque-token check.
pub trait OpaqueTokenVerifier: Send + Sync + std::fmt::Debug + 'static {
    /// Verifies `token`, with the same contract as [`JwtVerifier::verify`]:
    /// `Err(AuthError::KeysUnavailable { .. })` (503) when the authority
    /// cannot be reached, never an accept.
    fn verify<'a>(
        &'a self,
        token: &'a BearerToken,
    ) -> BoxFuture<'a, Result<Arc<AccessToken>, AuthError>>;

    /// The longest token this verifier accepts; the `Authorization` header
    /// is refused unread beyond it (default 8 KiB).
    fn max_token_bytes(&self) -> usize {
        crate::verify::DEFAULT_MAX_TOKEN_BYTES
    }

    /// The issuer of the tokens it verifies, if known: a resource built with
    /// [`ProtectedResource::opaque_builder`](crate::ProtectedResource::opaque_builder)
    /// advertises it in `authorization_servers`.
    fn issuer(&self) -> Option<&str> {
        None
    }
}

#[derive(Debug, Clone)]
pub(crate) struct VerifierSet {
    jwt: Vec<JwtVerifier>,
    by_issuer: Arc<HashMap<String, usize>>,
    opaque: Option<Arc<dyn OpaqueTokenVerifier>>,
    max_token_bytes: usize,
}

impl VerifierSet {
    /// Refused when two verifiers accept the same issuer, or when there is
    /// no verifier at all.
    pub(crate) fn new(
        jwt: Vec<JwtVerifier>,
        opaque: Option<Arc<dyn OpaqueTokenVerifier>>,
    ) -> Result<Self, VerifierSetError> {
        if jwt.is_empty() && opaque.is_none() {
            return Err(VerifierSetError::Empty);
        }
        let mut by_issuer = HashMap::new();
        for (index, verifier) in jwt.iter().enumerate() {
            for issuer in verifier.issuers() {
                if by_issuer
                    .insert(issuer.clone(), index)
                    .is_some_and(|other| other != index)
                {
                    return Err(VerifierSetError::DuplicateIssuer(issuer.clone()));
                }
            }
        }
        // The header cap is the most generous verifier's; each verifier
        // still applies its own cap to the tokens it gets.
        let max_token_bytes = jwt
            .iter()
            .map(JwtVerifier::max_token_bytes)
            .chain(opaque.as_deref().map(OpaqueTokenVerifier::max_token_bytes))
            .max()
            .unwrap_or(crate::verify::DEFAULT_MAX_TOKEN_BYTES);
        Ok(Self {
            jwt,
            by_issuer: Arc::new(by_issuer),
            opaque,
            max_token_bytes,
        })
    }

    /// The first JWT verifier, if any (none in an opaque-only resource).
    pub(crate) fn primary(&self) -> Option<&JwtVerifier> {
        self.jwt.first()
    }

    pub(crate) fn opaque(&self) -> Option<&Arc<dyn OpaqueTokenVerifier>> {
        self.opaque.as_ref()
    }

    pub(crate) fn jwt(&self) -> &[JwtVerifier] {
        &self.jwt
    }

    pub(crate) fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }

    pub(crate) async fn verify(&self, token: &BearerToken) -> Result<Arc<AccessToken>, AuthError> {
        let raw = token.secret();
        if raw.len() > self.max_token_bytes {
            return Err(TokenRejection::TooLarge.into());
        }
        let Some(first) = self.jwt.first() else {
            // No JWT verifier: the opaque-token verifier answers for every
            // token. (`new` refuses a set with neither.)
            return match &self.opaque {
                Some(opaque) => opaque.verify(token).await,
                None => Err(TokenRejection::Malformed.into()),
            };
        };
        // One issuer and no opaque tokens (the usual setup): nothing to
        // choose, so the token is not decoded here — the verifier's cache
        // answers a repeated token without decoding it at all.
        if self.jwt.len() == 1 && self.opaque.is_none() {
            return first.verify(token).await;
        }
        let Some(payload) = jws_payload(raw) else {
            return match &self.opaque {
                Some(opaque) => opaque.verify(token).await,
                // Not a JWT and nothing for opaque tokens: the JWT verifier
                // gives its usual `malformed token` answer.
                None => first.verify(token).await,
            };
        };
        if self.jwt.len() == 1 {
            return first.verify(token).await;
        }
        let issuer = payload.get("iss").and_then(Value::as_str);
        match issuer.and_then(|iss| self.by_issuer.get(iss)) {
            Some(index) => self.jwt[*index].verify(token).await,
            None if issuer.is_none() => Err(TokenRejection::MissingClaim("iss").into()),
            None => Err(TokenRejection::WrongIssuer.into()),
        }
    }
}

/// Why a [`VerifierSet`] cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VerifierSetError {
    /// Two JWT verifiers accept this issuer.
    DuplicateIssuer(String),
    /// Neither a JWT nor an opaque-token verifier.
    Empty,
}

/// The unverified payload of a compact JWS (three segments, JSON header and
/// payload), or `None` when `raw` is not shaped like one.
fn jws_payload(raw: &str) -> Option<Map<String, Value>> {
    let mut parts = raw.split('.');
    let (Some(header), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let header = URL_SAFE_NO_PAD.decode(header).ok()?;
    serde_json::from_slice::<Map<String, Value>>(&header).ok()?;
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&payload).ok()
}

impl OpaqueTokenVerifier for crate::introspection::IntrospectionVerifier {
    fn verify<'a>(
        &'a self,
        token: &'a BearerToken,
    ) -> BoxFuture<'a, Result<Arc<AccessToken>, AuthError>> {
        Box::pin(crate::introspection::IntrospectionVerifier::verify(
            self, token,
        ))
    }

    fn max_token_bytes(&self) -> usize {
        crate::introspection::IntrospectionVerifier::max_token_bytes(self)
    }

    fn issuer(&self) -> Option<&str> {
        Some(crate::introspection::IntrospectionVerifier::issuer(self))
    }
}
