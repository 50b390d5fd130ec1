//! Remembered introspection answers and the introspections in flight, under
//! one lock so that "not cached" and "nobody is asking" are decided together.
//!
//! - Keys are the SHA-256 of the exact token bytes (as in `token_cache.rs`):
//!   only an identical token hits, and raw tokens are not kept in memory.
//! - A positive answer is kept until the earlier of the token's `exp` and
//!   the configured maximum TTL, never past `exp`. The maximum TTL is how long
//!   a revocation at the authorization server can go unnoticed.
//! - A refusal (`active: false`, expired, wrong audience, …) is kept for a few
//!   seconds only. Tokens do not come back to life, so this cannot refuse a
//!   good token for long, and it stops a client that keeps retrying a revoked
//!   token (an agent in a loop) from costing one round trip per request. It
//!   is short because a server whose replicas lag may call a just-issued
//!   token inactive for a moment.
//! - Outages and malformed answers are never cached: the next request asks
//!   again.
//! - Both maps are bounded: when one is full, expired entries go first, then
//!   everything (a miss costs only one introspection).
//! - The in-flight map holds one entry per distinct token being verified right
//!   now; it is bounded by the number of concurrent requests.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest::{SHA256, digest};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::claims::AccessToken;
use crate::error::{AuthError, TokenRejection};

/// The SHA-256 of a token.
pub(super) type Key = [u8; 32];

/// What one introspection decided, shared with everyone who waited for it.
pub(super) type Outcome = Result<Arc<AccessToken>, AuthError>;

/// Where waiters for one token's introspection read its outcome.
pub(super) type Flight = watch::Receiver<Option<Outcome>>;

pub(super) fn key(token: &str) -> Key {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    out
}

/// What [`AnswerCache::lookup`] found.
pub(super) enum Lookup {
    /// A remembered positive answer.
    Accepted(Arc<AccessToken>),
    /// A remembered refusal.
    Refused(TokenRejection),
    /// Someone is already asking; wait on this.
    Wait(Flight),
    /// Nobody is asking: the caller must run the introspection and report
    /// through [`AnswerCache::complete`]; waiters read from the sender.
    Lead(watch::Sender<Option<Outcome>>, Flight),
}

struct State {
    accepted: HashMap<Key, (Arc<AccessToken>, Instant)>,
    refused: HashMap<Key, (TokenRejection, Instant)>,
    in_flight: HashMap<Key, Flight>,
}

/// Remembered answers and introspections in flight.
pub(super) struct AnswerCache {
    // A std mutex: every critical section is a few map operations, never an await.
    state: Mutex<State>,
    capacity: usize,
}

impl AnswerCache {
    /// A cache of at most `capacity` positive and `capacity` negative answers
    /// (0 remembers nothing; single flight still applies).
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                accepted: HashMap::new(),
                refused: HashMap::new(),
                in_flight: HashMap::new(),
            }),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere between map operations;
        // each map is still consistent on its own.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The remembered answer for `key`, or the flight to wait on, or the lead.
    /// `now_unix` re-checks `exp` on every hit, on top of the entry's deadline.
    pub(super) fn lookup(&self, key: Key, now: Instant, now_unix: u64) -> Lookup {
        let mut state = self.lock();
        if let Some((access, until)) = state.accepted.get(&key) {
            if now < *until && access.expires_at_unix() > now_unix {
                return Lookup::Accepted(access.clone());
            }
            state.accepted.remove(&key);
        }
        if let Some((why, until)) = state.refused.get(&key) {
            if now < *until {
                return Lookup::Refused(why.clone());
            }
            state.refused.remove(&key);
        }
        match state.in_flight.entry(key) {
            // `has_changed` fails only once the leader's sender is gone without
            // `complete` having run (its task panicked or the runtime is shutting
            // down): that flight will never land, so lead a new one.
            Entry::Occupied(flight) if flight.get().has_changed().is_ok() => {
                Lookup::Wait(flight.get().clone())
            }
            Entry::Occupied(mut flight) => {
                let (tx, rx) = watch::channel(None);
                flight.insert(rx.clone());
                Lookup::Lead(tx, rx)
            }
            Entry::Vacant(slot) => {
                let (tx, rx) = watch::channel(None);
                slot.insert(rx.clone());
                Lookup::Lead(tx, rx)
            }
        }
    }

    /// Ends the flight for `key` and remembers its outcome: an accept until
    /// `accept_until`, a refusal until `refuse_until` (`None`: not remembered).
    /// Done under the lock `lookup` takes, so no request can find neither the
    /// answer nor the flight and start a second introspection.
    pub(super) fn complete(
        &self,
        key: Key,
        outcome: &Outcome,
        now: Instant,
        accept_until: Option<Instant>,
        refuse_until: Option<Instant>,
    ) {
        let mut state = self.lock();
        state.in_flight.remove(&key);
        if self.capacity == 0 {
            return;
        }
        match (outcome, accept_until, refuse_until) {
            (Ok(access), Some(until), _) if until > now => {
                bounded_insert(
                    &mut state.accepted,
                    self.capacity,
                    now,
                    key,
                    (access.clone(), until),
                );
            }
            (Err(AuthError::InvalidToken(why)), _, Some(until)) if until > now => {
                bounded_insert(
                    &mut state.refused,
                    self.capacity,
                    now,
                    key,
                    (why.clone(), until),
                );
            }
            _ => {}
        }
    }

    #[cfg(test)]
    fn sizes(&self) -> (usize, usize, usize) {
        let state = self.lock();
        (
            state.accepted.len(),
            state.refused.len(),
            state.in_flight.len(),
        )
    }
}

fn bounded_insert<V>(
    map: &mut HashMap<Key, (V, Instant)>,
    capacity: usize,
    now: Instant,
    key: Key,
    value: (V, Instant),
) {
    if map.len() >= capacity && !map.contains_key(&key) {
        map.retain(|_, (_, until)| *until > now);
        if map.len() >= capacity {
            // Still full of live answers: start over rather than track recency.
            map.clear();
        }
    }
    map.insert(key, value);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use serde_json::json;

    fn access(exp: u64) -> Arc<AccessToken> {
        let claims = json!({"sub": "u", "iss": "https://e", "aud": [], "exp": exp});
        Arc::new(AccessToken::from_verified_claims(claims.as_object().unwrap().clone()).unwrap())
    }

    fn lead(cache: &AnswerCache, k: Key, now: Instant) {
        assert!(matches!(cache.lookup(k, now, 0), Lookup::Lead(..)));
    }

    #[test]
    fn a_second_lookup_waits_for_the_first() {
        let cache = AnswerCache::new(4);
        let now = Instant::now();
        let Lookup::Lead(tx, _rx) = cache.lookup(key("t"), now, 0) else {
            panic!("the first lookup leads");
        };
        assert!(matches!(cache.lookup(key("t"), now, 0), Lookup::Wait(_)));
        assert!(matches!(cache.lookup(key("u"), now, 0), Lookup::Lead(..)));
        drop(tx);
        assert!(
            matches!(cache.lookup(key("t"), now, 0), Lookup::Lead(..)),
            "a flight whose leader vanished is replaced"
        );
    }

    #[test]
    fn answers_are_kept_until_their_deadline_and_exp() {
        let cache = AnswerCache::new(4);
        let now = Instant::now();
        let later = now + Duration::from_secs(10);
        lead(&cache, key("t"), now);
        cache.complete(key("t"), &Ok(access(100)), now, Some(later), None);
        assert!(matches!(
            cache.lookup(key("t"), now, 50),
            Lookup::Accepted(_)
        ));
        assert!(
            matches!(cache.lookup(key("t"), now, 100), Lookup::Lead(..)),
            "not at exp"
        );
        cache.complete(key("t"), &Ok(access(100)), now, Some(later), None);
        assert!(
            matches!(cache.lookup(key("t"), later, 50), Lookup::Lead(..)),
            "not at the deadline"
        );
    }

    #[test]
    fn refusals_are_kept_briefly_and_outages_not_at_all() {
        let cache = AnswerCache::new(4);
        let now = Instant::now();
        let soon = now + Duration::from_secs(5);
        lead(&cache, key("t"), now);
        let refused = Err(AuthError::InvalidToken(TokenRejection::Inactive));
        cache.complete(key("t"), &refused, now, None, Some(soon));
        assert!(matches!(
            cache.lookup(key("t"), now, 0),
            Lookup::Refused(TokenRejection::Inactive)
        ));
        assert!(matches!(cache.lookup(key("t"), soon, 0), Lookup::Lead(..)));
        let down = Err(AuthError::KeysUnavailable {
            retry_after: Duration::from_secs(1),
        });
        cache.complete(key("t"), &down, now, None, Some(soon));
        assert!(matches!(cache.lookup(key("t"), now, 0), Lookup::Lead(..)));
    }

    #[test]
    fn capacity_is_bounded() {
        let cache = AnswerCache::new(2);
        let now = Instant::now();
        let later = now + Duration::from_secs(10);
        for t in ["a", "b", "c"] {
            lead(&cache, key(t), now);
            cache.complete(key(t), &Ok(access(100)), now, Some(later), None);
        }
        let (accepted, refused, in_flight) = cache.sizes();
        assert!(accepted <= 2 && refused == 0 && in_flight == 0);
        assert!(matches!(
            cache.lookup(key("c"), now, 0),
            Lookup::Accepted(_)
        ));
        let off = AnswerCache::new(0);
        lead(&off, key("a"), now);
        off.complete(key("a"), &Ok(access(100)), now, Some(later), None);
        assert!(matches!(off.lookup(key("a"), now, 0), Lookup::Lead(..)));
    }
}
