//! Binds each MCP session to the principal that created it.
//!
//! A session id is not a credential (the MCP specification forbids using it as
//! one), but a leaked id must not let a different user ride on someone else's
//! session. The first authenticated response that hands out an
//! `Mcp-Session-Id` records (issuer, subject, client id); any later request
//! with that id from another principal is told the session does not exist.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::claims::Principal;

/// Whether a request may use a session.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SessionAccess {
    /// The session is this principal's, or unknown to us (the MCP layer decides).
    Allowed,
    /// The session belongs to someone else: answer 404.
    Foreign,
}

struct Owner {
    principal: Principal,
    last_seen: Instant,
}

/// Session id → owner. A std mutex: every critical section is a map operation
/// with no `.await` inside.
pub(crate) struct SessionOwners {
    owners: Mutex<HashMap<String, Owner>>,
    /// Entries unused this long are forgotten (the MCP layer has expired the
    /// session by then: this is a multiple of its idle timeout).
    forget_after: Duration,
}

impl SessionOwners {
    pub(crate) fn new(forget_after: Duration) -> Self {
        Self {
            owners: Mutex::new(HashMap::new()),
            forget_after,
        }
    }

    pub(crate) fn check(&self, session_id: &str, principal: &Principal) -> SessionAccess {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        match owners.get_mut(session_id) {
            Some(owner) if &owner.principal == principal => {
                owner.last_seen = Instant::now();
                SessionAccess::Allowed
            }
            Some(_) => SessionAccess::Foreign,
            None => SessionAccess::Allowed,
        }
    }

    pub(crate) fn bind(&self, session_id: &str, principal: Principal) {
        let now = Instant::now();
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        // Amortised clean-up: sweep when the map has doubled since the last sweep.
        if owners.len() >= 1024 && owners.len().is_power_of_two() {
            let forget_after = self.forget_after;
            owners.retain(|_, o| now.duration_since(o.last_seen) < forget_after);
        }
        owners.entry(session_id.to_owned()).or_insert(Owner {
            principal,
            last_seen: now,
        });
    }

    pub(crate) fn forget(&self, session_id: &str) {
        self.owners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(session_id);
    }
}
