//! RSA-2048 signing keys, published as a JWKS and used to mint RS256 tokens.
//!
//! Keys are generated with aws-lc-rs, the same crypto stack that verifies them,
//! so the whole workspace carries one implementation of RSA.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::Arc;

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;
use serde_json::{Value, json};

/// Errors while creating, loading or using a signing key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The crypto library refused to generate or parse the key.
    #[error("RSA key error: {0}")]
    Crypto(String),
    /// Serialising or signing a token failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// One RSA signing key: its `kid`, its private half (PKCS#8 DER) and its JWK.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    pkcs8: Vec<u8>,
    // Signing goes straight to aws-lc-rs: jsonwebtoken's `EncodingKey::from_rsa_der`
    // wants PKCS#1, while keys are generated and stored as PKCS#8.
    signer: Arc<RsaKeyPair>,
    jwk: Value,
}

impl std::fmt::Debug for SigningKey {
    // Never print private key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh RSA-2048 key with a random `snk_<digits>` id.
    pub fn generate() -> Result<Self, KeyError> {
        Self::generate_sized(KeySize::Rsa2048)
    }

    /// Generates a key of the given size. aws-lc-rs offers nothing below 2048 bits
    /// (see [`KeySize`]), so weak-key tests must build their JWKs by other means.
    pub fn generate_sized(size: KeySize) -> Result<Self, KeyError> {
        let pair = KeyPair::generate(size).map_err(|e| KeyError::Crypto(e.to_string()))?;
        let der =
            AsDer::<Pkcs8V1Der>::as_der(&pair).map_err(|e| KeyError::Crypto(e.to_string()))?;
        Self::from_pkcs8(&random_digits_id("snk_"), der.as_ref())
    }

    /// Loads a key from its PKCS#8 DER encoding and `kid` (as stored by the dev server).
    pub fn from_pkcs8(kid: &str, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let pair = KeyPair::from_pkcs8(pkcs8).map_err(|e| KeyError::Crypto(e.to_string()))?;
        let public: PublicKeyComponents<Vec<u8>> = pair.public_key().into();
        let jwk = json!({
            "use": "sig",
            "kty": "RSA",
            "kid": kid,
            "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(strip_leading_zeros(&public.n)),
            "e": URL_SAFE_NO_PAD.encode(strip_leading_zeros(&public.e)),
        });
        Ok(Self {
            kid: kid.to_owned(),
            pkcs8: pkcs8.to_vec(),
            signer: Arc::new(
                RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| KeyError::Crypto(e.to_string()))?,
            ),
            jwk,
        })
    }

    /// The key id, `snk_<digits>`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key as PKCS#8 DER, for persistence.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as a JWK object (`use: sig`, `alg: RS256`).
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// Signs `claims` as an RS256 JWT with header `{alg: RS256, kid, typ: JWT}`, as Scalekit does.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".to_owned());
        self.sign_with_header(&header, claims)
    }

    /// Signs `claims` under a caller-built header (tests use this to forge odd headers).
    pub fn sign_with_header<T: Serialize>(
        &self,
        header: &Header,
        claims: &T,
    ) -> Result<String, KeyError> {
        self.sign_with_raw_header(header, claims)
    }

    /// Signs with RS256 under any serialisable header, even one jsonwebtoken's
    /// `Header` cannot express (`crit`, a numeric `kid`…); the `alg` written in
    /// the header is not checked, which is what attack tests need.
    pub fn sign_with_raw_header<H: Serialize, T: Serialize>(
        &self,
        header: &H,
        claims: &T,
    ) -> Result<String, KeyError> {
        let header = serde_json::to_vec(header).map_err(|e| KeyError::Sign(e.to_string()))?;
        let claims = serde_json::to_vec(claims).map_err(|e| KeyError::Sign(e.to_string()))?;
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let mut signature = vec![0; self.signer.public_modulus_len()];
        self.signer
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|e| KeyError::Sign(e.to_string()))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// A JWKS document (`{"keys": [...]}`) publishing the given keys.
pub fn jwks<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> Value {
    json!({ "keys": keys.into_iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
}

/// A Scalekit-style identifier: `prefix` followed by 18 random digits.
pub fn random_digits_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).expect("system RNG unavailable");
    // 18 digits keep the id inside u64 and look like Scalekit's ids.
    let n = u64::from_le_bytes(bytes) % 1_000_000_000_000_000_000;
    format!("{prefix}{n:018}")
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    &bytes[first..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips_through_pkcs8_and_publishes_scalekit_jwk() {
        let key = SigningKey::generate().unwrap();
        assert!(key.kid().starts_with("snk_"));
        let again = SigningKey::from_pkcs8(key.kid(), key.pkcs8_der()).unwrap();
        assert_eq!(key.jwk(), again.jwk());
        assert_eq!(key.jwk()["e"], "AQAB");
        let n = URL_SAFE_NO_PAD
            .decode(key.jwk()["n"].as_str().unwrap())
            .unwrap();
        assert_eq!(n.len(), 256, "RSA-2048 modulus");
    }
}
