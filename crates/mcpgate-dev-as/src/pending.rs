//! Short-lived authorization state, kept in memory: consent requests waiting
//! for the user's decision (keyed by their CSRF token) and authorization codes.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::secret::random_token;

/// How long the consent page stays usable; also bounds the CSRF token's life.
pub(crate) const CONSENT_TTL: Duration = Duration::from_secs(10 * 60);
/// RFC 6749 §4.1.2 recommends at most ten minutes.
pub(crate) const CODE_TTL: Duration = Duration::from_secs(10 * 60);
/// A dev server has one user; this only stops a runaway script from eating memory.
const MAX_CODES: usize = 10_000;
/// Consent pages one client may have open at once; opening one more forgets
/// that client's oldest. A person has a handful open at most.
pub(crate) const MAX_CONSENTS_PER_CLIENT: usize = 16;
/// Consent pages open at once across all clients; past it the oldest is
/// forgotten, so a flood through one client never locks the others out.
pub(crate) const MAX_CONSENTS: usize = 4096;

/// A validated authorization request shown on the consent page.
#[derive(Debug, Clone)]
pub(crate) struct PendingConsent {
    pub(crate) client_id: String,
    /// The registered redirect URI the request designated.
    pub(crate) redirect_uri: String,
    /// Whether the request carried `redirect_uri` (then the token request must too).
    pub(crate) redirect_uri_in_request: bool,
    pub(crate) state: Option<String>,
    pub(crate) code_challenge: String,
    pub(crate) scopes: Vec<String>,
    expires_at: Instant,
    /// Insertion order, to find the oldest.
    seq: u64,
}

impl PendingConsent {
    pub(crate) fn new(
        client_id: String,
        redirect_uri: String,
        redirect_uri_in_request: bool,
        state: Option<String>,
        code_challenge: String,
        scopes: Vec<String>,
    ) -> Self {
        Self {
            client_id,
            redirect_uri,
            redirect_uri_in_request,
            state,
            code_challenge,
            scopes,
            expires_at: Instant::now() + CONSENT_TTL,
            seq: 0,
        }
    }
}

/// An issued authorization code and what it was issued for.
#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) redirect_uri_in_request: bool,
    pub(crate) code_challenge: String,
    pub(crate) subject: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) session_id: String,
    expires_at: Instant,
    used: bool,
    /// The refresh-token family issued from this code, revoked if the code is replayed.
    family_id: Option<String>,
}

impl AuthCode {
    pub(crate) fn new(consent: PendingConsent, subject: String, session_id: String) -> Self {
        Self {
            client_id: consent.client_id,
            redirect_uri: consent.redirect_uri,
            redirect_uri_in_request: consent.redirect_uri_in_request,
            code_challenge: consent.code_challenge,
            subject,
            scopes: consent.scopes,
            session_id,
            expires_at: Instant::now() + CODE_TTL,
            used: false,
            family_id: None,
        }
    }
}

/// What presenting an authorization code found.
#[derive(Debug)]
pub(crate) enum Redeemed {
    /// First presentation: the code is now spent.
    Fresh(AuthCode),
    /// The code was already spent; carries the family it issued, if any.
    Replayed(Option<String>),
    /// Unknown or expired.
    Invalid,
}

/// Pending consents and authorization codes.
///
/// std `Mutex`es: every operation is a map lookup, never held across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    consents: Mutex<Consents>,
    codes: Mutex<HashMap<String, AuthCode>>,
}

/// Pending consents by CSRF token, and a counter to order them.
#[derive(Debug, Default)]
struct Consents {
    by_token: HashMap<String, PendingConsent>,
    next_seq: u64,
}

impl Consents {
    /// Forgets the oldest consent for which `select` holds.
    fn evict_oldest(&mut self, select: impl Fn(&PendingConsent) -> bool) {
        let oldest = self
            .by_token
            .iter()
            .filter(|(_, c)| select(c))
            .min_by_key(|(_, c)| c.seq)
            .map(|(t, _)| t.clone());
        if let Some(token) = oldest {
            self.by_token.remove(&token);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Maps of plain data stay consistent even if a holder panicked.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pending {
    /// Stores a consent request and returns its single-use CSRF token. Never
    /// refuses: past [`MAX_CONSENTS_PER_CLIENT`] the client's oldest pending
    /// consent is forgotten, past [`MAX_CONSENTS`] the oldest of all.
    pub(crate) fn insert_consent(&self, mut consent: PendingConsent) -> String {
        let mut consents = lock(&self.consents);
        let now = Instant::now();
        consents.by_token.retain(|_, c| c.expires_at > now);
        let same_client = consents
            .by_token
            .values()
            .filter(|c| c.client_id == consent.client_id)
            .count();
        if same_client >= MAX_CONSENTS_PER_CLIENT {
            consents.evict_oldest(|c| c.client_id == consent.client_id);
        }
        if consents.by_token.len() >= MAX_CONSENTS {
            consents.evict_oldest(|_| true);
        }
        consent.seq = consents.next_seq;
        consents.next_seq += 1;
        let token = random_token();
        consents.by_token.insert(token.clone(), consent);
        token
    }

    /// Removes and returns the consent request bound to `csrf_token`, if still valid.
    pub(crate) fn take_consent(&self, csrf_token: &str) -> Option<PendingConsent> {
        lock(&self.consents)
            .by_token
            .remove(csrf_token)
            .filter(|c| c.expires_at > Instant::now())
    }

    /// Stores an authorization code; returns the code, or `None` when full.
    pub(crate) fn insert_code(&self, code: AuthCode) -> Option<String> {
        let mut codes = lock(&self.codes);
        let now = Instant::now();
        // Spent codes are kept until they expire so that a replay is recognized.
        codes.retain(|_, c| c.expires_at > now);
        if codes.len() >= MAX_CODES {
            return None;
        }
        let value = random_token();
        codes.insert(value.clone(), code);
        Some(value)
    }

    /// Spends `code`. Any presentation spends it, even one that later fails the
    /// client, redirect or PKCE checks: a code is worth one guess.
    pub(crate) fn redeem_code(&self, code: &str) -> Redeemed {
        let mut codes = lock(&self.codes);
        match codes.get_mut(code) {
            Some(c) if c.expires_at <= Instant::now() => Redeemed::Invalid,
            Some(c) if c.used => Redeemed::Replayed(c.family_id.clone()),
            Some(c) => {
                c.used = true;
                Redeemed::Fresh(c.clone())
            }
            None => Redeemed::Invalid,
        }
    }

    /// Records which refresh-token family `code` issued.
    pub(crate) fn set_code_family(&self, code: &str, family_id: String) {
        if let Some(c) = lock(&self.codes).get_mut(code) {
            c.family_id = Some(family_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(client_id: &str) -> PendingConsent {
        PendingConsent::new(
            client_id.to_owned(),
            "http://127.0.0.1:7777/cb".to_owned(),
            true,
            None,
            "x".repeat(43),
            vec!["openid".to_owned()],
        )
    }

    /// The attack: 10,000 pending requests through one client used to
    /// fill the one global table and lock every client out.
    #[test]
    fn a_flood_through_one_client_does_not_lock_out_another() {
        let pending = Pending::default();
        let first = pending.insert_consent(consent("m2m_flood"));
        let mut last = String::new();
        for _ in 0..10_000 {
            last = pending.insert_consent(consent("m2m_flood"));
        }
        assert_eq!(
            lock(&pending.consents).by_token.len(),
            MAX_CONSENTS_PER_CLIENT,
            "one client holds at most its own share"
        );
        let other = pending.insert_consent(consent("m2m_victim"));
        assert_eq!(
            pending.take_consent(&other).unwrap().client_id,
            "m2m_victim"
        );
        // The flooding client's newest page still works, its oldest is gone.
        assert!(pending.take_consent(&last).is_some());
        assert!(pending.take_consent(&first).is_none());
    }

    #[test]
    fn the_global_table_is_bounded_and_forgets_the_oldest() {
        let pending = Pending::default();
        let clients = MAX_CONSENTS / MAX_CONSENTS_PER_CLIENT + 10;
        let first = pending.insert_consent(consent("m2m_0"));
        for i in 0..clients {
            for _ in 0..MAX_CONSENTS_PER_CLIENT {
                pending.insert_consent(consent(&format!("m2m_{i}")));
            }
            assert!(lock(&pending.consents).by_token.len() <= MAX_CONSENTS);
        }
        assert_eq!(lock(&pending.consents).by_token.len(), MAX_CONSENTS);
        assert!(pending.take_consent(&first).is_none());
        let fresh = pending.insert_consent(consent("m2m_new"));
        assert!(pending.take_consent(&fresh).is_some());
    }
}
