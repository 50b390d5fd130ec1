//! [`Notifier`], the handle through which an application says that its
//! tools, prompts or resources changed, and the delivery of those changes in
//! both eras:
//!
//! - 2026-07-28: `subscriptions/listen`, a long-lived response stream on
//!   which the server sends the notifications the client opted in to. rmcp
//!   acknowledges the subscription (the first message on the stream),
//!   intersects the client's filter with the capabilities the server
//!   advertises, tags every notification with the subscription id and drops
//!   those outside the filter; this file fans changes out to every stream.
//! - Sessions (2025-11-25 and earlier): list changes go to every initialised
//!   session (the server advertises `listChanged`), resource updates to the
//!   sessions that subscribed to the URI with `resources/subscribe`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::service::{Peer, SubscriptionContext, SubscriptionSendError};
use rmcp::{ErrorData, RoleServer};
use tokio::sync::{broadcast, oneshot};

use crate::context::SessionState;

/// How many changes an open stream may fall behind before it skips some;
/// bounds the memory a slow client can hold. A stream that falls behind is
/// told that every list changed, which is always a correct (if coarse) answer.
const BACKLOG: usize = 64;

/// Bound on accepted-but-not-yet-listening subscriptions remembered.
const MAX_PENDING: usize = 1024;

#[derive(Debug, Clone)]
pub(crate) enum Change {
    Tools,
    Prompts,
    Resources,
    ResourceUpdated(Arc<str>),
}

/// The changes sent so far: a sequence number and the last [`BACKLOG`]
/// changes, so that a stream can start from the moment its subscription was
/// accepted (before the acknowledgment left), not from the later moment its
/// listener runs — a change in between would otherwise be lost.
#[derive(Debug, Default)]
struct History {
    /// The sequence number of the last change sent.
    seq: u64,
    recent: VecDeque<(u64, Change)>,
    /// Start points of subscriptions accepted but not yet listening; see
    /// [`Notifier::accept`].
    pending: Vec<u64>,
}

#[derive(Debug)]
struct Inner {
    tx: broadcast::Sender<(u64, Change)>,
    history: Mutex<History>,
}

/// Tells clients listening on `subscriptions/listen` streams (2026-07-28) that
/// the server's tools, prompts or resources changed. Get it from
/// [`McpServer::notifier`](crate::McpServer::notifier) before serving and keep
/// it (e.g. as state, [`McpServer::with_state`](crate::McpServer::with_state)).
/// Cheap to clone; sending with no stream open does nothing.
#[derive(Debug, Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

impl Default for Notifier {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                tx: broadcast::channel(BACKLOG).0,
                history: Mutex::default(),
            }),
        }
    }
}

impl Notifier {
    /// Sends `notifications/tools/list_changed` to streams that asked for it.
    pub fn tools_list_changed(&self) {
        self.send(Change::Tools);
    }

    /// Sends `notifications/prompts/list_changed` to streams that asked for it.
    pub fn prompts_list_changed(&self) {
        self.send(Change::Prompts);
    }

    /// Sends `notifications/resources/list_changed` to streams that asked for it.
    pub fn resources_list_changed(&self) {
        self.send(Change::Resources);
    }

    /// Sends `notifications/resources/updated` for `uri` to streams subscribed to it.
    pub fn resource_updated(&self, uri: impl Into<String>) {
        self.send(Change::ResourceUpdated(uri.into().into()));
    }

    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        self.inner.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, change: Change) {
        let mut history = self.history();
        history.seq += 1;
        let seq = history.seq;
        if history.recent.len() == BACKLOG {
            history.recent.pop_front();
        }
        history.recent.push_back((seq, change.clone()));
        // Under the lock, so a listener sees each change either in the
        // history or on its receiver, never neither. An error only means
        // that no stream is open.
        let _ = self.inner.tx.send((seq, change));
    }

    /// Called when a subscription is accepted, before rmcp acknowledges it:
    /// records where its stream must start.
    pub(crate) fn accept(&self) {
        let mut history = self.history();
        let seq = history.seq;
        if history.pending.len() == MAX_PENDING {
            // Subscriptions whose acknowledgment failed never listen; drop
            // the newest entry so the oldest start point (the safe one) stays.
            history.pending.pop();
        }
        history.pending.push(seq);
    }

    /// The start point for a stream that begins listening. rmcp does not
    /// say which accepted subscription this is, so take the *oldest* pending
    /// start point and retire the *newest*: the oldest is never later than
    /// this stream's own, so nothing is missed (at worst a change is told
    /// twice, which list-changed hints tolerate), and the remaining entries
    /// keep that property for the streams still to come.
    fn start(&self) -> (broadcast::Receiver<(u64, Change)>, Vec<Change>) {
        let mut history = self.history();
        let start = history.pending.iter().copied().min().unwrap_or(history.seq);
        if let Some(newest) = history.pending.iter().enumerate().max_by_key(|(_, s)| **s) {
            let index = newest.0;
            history.pending.swap_remove(index);
        }
        let oldest_kept = history.recent.front().map_or(history.seq + 1, |(s, _)| *s);
        let replay = if start + 1 < oldest_kept {
            // Older than the history: every list may have changed.
            vec![Change::Tools, Change::Prompts, Change::Resources]
        } else {
            history
                .recent
                .iter()
                .filter(|(s, _)| *s > start)
                .map(|(_, c)| c.clone())
                .collect()
        };
        (self.inner.tx.subscribe(), replay)
    }

    /// Forwards changes to one session until it ends (its [`SessionState`]
    /// is dropped); does nothing if already forwarding. `advertised` says which list-changed notifications the
    /// server's capabilities announce: tools, prompts, resources.
    pub(crate) fn forward_to_session(
        &self,
        peer: Peer<RoleServer>,
        session: &Arc<SessionState>,
        advertised: [bool; 3],
    ) {
        let (alive, mut ended) = oneshot::channel();
        {
            let mut slot = session.alive.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_some() {
                return; // already forwarding to this session
            }
            *slot = Some(alive);
        }
        // Weak: the task must not keep the session's state alive.
        let session = Arc::downgrade(session);
        let mut changes = self.inner.tx.subscribe();
        tokio::spawn(async move {
            loop {
                let batch = tokio::select! {
                    _ = &mut ended => return,
                    change = changes.recv() => match change {
                        Ok((_, change)) => vec![change],
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            vec![Change::Tools, Change::Prompts, Change::Resources]
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                };
                for change in batch {
                    let [tools, prompts, resources] = advertised;
                    let sent = match change {
                        Change::Tools if tools => peer.notify_tool_list_changed().await,
                        Change::Prompts if prompts => peer.notify_prompt_list_changed().await,
                        Change::Resources if resources => peer.notify_resource_list_changed().await,
                        Change::ResourceUpdated(uri) => {
                            let Some(session) = session.upgrade() else {
                                return;
                            };
                            let subscribed = session
                                .subscriptions
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .contains(&*uri);
                            if !subscribed {
                                continue;
                            }
                            let param = ResourceUpdatedNotificationParam::new(uri.to_string());
                            peer.notify_resource_updated(param).await
                        }
                        _ => Ok(()),
                    };
                    if let Err(e) = sent {
                        tracing::debug!(error = %e, "session closed; no more list changes");
                        return;
                    }
                }
            }
        });
    }

    /// Serves one established subscription until the client goes away.
    pub(crate) async fn listen(&self, subscription: SubscriptionContext) -> Result<(), ErrorData> {
        let (mut changes, replay) = self.start();
        let sink = subscription.sink().clone();
        let mut batch = replay;
        loop {
            for change in batch.drain(..) {
                let sent = match change {
                    Change::Tools => sink.notify_tool_list_changed().await,
                    Change::Prompts => sink.notify_prompt_list_changed().await,
                    Change::Resources => sink.notify_resource_list_changed().await,
                    Change::ResourceUpdated(uri) => sink.notify_resource_updated(&*uri).await,
                };
                match sent {
                    // Outside this stream's filter: not for this client.
                    Ok(()) | Err(SubscriptionSendError::NotificationNotAccepted(_)) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "subscription stream closed");
                        return Ok(());
                    }
                }
            }
            tokio::select! {
                () = subscription.cancelled() => return Ok(()),
                change = changes.recv() => match change {
                    Ok((_, change)) => batch.push(change),
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        batch.extend([Change::Tools, Change::Prompts, Change::Resources]);
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(changes: &[Change]) -> Vec<&'static str> {
        changes
            .iter()
            .map(|c| match c {
                Change::Tools => "tools",
                Change::Prompts => "prompts",
                Change::Resources => "resources",
                Change::ResourceUpdated(_) => "updated",
            })
            .collect()
    }

    #[test]
    fn a_change_between_acceptance_and_listening_is_not_lost() {
        let notifier = Notifier::default();
        notifier.prompts_list_changed(); // before: not for this stream
        notifier.accept();
        notifier.tools_list_changed(); // after the acknowledgment, before listening
        let (mut rx, replay) = notifier.start();
        assert_eq!(kinds(&replay), ["tools"]);
        notifier.resources_list_changed();
        assert!(matches!(rx.try_recv(), Ok((_, Change::Resources))));
    }

    #[test]
    fn concurrent_streams_start_no_later_than_their_acceptance() {
        let notifier = Notifier::default();
        notifier.accept(); // stream A, at 0
        notifier.tools_list_changed(); // 1
        notifier.accept(); // stream B, at 1
        notifier.prompts_list_changed(); // 2
        // Whichever listens first, neither misses what followed its own acceptance.
        let (_, first) = notifier.start();
        let (_, second) = notifier.start();
        assert_eq!(kinds(&first), ["tools", "prompts"]);
        assert_eq!(kinds(&second), ["tools", "prompts"]);
        // Nothing pending any more: a new stream starts now.
        let (_, third) = notifier.start();
        assert!(third.is_empty());
    }

    #[test]
    fn a_stream_older_than_the_history_hears_that_everything_changed() {
        let notifier = Notifier::default();
        notifier.accept();
        for _ in 0..BACKLOG + 1 {
            notifier.tools_list_changed();
        }
        let (_, replay) = notifier.start();
        assert_eq!(kinds(&replay), ["tools", "prompts", "resources"]);
    }
}
