//! Binds each MCP session to the principal that created it, and bounds how
//! many sessions there are.
//!
//! A session id is not a credential (the MCP specification forbids using it as
//! one), but a leaked id must not let a different user ride on someone else's
//! session. The first authenticated response that hands out an
//! `Mcp-Session-Id` records (issuer, subject, client id); any later request
//! with that id from another principal, or with an id that has no binding, is
//! told the session does not exist.
//!
//! Each session costs memory in the MCP layer until it is closed, so a slot is
//! reserved *before* the MCP layer creates one: at most
//! [`SessionLimits::per_principal`] per principal and [`SessionLimits::total`]
//! in all. A slot is freed when its session ends: on `DELETE`, when the MCP
//! layer reports it closed (idle timeout, see [`SessionHook`]), or at the
//! latest when its binding has been unused for the binding TTL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::claims::Principal;

/// Default cap on the sessions one principal holds open. A person runs a few
/// MCP clients (an IDE, a CLI, an inspector), each with one session at a
/// time; 16 leaves room for reconnects that never sent `DELETE` while the old
/// sessions wait for their idle timeout, and stops one token from filling the
/// server's memory.
pub const DEFAULT_MAX_SESSIONS_PER_PRINCIPAL: usize = 16;

/// Default cap on all sessions. An idle rmcp session measured ~50 KiB
/// (5,000 sessions took the process from 21 MB to 273 MB), so 10,000 bounds
/// session memory at roughly 500 MB, and is far above what one server
/// instance serves in practice. Lower it on small machines.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;

/// The longest `Retry-After` a session refusal suggests: a slot can free up at
/// any moment (a client's `DELETE`), so clients are asked to look again soon.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How often, at most, a full sweep of expired bindings runs when the total
/// cap is reached (each is O(sessions)).
const FULL_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Caps on open MCP sessions.
///
/// ```
/// use mcpgate_auth::http::SessionLimits;
///
/// let limits = SessionLimits::default().with_per_principal(4).with_total(1_000);
/// assert_eq!((limits.per_principal, limits.total), (4, 1_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionLimits {
    /// Sessions one principal (issuer, subject, client id) may hold; more are
    /// answered `429` with `Retry-After`. Default
    /// [`DEFAULT_MAX_SESSIONS_PER_PRINCIPAL`]. Not applied without auth.
    pub per_principal: usize,
    /// Sessions in all; more are answered `503` with `Retry-After`. Default
    /// [`DEFAULT_MAX_SESSIONS`].
    pub total: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            per_principal: DEFAULT_MAX_SESSIONS_PER_PRINCIPAL,
            total: DEFAULT_MAX_SESSIONS,
        }
    }
}

impl SessionLimits {
    /// Sets [`per_principal`](Self::per_principal).
    #[must_use]
    pub fn with_per_principal(mut self, max: usize) -> Self {
        self.per_principal = max;
        self
    }

    /// Sets [`total`](Self::total).
    #[must_use]
    pub fn with_total(mut self, max: usize) -> Self {
        self.total = max;
        self
    }
}

/// Whether a request may use a session.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SessionAccess {
    /// The session is this principal's.
    Owned,
    /// The session belongs to someone else: answer 404.
    Foreign,
    /// No binding (never created here, ended, or expired): answer 404.
    Unknown,
}

/// Why a new session was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SessionRefusal {
    /// The principal holds its maximum: 429.
    PerPrincipal { retry_after: Duration },
    /// The server holds its maximum: 503.
    Total { retry_after: Duration },
}

struct Owner {
    /// `None` when auth is off: the session is only counted.
    principal: Option<Principal>,
    last_seen: Instant,
}

/// One principal's sessions and reservations.
#[derive(Default)]
struct Held {
    ids: Vec<Arc<str>>,
    pending: usize,
}

struct Inner {
    sessions: HashMap<Arc<str>, Owner>,
    by_principal: HashMap<Principal, Held>,
    /// Slots reserved for sessions being created.
    pending: usize,
    limits: SessionLimits,
    /// Bindings unused this long are forgotten (the MCP layer has closed the
    /// session by then: this is above its idle timeout).
    ttl: Duration,
    last_full_sweep: Option<Instant>,
    /// The soonest binding expiry seen by the last full sweep.
    soonest_expiry: Option<Instant>,
}

/// Session id → owner, plus the counts. A std mutex: every critical section
/// is a few map operations with no `.await` inside.
pub(crate) struct SessionOwners {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for SessionOwners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("SessionOwners")
            .field("sessions", &inner.sessions.len())
            .field("limits", &inner.limits)
            .finish_non_exhaustive()
    }
}

impl SessionOwners {
    pub(crate) fn new(ttl: Duration, limits: SessionLimits) -> Self {
        Self {
            inner: Mutex::new(Inner {
                sessions: HashMap::new(),
                by_principal: HashMap::new(),
                pending: 0,
                limits,
                ttl,
                last_full_sweep: None,
                soonest_expiry: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn configure(&self, ttl: Duration, limits: SessionLimits) {
        let mut inner = self.lock();
        inner.ttl = ttl;
        inner.limits = limits;
    }

    /// Who may use `session_id`; refreshes the binding of its owner.
    pub(crate) fn check(&self, session_id: &str, principal: &Principal) -> SessionAccess {
        let now = Instant::now();
        let mut inner = self.lock();
        let ttl = inner.ttl;
        let Some(owner) = inner.sessions.get_mut(session_id) else {
            return SessionAccess::Unknown;
        };
        if now.duration_since(owner.last_seen) >= ttl {
            inner.remove(session_id);
            return SessionAccess::Unknown;
        }
        if owner.principal.as_ref() == Some(principal) {
            owner.last_seen = now;
            SessionAccess::Owned
        } else {
            SessionAccess::Foreign
        }
    }

    /// Refreshes a binding without an ownership check (auth off).
    pub(crate) fn touch(&self, session_id: &str) {
        if let Some(owner) = self.lock().sessions.get_mut(session_id) {
            owner.last_seen = Instant::now();
        }
    }

    /// Reserves a slot for a session about to be created by `principal`
    /// (`None` without auth: only the total applies).
    pub(crate) fn reserve(
        self: &Arc<Self>,
        principal: Option<&Principal>,
    ) -> Result<Reservation, SessionRefusal> {
        let now = Instant::now();
        let mut inner = self.lock();
        if let Some(principal) = principal {
            let max = inner.limits.per_principal;
            if inner.held_by(principal) >= max {
                inner.expire_principal(principal, now);
                if inner.held_by(principal) >= max {
                    let retry_after = inner.principal_retry_after(principal, now);
                    return Err(SessionRefusal::PerPrincipal { retry_after });
                }
            }
        }
        if inner.sessions.len() + inner.pending >= inner.limits.total {
            inner.sweep_all(now, false);
            if inner.sessions.len() + inner.pending >= inner.limits.total {
                let retry_after = inner
                    .soonest_expiry
                    .map_or(MAX_RETRY_AFTER, |at| at.saturating_duration_since(now))
                    .min(MAX_RETRY_AFTER);
                return Err(SessionRefusal::Total { retry_after });
            }
        }
        inner.pending += 1;
        if let Some(principal) = principal {
            inner
                .by_principal
                .entry(principal.clone())
                .or_default()
                .pending += 1;
        }
        Ok(Reservation {
            owners: self.clone(),
            principal: principal.cloned(),
            released: false,
        })
    }

    /// Forgets a session (deleted, or closed by the MCP layer).
    pub(crate) fn forget(&self, session_id: &str) {
        self.lock().remove(session_id);
    }

    fn release(&self, principal: Option<&Principal>, bind_as: Option<&str>) {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.pending = inner.pending.saturating_sub(1);
        if let Some(p) = principal
            && let Some(held) = inner.by_principal.get_mut(p)
        {
            held.pending = held.pending.saturating_sub(1);
        }
        match bind_as {
            Some(id) if !inner.sessions.contains_key(id) => {
                // Amortised clean-up: sweep when the map has doubled since the last sweep.
                let len = inner.sessions.len();
                if len >= 1024 && len.is_power_of_two() {
                    inner.sweep_all(now, true);
                }
                let id: Arc<str> = id.into();
                if let Some(p) = principal {
                    inner
                        .by_principal
                        .entry(p.clone())
                        .or_default()
                        .ids
                        .push(id.clone());
                }
                inner.sessions.insert(
                    id,
                    Owner {
                        principal: principal.cloned(),
                        last_seen: now,
                    },
                );
            }
            _ => {
                if let Some(p) = principal {
                    inner.drop_if_empty(p);
                }
            }
        }
    }

    #[cfg(test)]
    fn counts(&self) -> (usize, usize, usize) {
        let inner = self.lock();
        (
            inner.sessions.len(),
            inner.pending,
            inner.by_principal.len(),
        )
    }
}

impl Inner {
    fn held_by(&self, principal: &Principal) -> usize {
        self.by_principal
            .get(principal)
            .map_or(0, |h| h.ids.len() + h.pending)
    }

    fn remove(&mut self, session_id: &str) {
        let Some(owner) = self.sessions.remove(session_id) else {
            return;
        };
        if let Some(principal) = owner.principal
            && let Some(held) = self.by_principal.get_mut(&principal)
        {
            held.ids.retain(|id| &**id != session_id);
            self.drop_if_empty(&principal);
        }
    }

    fn drop_if_empty(&mut self, principal: &Principal) {
        if self
            .by_principal
            .get(principal)
            .is_some_and(|h| h.ids.is_empty() && h.pending == 0)
        {
            self.by_principal.remove(principal);
        }
    }

    fn expired(&self, id: &str, now: Instant) -> bool {
        self.sessions
            .get(id)
            .is_none_or(|o| now.duration_since(o.last_seen) >= self.ttl)
    }

    fn expire_principal(&mut self, principal: &Principal, now: Instant) {
        let expired: Vec<Arc<str>> = self
            .by_principal
            .get(principal)
            .map(|h| {
                h.ids
                    .iter()
                    .filter(|id| self.expired(id, now))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for id in expired {
            self.remove(&id);
        }
    }

    fn principal_retry_after(&self, principal: &Principal, now: Instant) -> Duration {
        self.by_principal
            .get(principal)
            .and_then(|h| {
                h.ids
                    .iter()
                    .filter_map(|id| self.sessions.get(id))
                    .map(|o| (o.last_seen + self.ttl).saturating_duration_since(now))
                    .min()
            })
            .unwrap_or(MAX_RETRY_AFTER)
            .min(MAX_RETRY_AFTER)
    }

    /// Drops every expired binding (at most once per [`FULL_SWEEP_INTERVAL`]
    /// unless `force`d) and notes the soonest remaining expiry.
    fn sweep_all(&mut self, now: Instant, force: bool) {
        if !force
            && self
                .last_full_sweep
                .is_some_and(|at| now.duration_since(at) < FULL_SWEEP_INTERVAL)
        {
            return;
        }
        self.last_full_sweep = Some(now);
        let ttl = self.ttl;
        let expired: Vec<Arc<str>> = self
            .sessions
            .iter()
            .filter(|(_, o)| now.duration_since(o.last_seen) >= ttl)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.remove(&id);
        }
        self.soonest_expiry = self.sessions.values().map(|o| o.last_seen + ttl).min();
    }
}

/// A slot held for a session being created; released on drop unless
/// [`bind`](Self::bind) turned it into a binding.
pub(crate) struct Reservation {
    owners: Arc<SessionOwners>,
    principal: Option<Principal>,
    released: bool,
}

impl Reservation {
    /// The MCP layer created `session_id`: bind it to the reserving principal.
    pub(crate) fn bind(mut self, session_id: &str) {
        self.released = true;
        self.owners
            .release(self.principal.as_ref(), Some(session_id));
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.released {
            self.owners.release(self.principal.as_ref(), None);
        }
    }
}

/// Tells the session bindings of a [`ProtectedEndpoint`](super::ProtectedEndpoint)
/// that the MCP layer closed a session on its own (idle timeout, transport
/// error), so the session's slot is freed at once rather than when its
/// binding expires. Cheap to clone.
///
/// ```
/// use mcpgate_auth::{McpUrl, http::ProtectedEndpoint};
///
/// let endpoint = ProtectedEndpoint::unauthenticated(McpUrl::parse("http://127.0.0.1:8000/mcp").unwrap());
/// let hook = endpoint.session_hook();
/// // ... in the MCP layer's session manager, when a session ends:
/// hook.session_closed("3f2a…");
/// ```
#[derive(Clone)]
pub struct SessionHook {
    pub(crate) owners: Arc<SessionOwners>,
}

impl SessionHook {
    /// The MCP layer closed `session_id`: forget its binding, free its slot.
    pub fn session_closed(&self, session_id: &str) {
        self.owners.forget(session_id);
    }
}

impl std::fmt::Debug for SessionHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHook").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::AccessToken;

    fn principal(sub: &str) -> Principal {
        AccessToken::for_testing(serde_json::json!({"sub": sub})).principal()
    }

    fn owners(per_principal: usize, total: usize) -> Arc<SessionOwners> {
        Arc::new(SessionOwners::new(
            Duration::from_secs(60),
            SessionLimits::default()
                .with_per_principal(per_principal)
                .with_total(total),
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn slots_follow_reservations_bindings_and_expiry() {
        let owners = owners(2, 3);
        let (alice, bob) = (principal("alice"), principal("bob"));
        owners.reserve(Some(&alice)).unwrap().bind("a1");
        let pending = owners.reserve(Some(&alice)).unwrap();
        assert!(matches!(
            owners.reserve(Some(&alice)),
            Err(SessionRefusal::PerPrincipal { .. })
        ));
        drop(pending); // creation failed: the slot comes back
        owners.reserve(Some(&alice)).unwrap().bind("a2");
        owners.reserve(Some(&bob)).unwrap().bind("b1");
        assert!(matches!(
            owners.reserve(Some(&principal("carol"))),
            Err(SessionRefusal::Total { .. })
        ));
        assert_eq!(owners.check("a1", &alice), SessionAccess::Owned);
        assert_eq!(owners.check("a1", &bob), SessionAccess::Foreign);
        assert_eq!(owners.check("zz", &bob), SessionAccess::Unknown);

        owners.forget("b1");
        owners
            .reserve(Some(&principal("carol")))
            .unwrap()
            .bind("c1");

        // Unused bindings expire; their slots come back.
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(owners.check("a1", &alice), SessionAccess::Unknown);
        owners.reserve(Some(&alice)).unwrap().bind("a3");
        owners.reserve(Some(&alice)).unwrap().bind("a4");
        assert_eq!(owners.counts(), (3, 0, 2));
    }
}
