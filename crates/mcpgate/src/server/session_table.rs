//! What the session-era fast path needs to know about sessions: which exist,
//! the protocol version each negotiated, whether rmcp holds it yet, and when
//! it was last busy.
//!
//! **Lazy sessions.** An rmcp session costs about 50 KiB (five channels and
//! three tasks, `bench/analysis.md`). The fast path answers `initialize`
//! itself and records the session here, with the client's `initialize`
//! parameters, and no rmcp session exists until a request needs one (a GET
//! stream, a tool that needs the peer, any method the fast path does not
//! answer). Then rmcp finds the id unknown and restores it from this table,
//! which is its [`SessionStore`]: rmcp replays the stored `initialize` and
//! the session continues under the same id. A lazy session idles out here
//! after the idle timeout (reported to the guard's bindings, like rmcp's).
//!
//! **rmcp's idle clock.** rmcp closes a session that has no traffic for its
//! idle timeout: a session whose calls all take the fast path would look idle
//! to rmcp and be closed under an active client. So the fast path takes a
//! request of a session rmcp holds only while rmcp saw that session within
//! half the idle timeout; the next request after that goes through rmcp,
//! which resets rmcp's clock (one request per half timeout, 15 minutes by
//! default).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::Stream;
use mcpgate_auth::http::SessionHook;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, InitializeRequestParams, ProtocolVersion,
    ServerJsonRpcMessage, ServerResult,
};
use rmcp::transport::streamable_http_server::session::store::{
    SessionState, SessionStore, SessionStoreError,
};
use rmcp::transport::streamable_http_server::session::{
    EventStore, RestoreOutcome, ServerSseMessage, SessionId, SessionManager,
};

/// How often, at most, expired lazy sessions are looked for.
const SWEEP_EVERY_MS: u64 = 1000;

/// The sessions, as the fast path sees them.
pub(super) struct SessionTable {
    sessions: RwLock<HashMap<SessionId, Entry>>,
    /// The clock the `*_ms` stamps count from.
    epoch: Instant,
    idle_timeout: Duration,
    last_sweep_ms: AtomicU64,
    /// Frees a closed session's binding in the guard.
    hook: SessionHook,
}

struct Entry {
    version: ProtocolVersion,
    /// The client's `initialize` parameters, for rmcp to restore the session.
    init: Option<InitializeRequestParams>,
    /// No rmcp session exists (yet) for this id.
    lazy: bool,
    /// Lazy: when a request last used the session. Otherwise: when rmcp last
    /// handled one of its messages. Milliseconds after `epoch`.
    stamp_ms: AtomicU64,
}

impl SessionTable {
    /// A table for sessions that idle out after `idle_timeout`; `hook` hears
    /// of the lazy ones that do.
    pub(super) fn new(idle_timeout: Duration, hook: SessionHook) -> Arc<Self> {
        Arc::new(Self {
            sessions: RwLock::default(),
            epoch: Instant::now(),
            idle_timeout,
            last_sweep_ms: AtomicU64::new(0),
            hook,
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn age(&self, entry: &Entry, now: u64) -> Duration {
        Duration::from_millis(now.saturating_sub(entry.stamp_ms.load(Ordering::Relaxed)))
    }

    /// The negotiated version of session `id` if the fast path may answer
    /// it: a live lazy session (whose clock this use resets), or one rmcp
    /// holds and saw recently enough (see the module docs).
    pub(super) fn fast_version(&self, id: &str) -> Option<ProtocolVersion> {
        let now = self.now_ms();
        self.maybe_sweep(now);
        let sessions = self.sessions.read().unwrap_or_else(|e| e.into_inner());
        let entry = sessions.get(id)?;
        let age = self.age(entry, now);
        if entry.lazy {
            if age >= self.idle_timeout {
                return None;
            }
            entry.stamp_ms.store(now, Ordering::Relaxed);
            return Some(entry.version.clone());
        }
        (age < self.idle_timeout / 2).then(|| entry.version.clone())
    }

    /// Whether `id` is a live lazy session (no rmcp session behind it).
    pub(super) fn is_lazy(&self, id: &str) -> bool {
        let sessions = self.sessions.read().unwrap_or_else(|e| e.into_inner());
        sessions
            .get(id)
            .is_some_and(|e| e.lazy && self.age(e, self.now_ms()) < self.idle_timeout)
    }

    /// A session the fast path opened: no rmcp session yet.
    pub(super) fn open_lazy(
        &self,
        id: &SessionId,
        version: ProtocolVersion,
        init: InitializeRequestParams,
    ) {
        let now = self.now_ms();
        self.maybe_sweep(now);
        let entry = Entry {
            version,
            init: Some(init),
            lazy: true,
            stamp_ms: AtomicU64::new(now),
        };
        self.write().insert(id.clone(), entry);
    }

    /// Ends a lazy session (`DELETE`): forgotten here and by the guard.
    pub(super) fn close_lazy(&self, id: &str) -> bool {
        let removed = {
            let mut sessions = self.write();
            match sessions.get(id) {
                Some(entry) if entry.lazy => sessions.remove(id).is_some(),
                _ => false,
            }
        };
        if removed {
            self.hook.session_closed(id);
        }
        removed
    }

    /// rmcp now holds session `id`, which negotiated `version`.
    fn held_by_rmcp(&self, id: &SessionId, version: ProtocolVersion) {
        let now = self.now_ms();
        let mut sessions = self.write();
        let init = sessions.remove(id).and_then(|e| e.init);
        let entry = Entry {
            version,
            init,
            lazy: false,
            stamp_ms: AtomicU64::new(now),
        };
        sessions.insert(id.clone(), entry);
    }

    fn seen_by_rmcp(&self, id: &SessionId) {
        let sessions = self.sessions.read().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = sessions.get(id)
            && !entry.lazy
        {
            entry.stamp_ms.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    fn forget(&self, id: &str) {
        self.write().remove(id);
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<SessionId, Entry>> {
        self.sessions.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops lazy sessions idle for the idle timeout (at most once a second;
    /// the scan is a pass over the table).
    fn maybe_sweep(&self, now: u64) {
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < SWEEP_EVERY_MS
            || self
                .last_sweep_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let expired: Vec<SessionId> = {
            let mut sessions = self.write();
            let expired: Vec<SessionId> = sessions
                .iter()
                .filter(|(_, e)| e.lazy && self.age(e, now) >= self.idle_timeout)
                .map(|(id, _)| id.clone())
                .collect();
            for id in &expired {
                sessions.remove(id);
            }
            expired
        };
        for id in expired {
            tracing::debug!("a session idled out before it needed rmcp");
            self.hook.session_closed(&id);
        }
    }
}

/// The table as rmcp's [`SessionStore`]: what rmcp restores a lazy session
/// from (and where it records the sessions it opens itself).
pub(super) struct TableStore(pub(super) Arc<SessionTable>);

type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SessionStoreError>> + Send + 'a>>;

// `SessionStore` is an `async_trait` trait; these are its expanded signatures.
impl SessionStore for TableStore {
    fn load<'a, 'b, 'f>(&'a self, session_id: &'b str) -> StoreFuture<'f, Option<SessionState>>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        let table = &self.0;
        let sessions = table.sessions.read().unwrap_or_else(|e| e.into_inner());
        let state = sessions.get(session_id).and_then(|entry| {
            // An idled-out lazy session is gone, even before the sweep.
            let live = !entry.lazy || table.age(entry, table.now_ms()) < table.idle_timeout;
            live.then(|| entry.init.clone().map(SessionState::new))
                .flatten()
        });
        Box::pin(std::future::ready(Ok(state)))
    }

    fn store<'a, 'b, 'c, 'f>(
        &'a self,
        session_id: &'b str,
        state: &'c SessionState,
    ) -> StoreFuture<'f, ()>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        Self: 'f,
    {
        if let Some(entry) = self.0.write().get_mut(session_id) {
            entry.init = Some(state.initialize_params.clone());
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn delete<'a, 'b, 'f>(&'a self, session_id: &'b str) -> StoreFuture<'f, ()>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        self.0.forget(session_id);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A [`SessionManager`] that keeps a [`SessionTable`] up to date: a session
/// enters it when its `initialize` succeeds, is marked busy whenever rmcp
/// handles a message for it, and leaves it when rmcp closes it.
///
/// It also closes a race in rmcp 3.11's restore: `restore_session` makes the
/// session known before rmcp has replayed its `initialize`, and a concurrent
/// request that finds it known sends its message to a worker still waiting
/// for `initialize`, which then quits ("unexpected message … when get
/// initialize request"). While a restore runs, `has_session` says no, so a
/// concurrent request takes rmcp's restore path, which waits for the restore
/// in progress.
pub(super) struct RecordedSessions<M> {
    inner: M,
    table: Arc<SessionTable>,
    restoring: Mutex<HashSet<SessionId>>,
}

impl<M> RecordedSessions<M> {
    pub(super) fn new(inner: M, table: Arc<SessionTable>) -> Self {
        Self {
            inner,
            table,
            restoring: Mutex::default(),
        }
    }

    fn restoring(&self) -> std::sync::MutexGuard<'_, HashSet<SessionId>> {
        self.restoring.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn is_initialized_notification(message: &ClientJsonRpcMessage) -> bool {
    matches!(
        message,
        ClientJsonRpcMessage::Notification(n)
            if matches!(n.notification, ClientNotification::InitializedNotification(_))
    )
}

/// The version an `initialize` answer negotiated.
fn negotiated(response: &ServerJsonRpcMessage) -> Option<ProtocolVersion> {
    match response {
        ServerJsonRpcMessage::Response(r) => match &r.result {
            ServerResult::InitializeResult(init) => Some(init.protocol_version.clone()),
            _ => None,
        },
        _ => None,
    }
}

impl<M: SessionManager> SessionManager for RecordedSessions<M> {
    type Error = M::Error;
    type Transport = M::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.inner.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        let response = match self.inner.initialize_session(id, message).await {
            Ok(response) => response,
            Err(e) => {
                self.restoring().remove(id);
                return Err(e);
            }
        };
        if let Some(version) = negotiated(&response) {
            self.table.held_by_rmcp(id, version);
        }
        Ok(response)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        if self.restoring().contains(id) {
            return Ok(false);
        }
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.restoring().remove(id);
        self.table.forget(id);
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.table.seen_by_rmcp(id);
        self.inner.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.table.seen_by_rmcp(id);
        // The replayed `notifications/initialized` ends a restore.
        let ends_restore = is_initialized_notification(&message);
        let result = self.inner.accept_message(id, message).await;
        if ends_restore {
            self.restoring().remove(id);
        }
        result
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.table.seen_by_rmcp(id);
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.table.seen_by_rmcp(id);
        self.inner.resume(id, last_event_id).await
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.restoring().insert(id.clone());
        let outcome = self.inner.restore_session(id.clone()).await;
        if !matches!(outcome, Ok(RestoreOutcome::Restored(_))) {
            self.restoring().remove(&id);
        }
        outcome
    }

    fn event_store(&self) -> Option<std::sync::Arc<dyn EventStore>> {
        self.inner.event_store()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpgate_auth::McpUrl;
    use mcpgate_auth::http::ProtectedEndpoint;

    fn table(idle: Duration) -> Arc<SessionTable> {
        let endpoint =
            ProtectedEndpoint::unauthenticated(McpUrl::parse("http://127.0.0.1:1/mcp").unwrap());
        SessionTable::new(idle, endpoint.session_hook())
    }

    #[test]
    fn a_session_rmcp_holds_is_fast_only_while_rmcp_saw_it_recently() {
        let id: SessionId = Arc::from("s1");
        // Half of a zero timeout: never fresh, so rmcp always sees the traffic.
        let t = table(Duration::ZERO);
        t.held_by_rmcp(&id, ProtocolVersion::V_2025_06_18);
        assert_eq!(t.fast_version("s1"), None);

        let t = table(Duration::from_secs(3600));
        assert_eq!(t.fast_version("s1"), None, "unknown session");
        t.held_by_rmcp(&id, ProtocolVersion::V_2025_06_18);
        assert_eq!(t.fast_version("s1"), Some(ProtocolVersion::V_2025_06_18));
        assert!(!t.is_lazy("s1"));
        assert!(!t.close_lazy("s1"), "rmcp closes its own sessions");
        t.forget(&id);
        assert_eq!(t.fast_version("s1"), None, "closed session");
    }

    #[tokio::test]
    async fn a_lazy_session_is_restorable_until_it_idles_out() {
        let id: SessionId = Arc::from("s2");
        let t = table(Duration::from_secs(3600));
        t.open_lazy(
            &id,
            ProtocolVersion::V_2025_06_18,
            InitializeRequestParams::default(),
        );
        assert!(t.is_lazy("s2"));
        assert_eq!(t.fast_version("s2"), Some(ProtocolVersion::V_2025_06_18));
        let store = TableStore(t.clone());
        assert!(store.load("s2").await.unwrap().is_some());
        // rmcp restores it: no longer lazy, still known.
        t.held_by_rmcp(&id, ProtocolVersion::V_2025_06_18);
        assert!(!t.is_lazy("s2"));
        assert!(store.load("s2").await.unwrap().is_some());
        store.delete("s2").await.unwrap();
        assert!(store.load("s2").await.unwrap().is_none());

        let t = table(Duration::ZERO);
        t.open_lazy(
            &id,
            ProtocolVersion::V_2025_06_18,
            InitializeRequestParams::default(),
        );
        assert_eq!(t.fast_version("s2"), None, "idled out");
        assert!(!t.is_lazy("s2"));
        assert!(TableStore(t).load("s2").await.unwrap().is_none());
    }
}
