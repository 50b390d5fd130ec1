//! A cache of tokens that already passed full verification.
//!
//! Clients send the same bearer token on every request of a session, and an
//! RS256 check costs tens of microseconds; remembering the verdict makes the
//! repeat cost a SHA-256 and a map lookup. It stays strict:
//! - entries are keyed by the SHA-256 of the exact token bytes, so only an
//!   identical token hits (and raw tokens are not kept in memory);
//! - `exp` is re-checked on every hit (`nbf`/`iat` only get more valid with time);
//! - a hit counts only while the signing key is still published, so a key the
//!   issuer withdrew stops its tokens as soon as the JWKS refresh drops it;
//! - the map is bounded: when full, expired entries go first, then everything.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest::{SHA256, digest};

use crate::claims::AccessToken;

struct Entry {
    access: Arc<AccessToken>,
    kid: String,
}

/// Verified tokens by SHA-256 of their bytes.
pub(crate) struct VerifiedTokens {
    // A std mutex: lookups and inserts are short and never await.
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    capacity: usize,
}

fn key(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    out
}

impl VerifiedTokens {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The cached verdict for `token`, if it is still within `exp` (+ leeway)
    /// and its key is still published (`key_published`).
    pub(crate) fn get(
        &self,
        token: &str,
        now: u64,
        leeway: u64,
        key_published: impl FnOnce(&str) -> bool,
    ) -> Option<Arc<AccessToken>> {
        if self.capacity == 0 {
            return None;
        }
        let k = key(token);
        let (access, kid) = {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            let entry = entries.get(&k)?;
            (entry.access.clone(), entry.kid.clone())
        };
        if access.expires_at_unix().saturating_add(leeway) < now || !key_published(&kid) {
            self.entries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&k);
            return None;
        }
        Some(access)
    }

    pub(crate) fn insert(
        &self,
        token: &str,
        kid: &str,
        access: Arc<AccessToken>,
        now: u64,
        leeway: u64,
    ) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, e| e.access.expires_at_unix().saturating_add(leeway) >= now);
            if entries.len() >= self.capacity {
                // Still full of live tokens: start over rather than track recency;
                // a miss only costs one full verification.
                entries.clear();
            }
        }
        entries.insert(
            key(token),
            Entry {
                access,
                kid: kid.to_owned(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn access(exp: u64) -> Arc<AccessToken> {
        let claims = json!({"sub": "usr_1", "iss": "https://e", "aud": "res_1", "exp": exp});
        Arc::new(AccessToken::from_verified_claims(claims.as_object().unwrap().clone()).unwrap())
    }

    #[test]
    fn only_the_identical_token_hits() {
        let cache = VerifiedTokens::new(10);
        cache.insert("a.b.c", "k1", access(100), 50, 0);
        assert!(cache.get("a.b.c", 60, 0, |_| true).is_some());
        assert!(cache.get("a.b.d", 60, 0, |_| true).is_none());
    }

    #[test]
    fn expiry_is_rechecked_on_every_hit() {
        let cache = VerifiedTokens::new(10);
        cache.insert("t", "k1", access(100), 50, 5);
        assert!(cache.get("t", 105, 5, |_| true).is_some(), "within leeway");
        assert!(
            cache.get("t", 106, 5, |_| true).is_none(),
            "past exp + leeway"
        );
        assert!(
            cache.get("t", 50, 5, |_| true).is_none(),
            "evicted after expiring"
        );
    }

    #[test]
    fn a_withdrawn_key_stops_its_cached_tokens() {
        let cache = VerifiedTokens::new(10);
        cache.insert("t", "k1", access(100), 50, 0);
        assert!(cache.get("t", 60, 0, |kid| kid == "k2").is_none());
    }

    #[test]
    fn capacity_is_bounded() {
        let cache = VerifiedTokens::new(2);
        cache.insert("t1", "k", access(100), 50, 0);
        cache.insert("t2", "k", access(100), 50, 0);
        cache.insert("t3", "k", access(100), 50, 0);
        assert!(cache.entries.lock().unwrap().len() <= 2);
        assert!(cache.get("t3", 60, 0, |_| true).is_some());
        let off = VerifiedTokens::new(0);
        off.insert("t", "k", access(100), 50, 0);
        assert!(off.get("t", 60, 0, |_| true).is_none());
    }
}
