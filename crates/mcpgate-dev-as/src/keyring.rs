//! The set of signing keys in play: one current signer and the keys it replaced,
//! which stay published for a grace period so tokens they signed keep verifying.

use crate::keys::SigningKey;

#[derive(Debug)]
struct RetiredKey {
    key: SigningKey,
    retired_at_ms: i64,
}

/// The current signer plus recently retired keys.
#[derive(Debug)]
pub(crate) struct KeyRing {
    current: SigningKey,
    retired: Vec<RetiredKey>,
    grace_ms: i64,
}

impl KeyRing {
    pub(crate) fn new(current: SigningKey, grace_ms: i64) -> Self {
        Self {
            current,
            retired: Vec::new(),
            grace_ms,
        }
    }

    /// Adds a key that was retired at `retired_at_ms` (loaded from storage).
    pub(crate) fn add_retired(&mut self, key: SigningKey, retired_at_ms: i64) {
        self.retired.push(RetiredKey { key, retired_at_ms });
    }

    pub(crate) fn current(&self) -> &SigningKey {
        &self.current
    }

    /// Makes `new` the signer; the old one enters its grace period at `now_ms`.
    pub(crate) fn rotate(&mut self, new: SigningKey, now_ms: i64) {
        let old = std::mem::replace(&mut self.current, new);
        self.retired.push(RetiredKey {
            key: old,
            retired_at_ms: now_ms,
        });
    }

    /// Forgets keys whose grace period has ended; returns the cutoff used.
    pub(crate) fn prune(&mut self, now_ms: i64) -> i64 {
        let cutoff = now_ms.saturating_sub(self.grace_ms);
        self.retired.retain(|r| r.retired_at_ms > cutoff);
        cutoff
    }

    /// Keys a verifier should accept at `now_ms`: the signer first, then retired
    /// keys still within their grace period, newest first.
    pub(crate) fn published(&self, now_ms: i64) -> Vec<&SigningKey> {
        let cutoff = now_ms.saturating_sub(self.grace_ms);
        let mut retired: Vec<&RetiredKey> = self
            .retired
            .iter()
            .filter(|r| r.retired_at_ms > cutoff)
            .collect();
        retired.sort_by_key(|r| std::cmp::Reverse(r.retired_at_ms));
        std::iter::once(&self.current)
            .chain(retired.into_iter().map(|r| &r.key))
            .collect()
    }
}
