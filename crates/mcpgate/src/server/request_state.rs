//! Sealing the `requestState` of an input-required result (SEP-2322).
//!
//! A 2026-07-28 request that needs input from the client (elicitation,
//! sampling, roots) is answered with `resultType: "input_required"`; the
//! client answers and retries the same request with `inputResponses` and the
//! `requestState` it was given. mcpgate keeps no server-side state for this
//! (the revision has no session to hang it on), so the answers of earlier
//! rounds travel inside `requestState`. The client echoes that string back
//! verbatim and may change it, so it is *sealed*: an HMAC-SHA256 tag over the
//! payload and a binding to
//!
//! - the request: method, tool/prompt name and a digest of its arguments, so
//!   a state issued for one call cannot be replayed against another;
//! - the principal: issuer, subject and client id of the verified token (or
//!   "anonymous" when auth is off), so one caller cannot use another's state;
//! - an expiry, so an old state stops working.
//!
//! The binding is mixed into the tag but not stored in the token: opening
//! fails closed when any part differs. The payload is signed, not encrypted
//! (base64url-readable): it holds the client's own answers, nothing secret.
//!
//! The key is random per process unless configured
//! ([`McpServer::request_state_key`](crate::McpServer::request_state_key)),
//! which replicas behind a load balancer need so that any of them can open a
//! state another issued.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::{digest, hmac, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The largest `requestState` accepted or issued, in bytes. The state holds
/// the client's answers so far; this bounds what one retry can make the
/// server decode and verify.
pub(crate) const MAX_REQUEST_STATE_BYTES: usize = 64 * 1024;

/// How long an issued state stays valid: long enough for a user to answer a
/// form, short enough that a leaked state soon stops working.
pub(crate) const DEFAULT_REQUEST_STATE_TTL: Duration = Duration::from_secs(15 * 60);

/// Version prefix: a future format can coexist with this one.
const PREFIX: &str = "rs1";

/// Domain separation for the tag.
const CONTEXT: &[u8] = b"mcpgate/requestState/v1\0";

/// Why a `requestState` was refused. Every variant is the client's doing,
/// answered with `-32602 Invalid params`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RequestStateError {
    /// Longer than [`MAX_REQUEST_STATE_BYTES`].
    #[error("requestState is larger than {MAX_REQUEST_STATE_BYTES} bytes")]
    TooLarge,
    /// Not a state this server issued (wrong format).
    #[error("requestState is malformed")]
    Malformed,
    /// The tag does not verify: tampered, issued by another key, or bound to
    /// another request or principal.
    #[error(
        "requestState failed integrity verification (tampered, or issued for another request or caller)"
    )]
    BadSeal,
    /// Past its expiry.
    #[error("requestState has expired; retry the request without it")]
    Expired,
}

/// What a sealed state binds to; see the module documentation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Binding<'a> {
    /// The JSON-RPC method (`tools/call`, `prompts/get`).
    pub(crate) method: &'a str,
    /// The tool or prompt name.
    pub(crate) name: &'a str,
    /// The request's arguments.
    pub(crate) arguments: &'a Map<String, Value>,
    /// Issuer, subject and client id of the caller, or "anonymous".
    pub(crate) principal: &'a str,
}

impl Binding<'_> {
    /// SHA-256 over length-prefixed fields, so no two bindings collide by
    /// moving bytes from one field to the next.
    fn digest(&self) -> digest::Digest {
        let mut ctx = digest::Context::new(&digest::SHA256);
        let arguments = canonical_json(&Value::Object(self.arguments.clone()));
        for field in [
            self.method.as_bytes(),
            self.name.as_bytes(),
            arguments.as_bytes(),
            self.principal.as_bytes(),
        ] {
            ctx.update(&(field.len() as u64).to_be_bytes());
            ctx.update(field);
        }
        ctx.finish()
    }
}

/// JSON with object keys sorted at every level, so the digest of the
/// arguments does not depend on the order the client wrote them in.
fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                // Rebuilt in sorted order; with or without serde_json's
                // `preserve_order`, the serialisation is then sorted.
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// The sealed payload.
#[derive(Serialize, Deserialize)]
struct Payload {
    /// Expiry, seconds since the Unix epoch.
    exp: u64,
    /// The client's answers from earlier rounds, by input request key.
    responses: Map<String, Value>,
}

/// Seals and opens `requestState` values with one HMAC-SHA256 key.
pub(crate) struct RequestStateSealer {
    /// Set at construction for a configured key; a random key is made on
    /// first use (see [`random`](Self::random)).
    key: OnceLock<hmac::Key>,
    ttl: Duration,
}

impl std::fmt::Debug for RequestStateSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("RequestStateSealer")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl RequestStateSealer {
    /// A sealer with a fresh random 256-bit key: states survive only as long
    /// as this process.
    ///
    /// The key is drawn when the first state is sealed or opened, not here:
    /// aws-lc seeds its random generator on first use with CPU-jitter entropy,
    /// about 35 ms of CPU, which at construction made every server's start
    /// (spawn to first answered call) 4–7× slower although most never issue a
    /// `requestState` (`bench/analysis.md`, cold start).
    pub(crate) fn random() -> Self {
        Self {
            key: OnceLock::new(),
            ttl: DEFAULT_REQUEST_STATE_TTL,
        }
    }

    /// A sealer with this key (at least 32 bytes; the builder checks).
    pub(crate) fn with_key(key: &[u8]) -> Self {
        Self {
            key: OnceLock::from(hmac::Key::new(hmac::HMAC_SHA256, key)),
            ttl: DEFAULT_REQUEST_STATE_TTL,
        }
    }

    /// The key, drawn from the system random generator on first use.
    fn key(&self) -> &hmac::Key {
        self.key.get_or_init(|| {
            let mut key = [0u8; 32];
            // The system RNG failing is not something a server can run
            // without (aws-lc aborts on an entropy failure of its own).
            rand::fill(&mut key).expect("the system random number generator failed");
            hmac::Key::new(hmac::HMAC_SHA256, &key)
        })
    }

    /// Seals the answers gathered so far, bound to `binding`. `None` when the
    /// result would exceed [`MAX_REQUEST_STATE_BYTES`].
    pub(crate) fn seal(
        &self,
        responses: &Map<String, Value>,
        binding: &Binding<'_>,
    ) -> Option<String> {
        self.seal_at(responses, binding, now())
    }

    fn seal_at(
        &self,
        responses: &Map<String, Value>,
        binding: &Binding<'_>,
        now: u64,
    ) -> Option<String> {
        let payload = Payload {
            exp: now.saturating_add(self.ttl.as_secs()),
            responses: responses.clone(),
        };
        let json = serde_json::to_vec(&payload).ok()?;
        let body = URL_SAFE_NO_PAD.encode(json);
        let tag = hmac::sign(self.key(), &self.message(&body, binding));
        let sealed = format!("{PREFIX}.{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
        (sealed.len() <= MAX_REQUEST_STATE_BYTES).then_some(sealed)
    }

    /// Opens a state the client echoed: the answers of earlier rounds.
    pub(crate) fn open(
        &self,
        sealed: &str,
        binding: &Binding<'_>,
    ) -> Result<Map<String, Value>, RequestStateError> {
        self.open_at(sealed, binding, now())
    }

    fn open_at(
        &self,
        sealed: &str,
        binding: &Binding<'_>,
        now: u64,
    ) -> Result<Map<String, Value>, RequestStateError> {
        if sealed.len() > MAX_REQUEST_STATE_BYTES {
            return Err(RequestStateError::TooLarge);
        }
        let mut parts = sealed.split('.');
        let (Some(PREFIX), Some(body), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(RequestStateError::Malformed);
        };
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| RequestStateError::Malformed)?;
        // Verify before decoding anything the client wrote (constant time).
        hmac::verify(self.key(), &self.message(body, binding), &tag)
            .map_err(|_| RequestStateError::BadSeal)?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| RequestStateError::Malformed)?;
        let payload: Payload =
            serde_json::from_slice(&json).map_err(|_| RequestStateError::Malformed)?;
        if payload.exp < now {
            return Err(RequestStateError::Expired);
        }
        Ok(payload.responses)
    }

    fn message(&self, body: &str, binding: &Binding<'_>) -> Vec<u8> {
        let digest = binding.digest();
        let mut message = Vec::with_capacity(CONTEXT.len() + 32 + body.len());
        message.extend_from_slice(CONTEXT);
        message.extend_from_slice(digest.as_ref());
        message.extend_from_slice(body.as_bytes());
        message
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn binding<'a>(name: &'a str, arguments: &'a Map<String, Value>, who: &'a str) -> Binding<'a> {
        Binding {
            method: "tools/call",
            name,
            arguments,
            principal: who,
        }
    }

    fn answers() -> Map<String, Value> {
        args(json!({"step1": {"action": "accept", "content": {"name": "Alice"}}}))
    }

    /// The random key is drawn on first use, not at start-up (seeding
    /// aws-lc's generator costs tens of milliseconds of CPU), and then kept.
    #[test]
    fn random_key_is_drawn_on_first_use_and_kept() {
        let sealer = RequestStateSealer::random();
        assert!(sealer.key.get().is_none(), "drawn at construction");
        let a = args(json!({"x": 1}));
        let sealed = sealer.seal(&answers(), &binding("t", &a, "alice")).unwrap();
        assert!(sealer.key.get().is_some());
        assert_eq!(
            sealer.open(&sealed, &binding("t", &a, "alice")).unwrap(),
            answers()
        );
        // A configured key is there from the start.
        assert!(RequestStateSealer::with_key(&[7; 32]).key.get().is_some());
    }

    #[test]
    fn round_trip() {
        let sealer = RequestStateSealer::random();
        let a = args(json!({"x": 1, "y": [1, 2]}));
        let sealed = sealer.seal(&answers(), &binding("t", &a, "alice")).unwrap();
        assert!(sealed.starts_with("rs1."));
        assert_eq!(
            sealer.open(&sealed, &binding("t", &a, "alice")),
            Ok(answers())
        );
    }

    #[test]
    fn argument_order_does_not_matter() {
        let sealer = RequestStateSealer::random();
        let a: Map<String, Value> = serde_json::from_str(r#"{"x":1,"y":{"b":1,"a":2}}"#).unwrap();
        let b: Map<String, Value> = serde_json::from_str(r#"{"y":{"a":2,"b":1},"x":1}"#).unwrap();
        let sealed = sealer.seal(&answers(), &binding("t", &a, "p")).unwrap();
        assert!(sealer.open(&sealed, &binding("t", &b, "p")).is_ok());
    }

    #[test]
    fn tampering_is_refused() {
        let sealer = RequestStateSealer::random();
        let a = Map::new();
        let sealed = sealer.seal(&answers(), &binding("t", &a, "p")).unwrap();
        let b = binding("t", &a, "p");
        // What the conformance suite does: bytes appended to the tag.
        assert!(sealer.open(&format!("{sealed}-TAMPERED"), &b).is_err());
        // A payload changed to other answers, tag kept.
        let mut parts: Vec<&str> = sealed.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(
                &json!({"exp": u64::MAX, "responses": {"step1": {"action": "decline"}}}),
            )
            .unwrap(),
        );
        parts[1] = &forged;
        assert_eq!(
            sealer.open(&parts.join("."), &b),
            Err(RequestStateError::BadSeal)
        );
        // A flipped tag character.
        let mut flipped = sealed.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(sealer.open(&flipped, &b).is_err());
    }

    #[test]
    fn bound_to_request_and_principal() {
        let sealer = RequestStateSealer::random();
        let a = args(json!({"x": 1}));
        let other_args = args(json!({"x": 2}));
        let sealed = sealer.seal(&answers(), &binding("t", &a, "alice")).unwrap();
        for wrong in [
            binding("t", &a, "bob"),
            binding("other", &a, "alice"),
            binding("t", &other_args, "alice"),
            Binding {
                method: "prompts/get",
                ..binding("t", &a, "alice")
            },
        ] {
            assert_eq!(
                sealer.open(&sealed, &wrong),
                Err(RequestStateError::BadSeal)
            );
        }
    }

    #[test]
    fn another_key_is_refused() {
        let a = Map::new();
        let sealed = RequestStateSealer::random()
            .seal(&answers(), &binding("t", &a, "p"))
            .unwrap();
        assert_eq!(
            RequestStateSealer::random().open(&sealed, &binding("t", &a, "p")),
            Err(RequestStateError::BadSeal)
        );
        // A configured key opens what the same key sealed, in another instance.
        let key = [7u8; 32];
        let sealed = RequestStateSealer::with_key(&key)
            .seal(&answers(), &binding("t", &a, "p"))
            .unwrap();
        assert!(
            RequestStateSealer::with_key(&key)
                .open(&sealed, &binding("t", &a, "p"))
                .is_ok()
        );
    }

    #[test]
    fn expiry() {
        let sealer = RequestStateSealer::random();
        let a = Map::new();
        let b = binding("t", &a, "p");
        let sealed = sealer.seal_at(&answers(), &b, 1_000).unwrap();
        let ttl = DEFAULT_REQUEST_STATE_TTL.as_secs();
        assert!(sealer.open_at(&sealed, &b, 1_000 + ttl).is_ok());
        assert_eq!(
            sealer.open_at(&sealed, &b, 1_001 + ttl),
            Err(RequestStateError::Expired)
        );
    }

    #[test]
    fn size_is_bounded() {
        let sealer = RequestStateSealer::random();
        let a = Map::new();
        let b = binding("t", &a, "p");
        let big = args(json!({"k": "x".repeat(MAX_REQUEST_STATE_BYTES)}));
        assert_eq!(sealer.seal(&big, &b), None);
        let long = "a".repeat(MAX_REQUEST_STATE_BYTES + 1);
        assert_eq!(sealer.open(&long, &b), Err(RequestStateError::TooLarge));
        assert_eq!(
            sealer.open("rs1.e30", &b),
            Err(RequestStateError::Malformed)
        );
        assert_eq!(sealer.open("", &b), Err(RequestStateError::Malformed));
    }
}
