//! Which downstream caller an upstream's notifications and requests belong
//! to. One upstream connection serves every call of its principal (or of
//! everyone, when shared); each in-flight call registers a route so that
//! progress reaches the caller that asked for it (under the caller's own
//! progress token) and sampling, elicitation and log messages reach the
//! caller whose call caused them.
//!
//! An HTTP upstream sends such a request on the response stream of the call
//! it belongs to, so it is routed exactly. Stdio carries no such link: the
//! newest in-flight call is taken, but only when every in-flight call on that
//! upstream is the same principal's, so a shared upstream never hands one
//! user's sampling request to another user.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use rmcp::model::{ProgressToken, RequestId};
use rmcp::service::SubscriptionSink;
use rmcp::{Peer, RoleServer};

use crate::pool::PrincipalKey;

/// Most downstream sessions told about one upstream's list changes; the
/// oldest is forgotten beyond it.
const MAX_LISTENERS: usize = 256;

/// Most resource URIs with subscribers on one upstream connection; a
/// subscription beyond it is refused (the client controls how many it asks).
pub(crate) const MAX_SUBSCRIBED_URIS: usize = 1024;

/// The in-flight calls of one upstream connection, and the downstream
/// sessions that used it (told when its lists change).
#[derive(Default)]
pub(crate) struct Routes {
    /// One principal's connection (not the shared one): whatever it sends
    /// belongs to that principal, see [`Routes::caller`].
    own: bool,
    inner: Mutex<Inner>,
    listeners: Mutex<Vec<(String, Peer<RoleServer>)>>,
    /// Session-era resource subscriptions made through this connection, by
    /// the URI the upstream knows.
    subscriptions: Mutex<HashMap<String, Subscribers>>,
    /// Open `subscriptions/listen` streams of 2026-07-28 callers that use
    /// this connection, each under a number of its own (to remove it).
    streams: Mutex<(u64, Vec<(u64, SubscriptionSink)>)>,
}

/// Who subscribed to one upstream URI, and the URI they know it by (the
/// mount's namespace applied).
struct Subscribers {
    exposed: String,
    sessions: Vec<(String, Peer<RoleServer>)>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    /// Ordered by start, so the newest call is the last entry.
    calls: BTreeMap<u64, Route>,
    /// The caller of the last call that ended while no other was in flight.
    last: Option<Caller>,
}

/// One forwarded call.
pub(crate) struct Route {
    pub(crate) downstream: Peer<RoleServer>,
    /// The caller's request id (server-to-client requests ride its stream).
    pub(crate) downstream_id: RequestId,
    /// Who made the call (never shared, whatever the isolation).
    pub(crate) principal: PrincipalKey,
    /// The id of the forwarded request on the upstream connection (`None`
    /// until it is sent, see [`RouteGuard::bind`]).
    pub(crate) upstream_id: Option<RequestId>,
    /// The token the gateway's client put on the upstream request (`None`
    /// until it is sent).
    pub(crate) upstream_token: Option<ProgressToken>,
    /// The caller's own token, if it asked for progress.
    pub(crate) downstream_token: Option<ProgressToken>,
    /// Which of the upstream's log messages the caller takes.
    pub(crate) logs: LogGate,
    /// A 2026-07-28 caller's channel for the upstream's requests (see
    /// `mrtr`); `None` for a session-era caller, asked directly.
    pub(crate) input: Option<CallerInput>,
}

/// Why [`Routes::caller`] found no caller when no call is in flight at all.
pub(crate) const NO_CALL: &str = "no call is in flight";

/// Where a 2026-07-28 caller's call takes the upstream's requests, and what
/// the caller declared it can answer (`_meta` client capabilities).
#[derive(Clone)]
pub(crate) struct CallerInput {
    pub(crate) asks: crate::mrtr::InputSender,
    pub(crate) sampling: bool,
    pub(crate) elicitation: bool,
    pub(crate) roots: bool,
}

/// Which log messages a caller takes. A session-era caller sets its level on
/// the session (`logging/setLevel`, forwarded to the upstream, which filters);
/// a 2026-07-28 request names a level in its `_meta` or gets none at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogGate {
    /// Every message the upstream sends (session-era callers).
    All,
    /// Messages at this rank or above (see [`LogGate::rank`]).
    AtLeast(u8),
    /// None (a 2026-07-28 request without a log level).
    Nothing,
}

#[allow(deprecated)] // logging is current in the revisions served
impl LogGate {
    /// The gate for a request with this `_meta` (protocol version, log level).
    pub(crate) fn for_request(meta: &rmcp::model::RequestMetaObject) -> Self {
        let stateless = meta
            .protocol_version()
            .is_some_and(|v| v >= rmcp::model::ProtocolVersion::V_2026_07_28);
        match (stateless, meta.log_level()) {
            (false, _) => Self::All,
            (true, Some(level)) => Self::AtLeast(Self::rank(level)),
            (true, None) => Self::Nothing,
        }
    }

    /// Severity order of RFC 5424, as MCP's levels follow it.
    fn rank(level: rmcp::model::LoggingLevel) -> u8 {
        use rmcp::model::LoggingLevel as L;
        match level {
            L::Debug => 0,
            L::Info => 1,
            L::Notice => 2,
            L::Warning => 3,
            L::Error => 4,
            L::Critical => 5,
            L::Alert => 6,
            L::Emergency => 7,
        }
    }

    /// Whether a message at `level` passes.
    pub(crate) fn admits(self, level: rmcp::model::LoggingLevel) -> bool {
        match self {
            Self::All => true,
            Self::AtLeast(minimum) => Self::rank(level) >= minimum,
            Self::Nothing => false,
        }
    }
}

/// The caller a message from the upstream goes to.
pub(crate) struct Caller {
    pub(crate) peer: Peer<RoleServer>,
    pub(crate) request_id: RequestId,
    /// Which log messages it takes.
    pub(crate) logs: LogGate,
    /// Its channel for the upstream's requests, if it is a 2026-07-28 call.
    pub(crate) input: Option<CallerInput>,
}

impl Routes {
    /// The routes of the connection of `principal` (shared or one principal's).
    pub(crate) fn for_principal(principal: &PrincipalKey) -> Self {
        Self {
            own: !matches!(principal, PrincipalKey::Shared),
            ..Self::default()
        }
    }

    /// Registers a call until the returned guard is dropped.
    pub(crate) fn register(self: &Arc<Self>, route: Route) -> RouteGuard {
        let mut inner = self.lock();
        let id = inner.next;
        inner.next += 1;
        inner.calls.insert(id, route);
        RouteGuard {
            routes: self.clone(),
            id,
        }
    }

    /// The caller and its token for an upstream progress token; `None` when
    /// the call is over or the caller did not ask for progress.
    pub(crate) fn progress(
        &self,
        upstream: &ProgressToken,
    ) -> Option<(Peer<RoleServer>, ProgressToken)> {
        let inner = self.lock();
        inner.calls.values().find_map(|route| {
            if route.upstream_token.as_ref() != Some(upstream) {
                return None;
            }
            Some((route.downstream.clone(), route.downstream_token.clone()?))
        })
    }

    /// The caller of the upstream call `origin` (when the transport says
    /// which call a message belongs to), else of the newest in-flight call
    /// if all in-flight calls are one principal's.
    pub(crate) fn caller(&self, origin: Option<&RequestId>) -> Result<Caller, &'static str> {
        let inner = self.lock();
        let found = match origin {
            Some(origin) => inner
                .calls
                .values()
                .find(|r| r.upstream_id.as_ref() == Some(origin))
                .ok_or("the call it belongs to is over")?,
            None => {
                let Some(newest) = inner.calls.values().next_back() else {
                    // A stdio upstream's log line written just before its
                    // answer may be handled after the call ended (rmcp
                    // handles notifications in tasks of their own). On one
                    // principal's connection everything is that principal's,
                    // so it goes to the last caller; on the shared one it
                    // could be another user's, so it is dropped.
                    return match (&inner.last, self.own) {
                        (Some(last), true) => Ok(Caller {
                            peer: last.peer.clone(),
                            request_id: last.request_id.clone(),
                            logs: last.logs,
                            // The call is over: nothing can be asked of it.
                            input: None,
                        }),
                        _ => Err(NO_CALL),
                    };
                };
                if inner
                    .calls
                    .values()
                    .any(|r| r.principal != newest.principal)
                {
                    return Err(
                        "calls of several principals are in flight on this shared upstream, and it does not say which one this belongs to",
                    );
                }
                newest
            }
        };
        Ok(Caller {
            peer: found.downstream.clone(),
            request_id: found.downstream_id.clone(),
            logs: found.logs,
            input: found.input.clone(),
        })
    }

    /// Remembers a session-era downstream session (by its `Mcp-Session-Id`)
    /// as one to tell about list changes; bounded, closed sessions go first.
    pub(crate) fn listen(&self, session: &str, peer: &Peer<RoleServer>) {
        let mut listeners = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        if listeners.iter().any(|(s, _)| s == session) {
            return;
        }
        listeners.retain(|(_, p)| !p.is_transport_closed());
        if listeners.len() >= MAX_LISTENERS {
            listeners.remove(0);
        }
        listeners.push((session.to_owned(), peer.clone()));
    }

    /// Records that downstream `session` subscribed to `upstream_uri` (known
    /// to it as `exposed`). Refused beyond [`MAX_SUBSCRIBED_URIS`] URIs or
    /// [`MAX_LISTENERS`] sessions for one URI.
    pub(crate) fn subscribe(
        &self,
        upstream_uri: &str,
        exposed: &str,
        session: &str,
        peer: &Peer<RoleServer>,
    ) -> Result<(), &'static str> {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        if !subs.contains_key(upstream_uri) && subs.len() >= MAX_SUBSCRIBED_URIS {
            return Err("too many resource subscriptions on this upstream");
        }
        let entry = subs
            .entry(upstream_uri.to_owned())
            .or_insert_with(|| Subscribers {
                exposed: exposed.to_owned(),
                sessions: Vec::new(),
            });
        entry.sessions.retain(|(_, p)| !p.is_transport_closed());
        if entry.sessions.iter().any(|(s, _)| s == session) {
            return Ok(());
        }
        if entry.sessions.len() >= MAX_LISTENERS {
            return Err("too many sessions subscribed to this resource");
        }
        entry.sessions.push((session.to_owned(), peer.clone()));
        Ok(())
    }

    /// Forgets `session`'s subscription to `upstream_uri`; true when no
    /// session is left subscribed (so the upstream may be told to stop).
    pub(crate) fn unsubscribe(&self, upstream_uri: &str, session: &str) -> bool {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = subs.get_mut(upstream_uri) else {
            return true;
        };
        entry
            .sessions
            .retain(|(s, p)| s != session && !p.is_transport_closed());
        if entry.sessions.is_empty() {
            subs.remove(upstream_uri);
            return true;
        }
        false
    }

    /// The exposed URI and the sessions subscribed to `upstream_uri`.
    pub(crate) fn subscribers(
        &self,
        upstream_uri: &str,
    ) -> Option<(String, Vec<Peer<RoleServer>>)> {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        let entry = subs.get_mut(upstream_uri)?;
        entry.sessions.retain(|(_, p)| !p.is_transport_closed());
        Some((
            entry.exposed.clone(),
            entry.sessions.iter().map(|(_, p)| p.clone()).collect(),
        ))
    }

    /// Adds an open subscription stream (list changes of this upstream go
    /// to it, as far as its filter accepts them); bounded like the sessions,
    /// the oldest forgotten beyond it. Returns the number to remove it by.
    pub(crate) fn add_stream(&self, sink: SubscriptionSink) -> u64 {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams.0 += 1;
        let id = streams.0;
        if streams.1.len() >= MAX_LISTENERS {
            streams.1.remove(0);
        }
        streams.1.push((id, sink));
        id
    }

    /// Removes the stream added as `id` (it ended).
    pub(crate) fn remove_stream(&self, id: u64) {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams.1.retain(|(n, _)| *n != id);
    }

    /// The open subscription streams.
    pub(crate) fn streams(&self) -> Vec<SubscriptionSink> {
        let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        streams.1.iter().map(|(_, s)| s.clone()).collect()
    }

    /// The live downstream sessions to tell about a list change.
    pub(crate) fn listeners(&self) -> Vec<Peer<RoleServer>> {
        let mut listeners = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        listeners.retain(|(_, p)| !p.is_transport_closed());
        listeners.iter().map(|(_, p)| p.clone()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Removes its call's route when dropped (the call answered, failed or was
/// cancelled).
pub(crate) struct RouteGuard {
    routes: Arc<Routes>,
    id: u64,
}

impl RouteGuard {
    /// The forwarded request's id and progress token, once it is sent (the
    /// route is registered before, so nothing the upstream sends meanwhile
    /// finds no call in flight).
    pub(crate) fn bind(&self, upstream_id: RequestId, upstream_token: ProgressToken) {
        if let Some(route) = self.routes.lock().calls.get_mut(&self.id) {
            route.upstream_id = Some(upstream_id);
            route.upstream_token = Some(upstream_token);
        }
    }

    /// Points the call at the request of a later round (a 2026-07-28
    /// caller's retry): progress and log messages go to that request now.
    pub(crate) fn retarget(
        &self,
        downstream: Peer<RoleServer>,
        downstream_id: RequestId,
        downstream_token: Option<ProgressToken>,
        logs: LogGate,
    ) {
        if let Some(route) = self.routes.lock().calls.get_mut(&self.id) {
            route.downstream = downstream;
            route.downstream_id = downstream_id;
            route.downstream_token = downstream_token;
            route.logs = logs;
        }
    }
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        let mut inner = self.routes.lock();
        if let Some(route) = inner.calls.remove(&self.id)
            && inner.calls.is_empty()
        {
            inner.last = Some(Caller {
                peer: route.downstream,
                request_id: route.downstream_id,
                logs: route.logs,
                input: None,
            });
        }
    }
}

#[cfg(test)]
#[allow(deprecated)] // logging is current in the revisions served
mod tests {
    use rmcp::model::{LoggingLevel, ProtocolVersion, RequestMetaObject};

    use super::LogGate;

    fn meta(version: ProtocolVersion, level: Option<LoggingLevel>) -> RequestMetaObject {
        let mut meta = RequestMetaObject::default();
        meta.set_protocol_version(version);
        if let Some(level) = level {
            meta.set_log_level(level);
        }
        meta
    }

    #[test]
    fn a_2026_request_takes_logs_only_at_or_above_the_level_it_names() {
        let none = LogGate::for_request(&meta(ProtocolVersion::V_2026_07_28, None));
        assert!(!none.admits(LoggingLevel::Emergency));
        let warning = LogGate::for_request(&meta(
            ProtocolVersion::V_2026_07_28,
            Some(LoggingLevel::Warning),
        ));
        assert!(!warning.admits(LoggingLevel::Info));
        assert!(warning.admits(LoggingLevel::Warning));
        assert!(warning.admits(LoggingLevel::Error));
    }

    #[test]
    fn a_session_era_request_takes_what_the_upstream_sends() {
        // The session's level was forwarded with logging/setLevel; the
        // upstream filters.
        let gate = LogGate::for_request(&RequestMetaObject::default());
        assert_eq!(gate, LogGate::All);
        assert!(gate.admits(LoggingLevel::Debug));
    }
}
