//! The `requestState` of a 2026-07-28 upstream, bound to the caller it was
//! issued to.
//!
//! An upstream that speaks 2026-07-28 answers a call that needs the
//! caller's input with an `input_required` result and its own
//! `requestState`, which the caller echoes on the retry. The upstream
//! cannot tell callers apart — behind the gateway every request comes from
//! the gateway — so a state one principal received could be replayed by
//! another, resuming a call with the first one's earlier answers. The
//! gateway therefore hands callers the upstream's state *sealed*: an
//! HMAC-SHA256 tag over the principal (issuer, subject, client id), the
//! mount, the method, the tool, prompt or resource it was for and the state
//! itself, under a key made at start-up.
//! On the retry the seal is checked and removed; anything else is refused
//! before the upstream sees it. The upstream's state is not hidden (it is
//! the upstream's business what it puts there), only bound.
//!
//! The key lives in this process: a state sealed by one gateway process is
//! refused by another (a restarted gateway, or a replica behind a load
//! balancer without affinity) — the caller starts the call again.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::pool::PrincipalKey;

/// The prefix of a sealed upstream state.
pub(crate) const PREFIX: &str = "mcpgate-up.";

/// Bytes of the tag kept (128 bits: forging one is out of reach, and the
/// state stays short).
const TAG_BYTES: usize = 16;

/// Seals and opens upstream states with this process's key, drawn on
/// first use: aws-lc's first random draw seeds its generator from CPU
/// jitter (tens of milliseconds), which a gateway whose upstreams never ask
/// for input should not pay at start-up.
pub(crate) struct Sealer {
    key: std::sync::OnceLock<hmac::Key>,
}

/// Why a sealed state was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not of the sealed form.
    Malformed,
    /// The tag does not match: altered, or issued to another caller,
    /// mount or method, or by another gateway process.
    Foreign,
}

impl Sealer {
    /// A sealer whose random key is drawn on first use.
    pub(crate) fn new() -> Self {
        Self {
            key: std::sync::OnceLock::new(),
        }
    }

    fn key(&self) -> &hmac::Key {
        self.key.get_or_init(|| {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            // Generating a key fails only when the system has no randomness
            // at all, and then nothing else the gateway does is safe either.
            hmac::Key::generate(hmac::HMAC_SHA256, &rng)
                .expect("the system random number generator failed")
        })
    }

    /// `PREFIX` + tag + `.` + the upstream's state, for `request` (method,
    /// and the tool or prompt name or resource URI).
    pub(crate) fn seal(
        &self,
        state: &str,
        principal: &PrincipalKey,
        mount: usize,
        request: (&str, &str),
    ) -> String {
        let tag = hmac::sign(self.key(), &message(state, principal, mount, request));
        let tag = URL_SAFE_NO_PAD.encode(&tag.as_ref()[..TAG_BYTES]);
        format!("{PREFIX}{tag}.{state}")
    }

    /// The upstream's state inside `sealed`, if it was sealed by this
    /// process for exactly this principal, mount and request (method, and
    /// the tool or prompt name or resource URI).
    pub(crate) fn open<'a>(
        &self,
        sealed: &'a str,
        principal: &PrincipalKey,
        mount: usize,
        request: (&str, &str),
    ) -> Result<&'a str, Refused> {
        let rest = sealed.strip_prefix(PREFIX).ok_or(Refused::Malformed)?;
        let (tag, state) = rest.split_once('.').ok_or(Refused::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| Refused::Malformed)?;
        if tag.len() != TAG_BYTES {
            return Err(Refused::Malformed);
        }
        let expected = hmac::sign(self.key(), &message(state, principal, mount, request));
        // Constant time: the comparison must not tell how much of a forged
        // tag was right.
        aws_lc_rs::constant_time::verify_slices_are_equal(&expected.as_ref()[..TAG_BYTES], &tag)
            .map_err(|_| Refused::Foreign)?;
        Ok(state)
    }
}

/// The authenticated message: every field length-prefixed, so no two
/// different inputs give the same bytes.
fn message(
    state: &str,
    principal: &PrincipalKey,
    mount: usize,
    (method, target): (&str, &str),
) -> Vec<u8> {
    let mut out = Vec::with_capacity(state.len() + 128);
    let mut field = |bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        out.extend_from_slice(bytes);
    };
    match principal {
        PrincipalKey::Shared => field(b"shared"),
        PrincipalKey::Anonymous => field(b"anonymous"),
        PrincipalKey::Principal {
            issuer,
            subject,
            client_id,
        } => {
            field(b"principal");
            field(issuer.as_bytes());
            field(subject.as_bytes());
            match client_id {
                Some(client) => {
                    field(b"client");
                    field(client.as_bytes());
                }
                None => field(b"no-client"),
            }
        }
    }
    field(&(mount as u64).to_be_bytes());
    field(method.as_bytes());
    field(target.as_bytes());
    field(state.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(subject: &str) -> PrincipalKey {
        PrincipalKey::Principal {
            issuer: "https://as.example".to_owned(),
            subject: subject.to_owned(),
            client_id: Some("c1".to_owned()),
        }
    }

    #[test]
    fn a_sealed_state_opens_only_for_its_principal_mount_and_method() {
        let sealer = Sealer::new();
        let alice = principal("alice");
        let sealed = sealer.seal("rs1.abc.def", &alice, 0, ("tools/call", "t"));
        assert!(sealed.starts_with(PREFIX));
        assert_eq!(
            sealer.open(&sealed, &alice, 0, ("tools/call", "t")),
            Ok("rs1.abc.def")
        );
        let refused = Err(Refused::Foreign);
        assert_eq!(
            sealer.open(&sealed, &principal("bob"), 0, ("tools/call", "t")),
            refused
        );
        assert_eq!(
            sealer.open(&sealed, &alice, 1, ("tools/call", "t")),
            refused
        );
        assert_eq!(
            sealer.open(&sealed, &alice, 0, ("prompts/get", "t")),
            refused
        );
        assert_eq!(
            Sealer::new().open(&sealed, &alice, 0, ("tools/call", "t")),
            refused
        );
    }

    #[test]
    fn an_altered_state_or_tag_is_refused() {
        let sealer = Sealer::new();
        let alice = principal("alice");
        let sealed = sealer.seal("state", &alice, 0, ("tools/call", "t"));
        let altered = format!("{sealed}x");
        assert_eq!(
            sealer.open(&altered, &alice, 0, ("tools/call", "t")),
            Err(Refused::Foreign)
        );
        assert_eq!(
            sealer.open("mcpgate-up.nodot", &alice, 0, ("tools/call", "t")),
            Err(Refused::Malformed)
        );
        assert_eq!(
            sealer.open("mcpgate-up.AAAA.state", &alice, 0, ("tools/call", "t")),
            Err(Refused::Malformed)
        );
        assert_eq!(
            sealer.open("rs1.abc", &alice, 0, ("tools/call", "t")),
            Err(Refused::Malformed)
        );
    }

    #[test]
    fn fields_cannot_run_into_each_other() {
        let a = PrincipalKey::Principal {
            issuer: "ab".to_owned(),
            subject: "c".to_owned(),
            client_id: None,
        };
        let b = PrincipalKey::Principal {
            issuer: "a".to_owned(),
            subject: "bc".to_owned(),
            client_id: None,
        };
        assert_ne!(
            message("s", &a, 0, ("m", "t")),
            message("s", &b, 0, ("m", "t"))
        );
    }
}
