//! Signing keys, published as a JWKS and used to mint tokens: RSA-2048 for
//! RS256 (Scalekit's algorithm, the default), and on request ECDSA P-256 for
//! ES256 or Ed25519 for EdDSA, to test resource servers against them.
//!
//! Keys are generated with aws-lc-rs, the same crypto stack that verifies them,
//! so the whole workspace carries one implementation of each algorithm. Every
//! kind is stored as PKCS#8, so a data directory records which kind it holds.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::Arc;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use serde::Serialize;
use serde_json::{Value, json};

/// Errors while creating, loading or using a signing key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The crypto library refused to generate or parse the key.
    #[error("signing key error: {0}")]
    Crypto(String),
    /// Serialising or signing a token failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// The algorithm a dev server signs with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// RS256 with an RSA-2048 key, as Scalekit signs (the default).
    #[default]
    Rs256,
    /// ES256 with an ECDSA P-256 key.
    Es256,
    /// EdDSA with an Ed25519 key.
    EdDsa,
}

impl KeyAlgorithm {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = String;

    /// `RS256`, `ES256` or `EdDSA` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rs256" => Ok(Self::Rs256),
            "es256" => Ok(Self::Es256),
            "eddsa" | "ed25519" => Ok(Self::EdDsa),
            other => Err(format!(
                "unsupported signing algorithm `{other}`; expected RS256, ES256 or EdDSA"
            )),
        }
    }
}

#[derive(Clone)]
enum Signer {
    // Signing goes straight to aws-lc-rs: jsonwebtoken's `EncodingKey::from_rsa_der`
    // wants PKCS#1, while keys are generated and stored as PKCS#8.
    Rsa(Arc<RsaKeyPair>),
    P256(Arc<EcdsaKeyPair>),
    Ed25519(Arc<Ed25519KeyPair>),
}

/// One signing key: its `kid`, its private half (PKCS#8 DER) and its JWK.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    pkcs8: Vec<u8>,
    signer: Signer,
    jwk: Value,
}

impl std::fmt::Debug for SigningKey {
    // Never print private key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh RSA-2048 key with a random `snk_<digits>` id.
    pub fn generate() -> Result<Self, KeyError> {
        Self::generate_sized(KeySize::Rsa2048)
    }

    /// Generates a fresh key for `algorithm` with a random `snk_<digits>` id.
    pub fn generate_for(algorithm: KeyAlgorithm) -> Result<Self, KeyError> {
        let crypto = |e: aws_lc_rs::error::Unspecified| KeyError::Crypto(e.to_string());
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match algorithm {
            KeyAlgorithm::Rs256 => Self::generate(),
            KeyAlgorithm::Es256 => {
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(crypto)?;
                Self::from_pkcs8(&random_digits_id("snk_"), doc.as_ref())
            }
            KeyAlgorithm::EdDsa => {
                let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(crypto)?;
                Self::from_pkcs8(&random_digits_id("snk_"), doc.as_ref())
            }
        }
    }

    /// Generates a key of the given size. aws-lc-rs offers nothing below 2048 bits
    /// (see [`KeySize`]), so weak-key tests must build their JWKs by other means.
    pub fn generate_sized(size: KeySize) -> Result<Self, KeyError> {
        let pair = KeyPair::generate(size).map_err(|e| KeyError::Crypto(e.to_string()))?;
        let der =
            AsDer::<Pkcs8V1Der>::as_der(&pair).map_err(|e| KeyError::Crypto(e.to_string()))?;
        Self::from_pkcs8(&random_digits_id("snk_"), der.as_ref())
    }

    /// Loads a key from its PKCS#8 DER encoding and `kid` (as stored by the
    /// dev server): an RSA, ECDSA P-256 or Ed25519 key.
    pub fn from_pkcs8(kid: &str, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let (signer, mut jwk) = if let Ok(pair) = KeyPair::from_pkcs8(pkcs8) {
            let public: PublicKeyComponents<Vec<u8>> = pair.public_key().into();
            let jwk = json!({
                "kty": "RSA",
                "alg": "RS256",
                "n": URL_SAFE_NO_PAD.encode(strip_leading_zeros(&public.n)),
                "e": URL_SAFE_NO_PAD.encode(strip_leading_zeros(&public.e)),
            });
            (Signer::Rsa(Arc::new(pair)), jwk)
        } else if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8) {
            // The public key is the uncompressed point 0x04 || x || y.
            let point = pair.public_key().as_ref().to_vec();
            let jwk = json!({
                "kty": "EC",
                "crv": "P-256",
                "alg": "ES256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
            });
            (Signer::P256(Arc::new(pair)), jwk)
        } else if let Ok(pair) = Ed25519KeyPair::from_pkcs8(pkcs8) {
            let jwk = json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": "EdDSA",
                "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            });
            (Signer::Ed25519(Arc::new(pair)), jwk)
        } else {
            return Err(KeyError::Crypto(
                "not a PKCS#8 RSA, ECDSA P-256 or Ed25519 private key".to_owned(),
            ));
        };
        jwk["use"] = json!("sig");
        jwk["kid"] = json!(kid);
        Ok(Self {
            kid: kid.to_owned(),
            pkcs8: pkcs8.to_vec(),
            signer,
            jwk,
        })
    }

    /// The key id, `snk_<digits>`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.signer {
            Signer::Rsa(_) => KeyAlgorithm::Rs256,
            Signer::P256(_) => KeyAlgorithm::Es256,
            Signer::Ed25519(_) => KeyAlgorithm::EdDsa,
        }
    }

    /// The private key as PKCS#8 DER, for persistence.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as a JWK object (`use: sig`, its `alg`).
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// Signs `claims` as a JWT with header `{alg, kid, typ: JWT}`, as
    /// Scalekit does (with `alg: RS256` for the default RSA key).
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        let header = json!({"alg": self.algorithm().as_str(), "typ": "JWT", "kid": self.kid});
        self.sign_with_raw_header(&header, claims)
    }

    /// Signs `claims` under a caller-built header (tests use this to forge odd headers).
    pub fn sign_with_header<T: Serialize>(
        &self,
        header: &jsonwebtoken::Header,
        claims: &T,
    ) -> Result<String, KeyError> {
        self.sign_with_raw_header(header, claims)
    }

    /// Signs with the key's own algorithm (RS256 for RSA keys) under any
    /// serialisable header, even one jsonwebtoken's `Header` cannot express
    /// (`crit`, a numeric `kid`…); the `alg` written in the header is not
    /// checked, which is what attack tests need.
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
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let sign_error = |e: aws_lc_rs::error::Unspecified| KeyError::Sign(e.to_string());
        let signature = match &self.signer {
            Signer::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &rng,
                    signing_input.as_bytes(),
                    &mut signature,
                )
                .map_err(sign_error)?;
                signature
            }
            Signer::P256(pair) => pair
                .sign(&rng, signing_input.as_bytes())
                .map_err(sign_error)?
                .as_ref()
                .to_vec(),
            Signer::Ed25519(pair) => pair.sign(signing_input.as_bytes()).as_ref().to_vec(),
        };
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
        assert_eq!(key.jwk()["alg"], "RS256");
    }

    #[test]
    fn es256_and_eddsa_keys_round_trip_and_publish_their_jwk() {
        for (alg, kty) in [(KeyAlgorithm::Es256, "EC"), (KeyAlgorithm::EdDsa, "OKP")] {
            let key = SigningKey::generate_for(alg).unwrap();
            assert_eq!(key.algorithm(), alg);
            assert_eq!(key.jwk()["kty"], kty);
            assert_eq!(key.jwk()["alg"], alg.as_str());
            let again = SigningKey::from_pkcs8(key.kid(), key.pkcs8_der()).unwrap();
            assert_eq!(again.algorithm(), alg);
            assert_eq!(key.jwk(), again.jwk());
            let token = key.sign(&serde_json::json!({"sub": "x"})).unwrap();
            let header: Value = serde_json::from_slice(
                &URL_SAFE_NO_PAD
                    .decode(token.split('.').next().unwrap())
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(header["alg"], alg.as_str());
        }
    }
}
