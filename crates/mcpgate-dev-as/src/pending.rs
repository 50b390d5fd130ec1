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
const MAX_ENTRIES: usize = 10_000;

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
    consents: Mutex<HashMap<String, PendingConsent>>,
    codes: Mutex<HashMap<String, AuthCode>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Maps of plain data stay consistent even if a holder panicked.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pending {
    /// Stores a consent request; returns its single-use CSRF token, or `None` when full.
    pub(crate) fn insert_consent(&self, consent: PendingConsent) -> Option<String> {
        let mut consents = lock(&self.consents);
        let now = Instant::now();
        consents.retain(|_, c| c.expires_at > now);
        if consents.len() >= MAX_ENTRIES {
            return None;
        }
        let token = random_token();
        consents.insert(token.clone(), consent);
        Some(token)
    }

    /// Removes and returns the consent request bound to `csrf_token`, if still valid.
    pub(crate) fn take_consent(&self, csrf_token: &str) -> Option<PendingConsent> {
        lock(&self.consents)
            .remove(csrf_token)
            .filter(|c| c.expires_at > Instant::now())
    }

    /// Stores an authorization code; returns the code, or `None` when full.
    pub(crate) fn insert_code(&self, code: AuthCode) -> Option<String> {
        let mut codes = lock(&self.codes);
        let now = Instant::now();
        // Spent codes are kept until they expire so that a replay is recognized.
        codes.retain(|_, c| c.expires_at > now);
        if codes.len() >= MAX_ENTRIES {
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
