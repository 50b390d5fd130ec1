//! Bearer-token validation: compact JWS, an allow-list of asymmetric
//! algorithms (RSA PKCS#1 and PSS, ECDSA P-256/P-384, Ed25519), keys from the
//! issuer's JWKS.
//!
//! The order of checks is deliberate: cheap structural checks and header
//! allow-lists run before any key lookup (so junk never triggers a JWKS
//! fetch), the signature runs before any claim is trusted, and every failure
//! maps to one specific [`TokenRejection`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use crate::claims::AccessToken;
use crate::error::{AuthError, TokenRejection};
use crate::jwks::{JwksCache, KeyLookupError};
use crate::token_cache::VerifiedTokens;
use crate::types::BearerToken;

/// Signature algorithms a verifier may accept. Only asymmetric ones exist
/// here: `none` and the HMAC family (`HS*`) cannot be named, so no setting can
/// turn a public key into a shared secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, what Scalekit signs with.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// EdDSA on Ed25519.
    EdDsa,
}

/// A name that is not one of the supported algorithms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported algorithm `{0}`; expected one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
)]
pub struct UnknownAlgorithm(pub String);

impl SigningAlgorithm {
    /// Every supported algorithm.
    pub const ALL: [Self; 9] = [
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Es256,
        Self::Es384,
        Self::EdDsa,
    ];

    /// The JOSE name (`RS256`, `EdDSA`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::EdDsa => "EdDSA",
        }
    }

    pub(crate) fn from_header(alg: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == alg)
    }

    fn to_jsonwebtoken(self) -> Algorithm {
        match self {
            Self::Rs256 => Algorithm::RS256,
            Self::Rs384 => Algorithm::RS384,
            Self::Rs512 => Algorithm::RS512,
            Self::Ps256 => Algorithm::PS256,
            Self::Ps384 => Algorithm::PS384,
            Self::Ps512 => Algorithm::PS512,
            Self::Es256 => Algorithm::ES256,
            Self::Es384 => Algorithm::ES384,
            Self::EdDsa => Algorithm::EdDSA,
        }
    }
}

impl std::fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SigningAlgorithm {
    type Err = UnknownAlgorithm;

    /// The exact JOSE name (`alg` values are case-sensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_header(s.trim()).ok_or_else(|| UnknownAlgorithm(s.to_owned()))
    }
}

impl<'de> serde::Deserialize<'de> for SigningAlgorithm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for SigningAlgorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Header parameters that would let a token choose its own key or demand
/// extensions we do not implement; any of them rejects the token.
const FORBIDDEN_HEADER_PARAMS: [&str; 5] = ["crit", "jku", "jwk", "x5u", "x5c"];

/// `typ` values accepted: Scalekit sends `JWT`; RFC 9068 access tokens use `at+jwt`.
const ACCEPTED_TYPES: [&str; 3] = ["jwt", "at+jwt", "application/at+jwt"];

/// Everything a [`JwtVerifier`] checks a token against. Start from
/// [`VerifierSettings::new`], then change the fields you need.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifierSettings {
    /// Accepted `iss` values (exact string match). Must not be empty.
    pub issuers: Vec<String>,
    /// `(alias, canonical)` pairs: issuers that are one authorization server
    /// under two names (Scalekit's `{env}` and `{env}/resources/{res}`). A
    /// token from `alias` gets `canonical` as its
    /// [`issuer_id`](crate::AccessToken::issuer_id), so a session survives a
    /// refreshed token in the other form. Issuers not listed are their own identity.
    pub issuer_aliases: Vec<(String, String)>,
    /// Accepted audiences; the token's `aud` must contain at least one. Must not be empty.
    pub audiences: Vec<String>,
    /// Accepted algorithms.
    pub algorithms: Vec<SigningAlgorithm>,
    /// Clock skew tolerated for `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// Tokens longer than this are rejected before decoding.
    pub max_token_bytes: usize,
    /// How many verified tokens to remember (0 turns the cache off). Repeats of an
    /// identical token then skip the signature check; `exp` and the key's
    /// presence in the JWKS are still checked on every request.
    pub verified_token_cache: usize,
    /// Where granted scopes are read from (default `scope`, `scopes`, `scp`):
    /// a top-level claim name, or an RFC 6901 JSON pointer starting with `/`
    /// for nested claims (Keycloak's `/realm_access/roles`). Each may hold a
    /// space-separated string or a list; the union is taken.
    pub scope_claims: Vec<String>,
    /// Claims that must be present (any non-null value), beyond `iss`, `sub`,
    /// `aud` and `exp`, which always are.
    pub required_claims: Vec<String>,
    /// When non-empty, the token's `azp` (authorized party) must be one of
    /// these (OpenID Connect Core §2; Keycloak puts the client id there).
    pub authorized_parties: Vec<String>,
    /// The name reported by [`AccessToken::provider`] (e.g. `scalekit`,
    /// `auth0`), so tools can tell callers of several providers apart.
    pub provider: String,
}

/// The scope claims read when none are configured.
pub const DEFAULT_SCOPE_CLAIMS: [&str; 3] = ["scope", "scopes", "scp"];

/// Default number of verified tokens remembered.
pub const DEFAULT_VERIFIED_TOKEN_CACHE: usize = 10_000;

/// Default clock-skew leeway for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// Default cap on the size of a bearer token.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

impl VerifierSettings {
    /// Settings for these issuers, audiences and algorithms, with the default
    /// leeway (60 s), token size cap (8 KiB) and verified-token cache (10,000).
    pub fn new<I, A, G>(issuers: I, audiences: A, algorithms: G) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
        A: IntoIterator,
        A::Item: Into<String>,
        G: IntoIterator<Item = SigningAlgorithm>,
    {
        Self {
            issuers: issuers.into_iter().map(Into::into).collect(),
            issuer_aliases: Vec::new(),
            audiences: audiences.into_iter().map(Into::into).collect(),
            algorithms: algorithms.into_iter().collect(),
            leeway: DEFAULT_LEEWAY,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            verified_token_cache: DEFAULT_VERIFIED_TOKEN_CACHE,
            scope_claims: DEFAULT_SCOPE_CLAIMS.map(str::to_owned).to_vec(),
            required_claims: Vec::new(),
            authorized_parties: Vec::new(),
            provider: "jwt".to_owned(),
        }
    }

    /// Declares `alias` another name of the issuer `canonical` (see
    /// [`issuer_aliases`](Self::issuer_aliases)). Both must also be in `issuers`
    /// to be accepted.
    #[must_use]
    pub fn issuer_alias(mut self, alias: impl Into<String>, canonical: impl Into<String>) -> Self {
        self.issuer_aliases.push((alias.into(), canonical.into()));
        self
    }
}

/// Why [`JwtVerifier::new`] refused its settings: each would switch a check off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidSettings {
    /// No non-empty issuer.
    #[error("at least one issuer is required")]
    NoIssuer,
    /// No non-empty audience.
    #[error("at least one audience is required")]
    NoAudience,
    /// No algorithm.
    #[error("at least one algorithm is required")]
    NoAlgorithm,
    /// No scope claim name, or an empty one.
    #[error("scope claim names must be non-empty")]
    EmptyScopeClaim,
}

/// Validates bearer tokens against one issuer's JWKS.
#[derive(Clone)]
pub struct JwtVerifier {
    keys: JwksCache,
    verified: Arc<VerifiedTokens>,
    /// One validation per allowed algorithm: jsonwebtoken refuses a
    /// `Validation` whose algorithms span key families, and one algorithm per
    /// check also pins the header's `alg` to exactly the one checked.
    validations: Arc<Vec<(SigningAlgorithm, Validation)>>,
    algorithms: Vec<SigningAlgorithm>,
    leeway_secs: u64,
    max_token_bytes: usize,
    /// `iss` → canonical issuer identity, for aliases only.
    issuer_ids: Arc<HashMap<String, String>>,
    issuers: Arc<Vec<String>>,
    claims: Arc<ClaimRules>,
}

/// What is read from or required of the claims after the signature.
#[derive(Debug)]
struct ClaimRules {
    scope_claims: Vec<String>,
    required_claims: Vec<String>,
    authorized_parties: Vec<String>,
    provider: String,
}

impl JwtVerifier {
    /// Builds a verifier. Issuers and audiences must be non-empty: an empty list
    /// would silently switch a check off, so it is refused.
    pub fn new(keys: JwksCache, settings: VerifierSettings) -> Result<Self, InvalidSettings> {
        if settings.issuers.iter().all(|i| i.is_empty()) {
            return Err(InvalidSettings::NoIssuer);
        }
        if settings.audiences.iter().all(|a| a.is_empty()) {
            return Err(InvalidSettings::NoAudience);
        }
        if settings.algorithms.is_empty() {
            return Err(InvalidSettings::NoAlgorithm);
        }
        if settings
            .scope_claims
            .iter()
            .any(|c| c.is_empty() || c == "/")
        {
            return Err(InvalidSettings::EmptyScopeClaim);
        }
        let mut algorithms = settings.algorithms.clone();
        algorithms.sort();
        algorithms.dedup();
        let mut validation = Validation::new(Algorithm::RS256);
        // jsonwebtoken only checks iss/aud/sub when they are listed as required.
        validation.required_spec_claims = ["exp", "iss", "aud", "sub"]
            .into_iter()
            .map(str::to_owned)
            .collect::<HashSet<_>>();
        validation.leeway = settings.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(
            &settings
                .issuers
                .iter()
                .filter(|i| !i.is_empty())
                .collect::<Vec<_>>(),
        );
        validation.set_audience(
            &settings
                .audiences
                .iter()
                .filter(|a| !a.is_empty())
                .collect::<Vec<_>>(),
        );
        let validations = algorithms
            .iter()
            .map(|alg| {
                let mut v = validation.clone();
                v.algorithms = vec![alg.to_jsonwebtoken()];
                (*alg, v)
            })
            .collect();
        Ok(Self {
            keys,
            verified: Arc::new(VerifiedTokens::new(settings.verified_token_cache)),
            validations: Arc::new(validations),
            algorithms,
            leeway_secs: settings.leeway.as_secs(),
            max_token_bytes: settings.max_token_bytes,
            issuer_ids: Arc::new(settings.issuer_aliases.into_iter().collect()),
            issuers: Arc::new(
                settings
                    .issuers
                    .into_iter()
                    .filter(|i| !i.is_empty())
                    .collect(),
            ),
            claims: Arc::new(ClaimRules {
                scope_claims: settings.scope_claims,
                required_claims: settings.required_claims,
                authorized_parties: settings.authorized_parties,
                provider: settings.provider,
            }),
        })
    }

    /// The accepted `iss` values (used to route a token to its verifier when
    /// a resource trusts several issuers).
    pub fn issuers(&self) -> &[String] {
        &self.issuers
    }

    /// The accepted algorithms.
    pub fn algorithms(&self) -> &[SigningAlgorithm] {
        &self.algorithms
    }

    /// The provider name given to the [`AccessToken`]s this verifier builds.
    pub fn provider(&self) -> &str {
        &self.claims.provider
    }

    /// The key cache this verifier uses.
    pub fn keys(&self) -> &JwksCache {
        &self.keys
    }

    /// The longest token accepted.
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }

    /// Verifies `token` and returns the caller's identity and claims.
    pub async fn verify(&self, token: &BearerToken) -> Result<Arc<AccessToken>, AuthError> {
        let raw = token.secret();
        if raw.len() > self.max_token_bytes {
            return Err(TokenRejection::TooLarge.into());
        }
        let now = unix_now();
        if let Some(access) = self
            .verified
            .get(raw, now, self.leeway_secs, |kid| self.keys.has_key(kid))
        {
            return Ok(access);
        }
        let (kid, alg) = self.check_header(raw)?;
        let key = self.keys.key(&kid).await.map_err(|e| match e {
            KeyLookupError::UnknownKid => AuthError::InvalidToken(TokenRejection::UnknownKey),
            KeyLookupError::Unavailable => AuthError::KeysUnavailable {
                retry_after: self.keys.refetch_interval(),
            },
        })?;
        // The header's `alg` is allowed; the key must also have been made for
        // it (type, curve, declared `alg`): a key is used with one algorithm
        // only (RFC 8725 §3.1), so a PS256 key never checks an RS256 token.
        if !key.accepts(alg) {
            return Err(TokenRejection::AlgorithmKeyMismatch.into());
        }
        let validation = self
            .validations
            .iter()
            .find_map(|(a, v)| (*a == alg).then_some(v))
            .ok_or(TokenRejection::UnsupportedAlgorithm)?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(raw, key.decoding_key(), validation)
            .map_err(|e| match e.into_kind() {
                // jsonwebtoken reports a required claim it cannot parse (a string
                // `exp`, a numeric `sub`) as missing; tell the two apart. Claims
                // are validated only after the signature, so the payload is genuine.
                ErrorKind::MissingRequiredClaim(claim) if payload_has_claim(raw, &claim) => {
                    TokenRejection::InvalidClaim(static_name(&claim))
                }
                kind => TokenRejection::from(kind),
            })?;
        let claims = data.claims;
        self.check_claim_types(&claims, now)?;
        self.check_claim_rules(&claims)?;
        let mut access = AccessToken::from_verified_claims_with(
            claims,
            &self.claims.scope_claims,
            &self.claims.provider,
        )
        .ok_or(AuthError::InvalidToken(TokenRejection::Malformed))?;
        if let Some(canonical) = self.issuer_ids.get(access.issuer()) {
            access.set_issuer_id(canonical);
        }
        let access = Arc::new(access);
        self.verified
            .insert(raw, &kid, access.clone(), now, self.leeway_secs);
        Ok(access)
    }

    /// Required claims and authorized parties, after the signature.
    fn check_claim_rules(&self, claims: &Map<String, Value>) -> Result<(), TokenRejection> {
        for name in &self.claims.required_claims {
            if claims.get(name).is_none_or(Value::is_null) {
                return Err(TokenRejection::MissingConfiguredClaim(name.clone()));
            }
        }
        if !self.claims.authorized_parties.is_empty() {
            let azp = claims.get("azp").and_then(Value::as_str);
            if !azp.is_some_and(|p| self.claims.authorized_parties.iter().any(|a| a == p)) {
                return Err(TokenRejection::UnauthorizedParty);
            }
        }
        Ok(())
    }

    /// Structural and header checks; returns the `kid` and the `alg`.
    fn check_header(&self, raw: &str) -> Result<(String, SigningAlgorithm), TokenRejection> {
        let mut parts = raw.split('.');
        let (Some(header), Some(_claims), Some(_sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            // Five parts is a JWE; anything but three is not a JWS we accept.
            return Err(TokenRejection::Malformed);
        };
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenRejection::Malformed)?;
        let header: Map<String, Value> =
            serde_json::from_slice(&header).map_err(|_| TokenRejection::Malformed)?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(SigningAlgorithm::from_header);
        let Some(alg) = alg.filter(|a| self.algorithms.contains(a)) else {
            return Err(TokenRejection::UnsupportedAlgorithm);
        };
        if let Some(param) = FORBIDDEN_HEADER_PARAMS
            .iter()
            .find(|p| header.contains_key(**p))
        {
            return Err(TokenRejection::ForbiddenHeader(param));
        }
        match header.get("typ") {
            None => {}
            Some(Value::String(t)) if ACCEPTED_TYPES.iter().any(|a| t.eq_ignore_ascii_case(a)) => {}
            Some(_) => return Err(TokenRejection::UnexpectedType),
        }
        match header.get("kid") {
            Some(Value::String(kid)) if !kid.is_empty() => Ok((kid.clone(), alg)),
            _ => Err(TokenRejection::MissingKeyId),
        }
    }

    /// Checks jsonwebtoken leaves to us: numeric times, `iat` not in the
    /// future, and a non-empty string `sub`.
    fn check_claim_types(
        &self,
        claims: &Map<String, Value>,
        now: u64,
    ) -> Result<(), TokenRejection> {
        for name in ["exp", "nbf", "iat"] {
            if let Some(v) = claims.get(name)
                && !v.is_u64()
            {
                return Err(TokenRejection::InvalidClaim(static_name(name)));
            }
        }
        if let Some(iat) = claims.get("iat").and_then(Value::as_u64)
            && iat > now + self.leeway_secs
        {
            return Err(TokenRejection::IssuedInFuture);
        }
        match claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => Ok(()),
            _ => Err(TokenRejection::InvalidClaim("sub")),
        }
    }
}

/// Whether the payload of `raw` has a claim called `name` (whatever its value).
fn payload_has_claim(raw: &str, name: &str) -> bool {
    raw.split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
        .is_some_and(|claims| claims.contains_key(name))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("keys", &self.keys)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

fn static_name(name: &str) -> &'static str {
    match name {
        "exp" => "exp",
        "nbf" => "nbf",
        "iat" => "iat",
        "iss" => "iss",
        "aud" => "aud",
        _ => "sub",
    }
}

impl From<ErrorKind> for TokenRejection {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::ImmatureSignature => Self::NotYetValid,
            ErrorKind::InvalidIssuer => Self::WrongIssuer,
            ErrorKind::InvalidAudience => Self::WrongAudience,
            ErrorKind::InvalidSubject => Self::InvalidClaim("sub"),
            ErrorKind::InvalidSignature => Self::BadSignature,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::UnsupportedAlgorithm => Self::UnsupportedAlgorithm,
            ErrorKind::MissingRequiredClaim(claim) => Self::MissingClaim(static_name(&claim)),
            ErrorKind::InvalidClaimFormat(claim) => Self::InvalidClaim(static_name(&claim)),
            _ => Self::Malformed,
        }
    }
}
