//! The upstream connections, one per principal (or one for all): started on
//! first use, capped in number, stopped when idle, and restarted with
//! backoff after a crash.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use mcpgate_auth::AccessToken;
use tokio::time::Instant;

use crate::config::{GatewayConfig, Isolation, MAX_RESTART_BACKOFF, UpstreamProtocol};
use crate::upstream::{Connection, Era};

/// What is known about the upstream's 2026-07-28 support.
const SERVES_UNKNOWN: u8 = 0;
const SERVES_YES: u8 = 1;
const SERVES_NO: u8 = 2;

/// Who an upstream belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum PrincipalKey {
    /// Everyone (`Isolation::Shared`).
    Shared,
    /// A verified caller: (issuer, subject, client id).
    Principal {
        issuer: String,
        subject: String,
        client_id: Option<String>,
    },
    /// A caller without a token (an unauthenticated gateway).
    Anonymous,
}

impl PrincipalKey {
    pub(crate) fn for_caller(isolation: Isolation, token: Option<&AccessToken>) -> Self {
        match (isolation, token) {
            (Isolation::Shared, _) => Self::Shared,
            (Isolation::PerPrincipal, Some(t)) => Self::Principal {
                issuer: t.issuer_id().to_owned(),
                subject: t.subject().to_owned(),
                client_id: t.client_id().map(str::to_owned),
            },
            (Isolation::PerPrincipal, None) => Self::Anonymous,
        }
    }

    /// How logs name the principal: its subject (never a token).
    fn label(&self) -> String {
        match self {
            Self::Shared => "(shared)".to_owned(),
            Self::Principal { subject, .. } => subject.clone(),
            Self::Anonymous => "(anonymous)".to_owned(),
        }
    }
}

/// Why no upstream could be had.
#[derive(Debug)]
pub(crate) enum AcquireError {
    /// The child cap is reached and this principal has none.
    AtCapacity,
    /// Starting the upstream failed, or it is in its restart backoff.
    Unavailable(String),
}

/// Every upstream connection.
///
/// A principal has up to two: the session-era one, and — for its
/// 2026-07-28 calls, when the upstream serves that revision — a 2026-07-28
/// one (for a stdio upstream, a second child). Both count as one against
/// the cap and are stopped together.
pub(crate) struct Pool {
    config: Arc<GatewayConfig>,
    http: reqwest::Client,
    slots: Mutex<HashMap<PrincipalKey, Arc<Slot>>>,
    /// Whether the upstream serves 2026-07-28 (`SERVES_*`), learned from
    /// the first 2026-07-28 connection; once it is known not to, no other
    /// is tried.
    serves_2026: AtomicU8,
}

struct Slot {
    key: PrincipalKey,
    label: String,
    state: tokio::sync::Mutex<SlotState>,
    in_flight: AtomicUsize,
    last_used: Mutex<Instant>,
}

#[derive(Default)]
struct SlotState {
    /// The session-era connection.
    live: Option<Arc<Connection>>,
    /// The 2026-07-28 connection.
    stateless: Option<Arc<Connection>>,
    /// Failures (crashes, failed starts) since the last successful call.
    failures: u32,
    retry_at: Option<Instant>,
}

impl Pool {
    pub(crate) fn new(config: Arc<GatewayConfig>) -> Self {
        Self {
            config,
            http: crate::upstream::http_client(),
            slots: Mutex::new(HashMap::new()),
            serves_2026: AtomicU8::new(SERVES_UNKNOWN),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<PrincipalKey, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The HTTP client for this upstream (keeps its connections alive).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Whether the upstream is known to serve 2026-07-28 (a 2026-07-28
    /// connection to it has been opened).
    pub(crate) fn serves_2026(&self) -> bool {
        self.serves_2026.load(Ordering::Relaxed) == SERVES_YES
    }

    /// Whether `key` could get an upstream now without exceeding the cap.
    pub(crate) fn admits(&self, key: &PrincipalKey) -> bool {
        let slots = self.slots();
        slots.contains_key(key) || slots.len() < self.config.max_children
    }

    /// Live upstreams (for tests and metrics).
    pub(crate) fn len(&self) -> usize {
        self.slots().len()
    }

    /// Installs an already-open connection (the start-up probe, kept when
    /// the upstream is shared).
    pub(crate) fn adopt(&self, key: PrincipalKey, connection: Connection) {
        let slot = Arc::new(Slot {
            key: key.clone(),
            label: key.label(),
            state: tokio::sync::Mutex::new(SlotState {
                live: Some(Arc::new(connection)),
                ..SlotState::default()
            }),
            in_flight: AtomicUsize::new(0),
            last_used: Mutex::new(Instant::now()),
        });
        self.slots().insert(key, slot);
    }

    /// The connection for `key` and `era`, started if needed. The lease
    /// keeps the upstream from being reaped as idle while the call runs.
    ///
    /// [`Era::Stateless`] (a 2026-07-28 caller) gets the principal's
    /// 2026-07-28 connection when the upstream serves the revision (and
    /// [`UpstreamProtocol::Auto`] allows it), else its session-era one.
    ///
    /// `credential` is the principal's current on-behalf-of token (HTTP
    /// upstreams that exchange the caller's token): a live connection sends
    /// it from now on, a new one starts with it.
    pub(crate) async fn acquire_with(
        &self,
        key: PrincipalKey,
        credential: Option<Arc<str>>,
        era: Era,
    ) -> Result<Lease, AcquireError> {
        let slot = {
            let mut slots = self.slots();
            if let Some(slot) = slots.get(&key) {
                slot.clone()
            } else {
                if slots.len() >= self.config.max_children {
                    return Err(AcquireError::AtCapacity);
                }
                let slot = Arc::new(Slot {
                    key: key.clone(),
                    label: key.label(),
                    state: tokio::sync::Mutex::new(SlotState::default()),
                    in_flight: AtomicUsize::new(0),
                    last_used: Mutex::new(Instant::now()),
                });
                slots.insert(key, slot.clone());
                slot
            }
        };
        slot.in_flight.fetch_add(1, Ordering::SeqCst);
        let lease_slot = LeaseSlot(slot.clone());
        let stateless = era == Era::Stateless
            && self.config.protocol == UpstreamProtocol::Auto
            && self.serves_2026.load(Ordering::Relaxed) != SERVES_NO;
        // One start at a time per principal: concurrent first calls wait for it.
        let mut state = slot.state.lock().await;
        let current = if stateless {
            &mut state.stateless
        } else {
            &mut state.live
        };
        if let Some(live) = current {
            if !live.is_closed() {
                if let Some(token) = &credential {
                    live.refresh_credential(token.clone());
                }
                return Ok(Lease {
                    connection: live.clone(),
                    slot: lease_slot,
                });
            }
            tracing::warn!(subject = %slot.label, pid = live.pid(), "upstream exited; restarting it on this request");
            *current = None;
            state.failures += 1;
            state.retry_at = Some(Instant::now() + backoff(state.failures));
        }
        if let Some(at) = state.retry_at
            && at > Instant::now()
        {
            let wait = at - Instant::now();
            return Err(AcquireError::Unavailable(format!(
                "the upstream MCP server failed {} time(s) in a row; next restart in {} ms",
                state.failures,
                wait.as_millis().max(1)
            )));
        }
        let opened = tokio::time::timeout(
            self.config.connect_timeout,
            Box::pin(Connection::open(
                &self.config.upstream,
                &slot.label,
                &slot.key,
                &self.http,
                credential,
                if stateless {
                    Era::Stateless
                } else {
                    Era::Session
                },
            )),
        )
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the upstream did not complete the MCP handshake within {} s",
                self.config.connect_timeout.as_secs()
            ))
        });
        let connection = match opened {
            Ok(connection) => Arc::new(connection),
            Err(problem) => {
                state.failures += 1;
                state.retry_at = Some(Instant::now() + backoff(state.failures));
                tracing::warn!(subject = %slot.label, failures = state.failures, "cannot start the upstream: {problem}");
                return Err(AcquireError::Unavailable(problem));
            }
        };
        tracing::info!(subject = %slot.label, pid = connection.pid(), stateless = connection.is_stateless(), "upstream started");
        if !stateless {
            state.live = Some(connection.clone());
        } else if connection.is_stateless() {
            self.serves_2026.store(SERVES_YES, Ordering::Relaxed);
            state.stateless = Some(connection.clone());
        } else {
            // The upstream answered `server/discover` as a session-era server
            // and completed `initialize` instead: this is a session-era
            // connection, and 2026-07-28 callers are bridged from now on.
            if self.serves_2026.swap(SERVES_NO, Ordering::Relaxed) != SERVES_NO {
                tracing::info!(
                    "the upstream does not serve MCP 2026-07-28; the gateway bridges 2026-07-28 callers over its session-era connection"
                );
            }
            match &state.live {
                Some(live) if !live.is_closed() => {
                    let live = live.clone();
                    connection.close().await;
                    return Ok(Lease {
                        connection: live,
                        slot: lease_slot,
                    });
                }
                _ => state.live = Some(connection.clone()),
            }
        }
        Ok(Lease {
            connection,
            slot: lease_slot,
        })
    }

    /// Stops the upstreams idle for longer than the idle timeout.
    async fn reap_idle(&self) {
        let idle = self.config.idle_timeout;
        let now = Instant::now();
        let expired: Vec<Arc<Slot>> = {
            let mut slots = self.slots();
            let keys: Vec<PrincipalKey> = slots
                .iter()
                .filter(|(_, s)| {
                    s.in_flight.load(Ordering::SeqCst) == 0
                        && now
                            .duration_since(*s.last_used.lock().unwrap_or_else(|e| e.into_inner()))
                            >= idle
                })
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter().filter_map(|k| slots.remove(k)).collect()
        };
        for slot in expired {
            let connections = slot.state.lock().await.take_all();
            for live in connections {
                tracing::info!(subject = %slot.label, pid = live.pid(), "stopping idle upstream");
                live.close().await;
            }
        }
    }

    /// Runs the idle reaper until the pool is dropped.
    pub(crate) fn spawn_reaper(self: &Arc<Self>) {
        let weak: Weak<Self> = Arc::downgrade(self);
        let period = (self.config.idle_timeout / 4)
            .clamp(Duration::from_millis(100), Duration::from_secs(30));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(pool) = weak.upgrade() else { return };
                pool.reap_idle().await;
            }
        });
    }

    /// Stops every upstream (graceful shutdown, after the HTTP drain).
    pub(crate) async fn shutdown(&self) {
        let slots: Vec<Arc<Slot>> = self.slots().drain().map(|(_, s)| s).collect();
        let closes = slots.into_iter().map(|slot| async move {
            let connections = slot.state.lock().await.take_all();
            for live in connections {
                live.close().await;
            }
        });
        futures::future::join_all(closes).await;
    }
}

impl SlotState {
    /// Both connections, taken out of the slot (to stop them).
    fn take_all(&mut self) -> impl Iterator<Item = Arc<Connection>> + use<> {
        self.live.take().into_iter().chain(self.stateless.take())
    }
}

/// Backoff before restart attempt `failures`: none for the first, then
/// 250 ms doubling up to [`MAX_RESTART_BACKOFF`].
fn backoff(failures: u32) -> Duration {
    if failures <= 1 {
        return Duration::ZERO;
    }
    let exp = (failures - 2).min(16);
    (Duration::from_millis(250) * (1u32 << exp)).min(MAX_RESTART_BACKOFF)
}

/// A connection in use by one call.
pub(crate) struct Lease {
    connection: Arc<Connection>,
    slot: LeaseSlot,
}

impl Lease {
    pub(crate) fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The call got an answer: the upstream is healthy again.
    pub(crate) async fn succeeded(&self) {
        let mut state = self.slot.0.state.lock().await;
        state.failures = 0;
        state.retry_at = None;
    }
}

struct LeaseSlot(Arc<Slot>);

impl Drop for LeaseSlot {
    fn drop(&mut self) {
        *self.0.last_used.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_at_zero_and_is_capped() {
        assert_eq!(backoff(1), Duration::ZERO);
        assert_eq!(backoff(2), Duration::from_millis(250));
        assert_eq!(backoff(3), Duration::from_millis(500));
        assert_eq!(backoff(40), MAX_RESTART_BACKOFF);
    }

    #[test]
    fn principals_differ_by_issuer_subject_and_client() {
        let token = |sub: &str, client: &str| {
            AccessToken::for_testing(serde_json::json!({
                "sub": sub, "iss": "https://as.example", "client_id": client,
                "aud": "res", "exp": 4_000_000_000u64,
            }))
        };
        let a = PrincipalKey::for_caller(Isolation::PerPrincipal, Some(&token("u1", "c1")));
        let b = PrincipalKey::for_caller(Isolation::PerPrincipal, Some(&token("u2", "c1")));
        let c = PrincipalKey::for_caller(Isolation::PerPrincipal, Some(&token("u1", "c2")));
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            a,
            PrincipalKey::for_caller(Isolation::PerPrincipal, Some(&token("u1", "c1")))
        );
        assert_eq!(
            PrincipalKey::for_caller(Isolation::Shared, Some(&token("u1", "c1"))),
            PrincipalKey::Shared
        );
    }
}
