//! Multi round-trip requests (2026-07-28 `input_required` results) in front
//! of a session-era upstream.
//!
//! A session-era upstream asks for sampling or elicitation with a request
//! in the middle of a call and waits for the answer. A 2026-07-28 caller has
//! no channel for such a request: it expects the call to end with an
//! `InputRequiredResult` and to retry the call with `inputResponses`. So the
//! gateway *parks* the upstream call — its pending response, the upstream's
//! unanswered requests, its lease and route — under a `requestState` handle
//! it keeps server-side, answers the caller with the upstream's requests as
//! `inputRequests`, and on the retry hands the caller's responses to the
//! waiting upstream requests and goes on waiting for the call (which may ask
//! again: another round).
//!
//! `requestState` is an opaque handle, not data: it names a parked call in
//! this process and is only honoured for the principal that parked it, so a
//! forged or replayed handle resumes nothing of anyone else's (it is refused
//! with `invalid_params`). An upstream that speaks 2026-07-28 itself makes
//! its own rounds; its `requestState` reaches the caller sealed to it
//! (`sealed_state`) and is unsealed here on the retry. Any other
//! `requestState` was not issued by this gateway and is refused. Parked
//! calls are bounded in number and expire with the per-call timeout.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rmcp::model::{ClientRequest, InputRequest, InputResponses, RequestId};
use rmcp::service::ServiceError;
use rmcp::{ErrorData, Peer, RoleClient};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::pool::{Lease, PrincipalKey};
use crate::routes::RouteGuard;
use crate::sealed_state::{self, Sealer};

/// The prefix of the gateway's own `requestState` handles.
const STATE_PREFIX: &str = "mcpgate-gw-";

/// Most calls parked at once (for all callers); beyond it a call that asks
/// for input fails instead of parking.
const MAX_PARKED: usize = 1024;

/// Most requests the upstream may have waiting in one round.
const MAX_ASKS: usize = 16;

/// One upstream request waiting for the caller's answer.
pub(crate) struct InputAsk {
    pub(crate) request: InputRequest,
    pub(crate) answer: oneshot::Sender<Value>,
}

/// What the upstream client handler tells a 2026-07-28 caller's call.
pub(crate) enum Asked {
    /// A request for the caller's input.
    Input(Box<InputAsk>),
    /// A request the caller cannot be asked: it did not declare this client
    /// capability (`sampling`, `elicitation`, `roots`) in its `_meta`. The
    /// gateway is the server from the caller's point of view, so the caller
    /// gets `-32021`, as from any 2026-07-28 server, and the upstream call is
    /// cancelled.
    Undeclared(&'static str),
}

/// Where the upstream client handler puts the requests of a 2026 caller's call.
pub(crate) type InputSender = mpsc::Sender<Asked>;

/// A channel for one call's upstream requests.
pub(crate) fn channel() -> (InputSender, mpsc::Receiver<Asked>) {
    mpsc::channel(MAX_ASKS)
}

/// Tells the call that the upstream asked for what the caller did not
/// declare, and returns the error the upstream's request gets.
pub(crate) async fn refuse(input: &InputSender, capability: &'static str) -> ErrorData {
    // The call may be over already; the upstream is refused all the same.
    let _ = input.send(Asked::Undeclared(capability)).await;
    ErrorData::invalid_request(
        format!("the client behind the gateway did not declare the {capability} capability"),
        None,
    )
}

/// `-32021` Missing Required Client Capability naming `capability`, as
/// mcpgate's own server answers (`data.requiredCapabilities` is a
/// `ClientCapabilities` object).
pub(crate) fn missing_capability(capability: &str) -> ErrorData {
    ErrorData::new(
        rmcp::model::ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY,
        format!(
            "this request needs the client capability {capability} (not declared in _meta clientCapabilities)"
        ),
        Some(serde_json::json!({ "requiredCapabilities": { capability: {} } })),
    )
}

/// Asks the caller (from the upstream client handler) and waits for its
/// answer as JSON; fails when the call is abandoned (expired, cancelled).
pub(crate) async fn ask(input: &InputSender, request: InputRequest) -> Result<Value, ErrorData> {
    let (answer, answered) = oneshot::channel();
    input
        .send(Asked::Input(Box::new(InputAsk { request, answer })))
        .await
        .map_err(|_| ErrorData::internal_error("the call this request belongs to is over", None))?;
    answered.await.map_err(|_| {
        ErrorData::internal_error(
            "the client did not answer before the call ended or expired",
            None,
        )
    })
}

/// The upstream's answer to the forwarded request, still to come.
pub(crate) type Response =
    Pin<Box<dyn Future<Output = Result<rmcp::model::ServerResult, ServiceError>> + Send>>;

/// A call waiting for the upstream, with everything that keeps it going.
pub(crate) struct Waiting {
    pub(crate) mount: usize,
    pub(crate) principal: PrincipalKey,
    pub(crate) response: Response,
    /// The upstream's requests of a 2026-07-28 call (`None` otherwise).
    pub(crate) asks: Option<mpsc::Receiver<Asked>>,
    /// Asked of the caller in the last round, not answered yet.
    pub(crate) pending: Vec<(String, InputAsk)>,
    /// Requests asked so far in this call (names each one uniquely).
    pub(crate) asked: u64,
    pub(crate) lease: Lease,
    pub(crate) route: RouteGuard,
    pub(crate) upstream: Peer<RoleClient>,
    pub(crate) upstream_id: RequestId,
    pub(crate) started: std::time::Instant,
    /// The tool or prompt name or resource URI called (at the upstream):
    /// what an upstream's `requestState` is sealed for.
    pub(crate) target: String,
}

/// The parked calls, by handle.
#[derive(Default)]
pub(crate) struct ParkedCalls {
    next: AtomicU64,
    calls: Mutex<HashMap<String, Waiting>>,
}

/// The tool or prompt name or resource URI `request` is for (empty for
/// other requests).
pub(crate) fn target_of(request: &ClientRequest) -> &str {
    match request {
        ClientRequest::CallToolRequest(r) => &r.params.name,
        ClientRequest::GetPromptRequest(r) => &r.params.name,
        ClientRequest::ReadResourceRequest(r) => &r.params.uri,
        _ => "",
    }
}

/// What a retry's `requestState` refers to.
pub(crate) enum Resume {
    /// No handle of ours: a first request (or an upstream's own handle).
    Fresh,
    /// A parked call of this caller, with the responses to its requests.
    Parked(Box<Waiting>, InputResponses),
}

impl ParkedCalls {
    /// Calls parked now.
    pub(crate) fn len(&self) -> usize {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Parks `waiting` and returns its handle; `None` when too many are
    /// parked. It expires after `ttl`: the upstream request is cancelled.
    pub(crate) fn park(
        self: &std::sync::Arc<Self>,
        waiting: Waiting,
        ttl: std::time::Duration,
    ) -> Option<String> {
        let handle = format!(
            "{STATE_PREFIX}{}",
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        {
            let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
            if calls.len() >= MAX_PARKED {
                return None;
            }
            calls.insert(handle.clone(), waiting);
        }
        let calls = std::sync::Arc::downgrade(self);
        let key = handle.clone();
        tokio::spawn(async move {
            tokio::time::sleep(ttl).await;
            let Some(calls) = calls.upgrade() else { return };
            let expired = calls
                .calls
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            if let Some(waiting) = expired {
                let _ = waiting
                    .upstream
                    .notify_cancelled(rmcp::model::CancelledNotificationParam::new(
                        Some(waiting.upstream_id.clone()),
                        Some("the client did not come back with the input asked for".to_owned()),
                    ))
                    .await;
            }
        });
        Some(handle)
    }

    /// What `request`'s `requestState` refers to, for `principal` on `mount`.
    /// A handle of ours that is unknown, expired, another principal's or
    /// another mount's is refused. A sealed upstream state is unsealed in
    /// place (the request goes on to the upstream, [`Resume::Fresh`]) if it
    /// was sealed for this principal, mount and method; any other state is
    /// refused.
    pub(crate) fn resume(
        &self,
        request: &mut ClientRequest,
        principal: &PrincipalKey,
        mount: usize,
        sealer: &Sealer,
    ) -> Result<Resume, ErrorData> {
        let method = request.method().to_owned();
        let (state, responses, target) = match request {
            ClientRequest::CallToolRequest(r) => (
                &mut r.params.request_state,
                &mut r.params.input_responses,
                &*r.params.name,
            ),
            ClientRequest::GetPromptRequest(r) => (
                &mut r.params.request_state,
                &mut r.params.input_responses,
                r.params.name.as_str(),
            ),
            ClientRequest::ReadResourceRequest(r) => (
                &mut r.params.request_state,
                &mut r.params.input_responses,
                r.params.uri.as_str(),
            ),
            _ => return Ok(Resume::Fresh),
        };
        let Some(given) = state.as_deref() else {
            return Ok(Resume::Fresh);
        };
        if given.starts_with(sealed_state::PREFIX) {
            let inner = sealer
                .open(given, principal, mount, (&method, target))
                .map_err(|_| {
                    ErrorData::invalid_params(
                        "requestState was altered, or issued to another caller or for another request",
                        None,
                    )
                })?
                .to_owned();
            *state = Some(inner);
            return Ok(Resume::Fresh);
        }
        if !given.starts_with(STATE_PREFIX) {
            return Err(ErrorData::invalid_params(
                "requestState was not issued by this server",
                None,
            ));
        }
        let handle = state.take().unwrap_or_default();
        let responses = responses.take().unwrap_or_default();
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let owned = calls
            .get(&handle)
            .is_some_and(|w| &w.principal == principal && w.mount == mount);
        if !owned {
            return Err(ErrorData::invalid_params(
                "requestState does not name a call waiting for input (unknown, expired, or not this caller's)",
                None,
            ));
        }
        let waiting = calls.remove(&handle).expect("checked above");
        Ok(Resume::Parked(Box::new(waiting), responses))
    }
}

/// Hands the caller's responses to the waiting upstream requests and
/// returns the ones still unanswered (asked again). A response to an asked
/// request that is not a JSON object is a protocol error: the call is
/// abandoned (its waiting upstream requests fail when `pending` is dropped).
/// Responses to keys not asked are ignored.
pub(crate) fn deliver(
    pending: Vec<(String, InputAsk)>,
    responses: &InputResponses,
) -> Result<Vec<(String, InputAsk)>, ErrorData> {
    // Only the responses to what was asked are looked at: a key the gateway
    // did not ask for is ignored, as unknown information should be.
    let asked = |key: &String| pending.iter().any(|(k, _)| k == key);
    if let Some((key, _)) = responses
        .iter()
        .find(|(key, value)| asked(key) && !value.is_object())
    {
        return Err(ErrorData::invalid_params(
            format!("inputResponses[{key}] must be an object"),
            None,
        ));
    }
    let mut still = Vec::new();
    for (key, ask) in pending {
        match responses.get(&key) {
            Some(value) => {
                let _ = ask.answer.send(value.clone());
            }
            None => still.push((key, ask)),
        }
    }
    Ok(still)
}
