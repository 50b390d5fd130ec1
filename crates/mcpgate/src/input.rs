//! Input from the client during a call (elicitation, sampling, roots), the
//! same for a handler in both eras of the protocol:
//!
//! - in a session (2025-11-25 and earlier) the server sends the request to
//!   the client over the session and waits for the answer;
//! - in the stateless 2026-07-28 revision there is no channel back to the
//!   client. The call is answered with an *input-required* result that lists
//!   every request the handler is waiting on; the client answers and retries
//!   the call, and the handler runs again from the start, now finding the
//!   answers (earlier rounds' answers travel sealed inside `requestState`).
//!
//! A handler therefore must not have side effects before its last input
//! request that it cannot repeat, and must ask for the same things in the same
//! order on every run: an answer is matched to a request by its key, which
//! [`Context::ask`](crate::Context::ask) takes from the caller and
//! [`Context::elicit`](crate::Context::elicit) / `sample` / `list_roots`
//! number in the order they are made. Ask from the handler's own task (not
//! from a task it spawned): stopping the handler is dropping its future.
//!
//! Sampling and roots are deprecated by the revision after 2026-07-28 (rmcp
//! marks them so) but current in every revision served, hence the
//! `allow(deprecated)`.
#![allow(deprecated)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use rmcp::model::{
    ClientCapabilities, CreateMessageRequest, CreateMessageRequestParams, ElicitRequest,
    ElicitRequestParams, ElicitResult, ElicitationSchema, Role, SamplingMessage,
};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use crate::error::CallError;

/// The most input requests one run of a handler may wait on at once, and the
/// most answers a retry may carry: both come back in client-controlled JSON.
pub(crate) const MAX_INPUTS: usize = 64;

/// What kind of input a request asks for; each needs its client capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InputKind {
    /// A form for the user (`elicitation/create`; capability `elicitation`).
    Elicitation,
    /// A completion from the client's model (`sampling/createMessage`;
    /// capability `sampling`).
    Sampling,
    /// The client's roots (`roots/list`; capability `roots`).
    Roots,
}

impl InputKind {
    /// The client capability this kind needs, as named in `ClientCapabilities`.
    pub fn capability(self) -> &'static str {
        match self {
            Self::Elicitation => "elicitation",
            Self::Sampling => "sampling",
            Self::Roots => "roots",
        }
    }

    fn declared_in(self, caps: &ClientCapabilities) -> bool {
        match self {
            Self::Elicitation => caps.elicitation.is_some(),
            Self::Sampling => caps.sampling.is_some(),
            Self::Roots => caps.roots.is_some(),
        }
    }
}

#[derive(Debug, Clone)]
enum Request {
    Elicit { message: String, schema: Value },
    Sample { prompt: String, max_tokens: u32 },
    ListRoots,
}

/// One request for input from the client; see [`Context::ask`](crate::Context::ask).
#[derive(Debug, Clone)]
pub struct InputRequest(Request);

impl InputRequest {
    /// Asks the user to fill in a form (`elicitation/create`, form mode).
    /// `schema` is the requested schema: an object of primitive-typed properties.
    pub fn elicit(message: impl Into<String>, schema: Value) -> Self {
        Self(Request::Elicit {
            message: message.into(),
            schema,
        })
    }

    /// Asks the client's model to complete `prompt` (`sampling/createMessage`).
    pub fn sample(prompt: impl Into<String>, max_tokens: u32) -> Self {
        Self(Request::Sample {
            prompt: prompt.into(),
            max_tokens,
        })
    }

    /// Asks for the client's roots (`roots/list`).
    pub fn list_roots() -> Self {
        Self(Request::ListRoots)
    }

    /// What this request asks for.
    pub fn kind(&self) -> InputKind {
        match self.0 {
            Request::Elicit { .. } => InputKind::Elicitation,
            Request::Sample { .. } => InputKind::Sampling,
            Request::ListRoots => InputKind::Roots,
        }
    }

    pub(crate) fn elicit_params(
        message: String,
        schema: Value,
    ) -> Result<ElicitRequestParams, CallError> {
        let requested_schema: ElicitationSchema = serde_json::from_value(schema)
            .map_err(|e| CallError::new(format!("invalid elicitation schema: {e}")))?;
        Ok(ElicitRequestParams::FormElicitationParams {
            meta: None,
            message,
            requested_schema,
        })
    }

    pub(crate) fn sample_params(prompt: String, max_tokens: u32) -> CreateMessageRequestParams {
        let message = SamplingMessage::new(
            Role::User,
            rmcp::model::SamplingMessageContentBlock::text(prompt),
        );
        CreateMessageRequestParams::new(vec![message], max_tokens)
    }

    /// The request as it appears in an input-required result's `inputRequests`.
    pub(crate) fn to_rmcp(&self) -> Result<rmcp::model::InputRequest, CallError> {
        Ok(match &self.0 {
            Request::Elicit { message, schema } => rmcp::model::InputRequest::Elicitation(
                ElicitRequest::new(Self::elicit_params(message.clone(), schema.clone())?),
            ),
            Request::Sample { prompt, max_tokens } => rmcp::model::InputRequest::CreateMessage(
                CreateMessageRequest::new(Self::sample_params(prompt.clone(), *max_tokens)),
            ),
            Request::ListRoots => {
                serde_json::from_value(json!({"method": "roots/list", "params": {}}))
                    .map_err(|e| CallError::new(format!("roots/list request: {e}")))?
            }
        })
    }

    pub(crate) fn into_parts(self) -> RequestParts {
        match self.0 {
            Request::Elicit { message, schema } => RequestParts::Elicit { message, schema },
            Request::Sample { prompt, max_tokens } => RequestParts::Sample { prompt, max_tokens },
            Request::ListRoots => RequestParts::ListRoots,
        }
    }
}

/// [`InputRequest`]'s contents, for the session-era path in `context`.
pub(crate) enum RequestParts {
    Elicit { message: String, schema: Value },
    Sample { prompt: String, max_tokens: u32 },
    ListRoots,
}

/// A root the client exposes (`roots/list`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[non_exhaustive]
pub struct Root {
    /// The root's URI (`file://…`).
    pub uri: String,
    /// Its display name, if the client gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The client's answer to one [`InputRequest`], as JSON; the accessors read
/// it as the answer to the kind of request it was.
#[derive(Debug, Clone, PartialEq)]
pub struct InputResponse(pub(crate) Value);

impl InputResponse {
    /// The answer as the client sent it.
    pub fn as_json(&self) -> &Value {
        &self.0
    }

    /// The answer to an [`InputRequest::elicit`].
    pub fn elicitation(&self) -> Result<ElicitResult, CallError> {
        serde_json::from_value(self.0.clone())
            .map_err(|e| CallError::new(format!("the client's elicitation answer is invalid: {e}")))
    }

    /// The text of the answer to an [`InputRequest::sample`] (text blocks
    /// joined by newlines).
    pub fn sampled_text(&self) -> Result<String, CallError> {
        let invalid = || CallError::new("the client's sampling answer has no message content");
        let content = self.0.get("content").ok_or_else(invalid)?;
        let blocks: Vec<&Value> = match content {
            Value::Array(items) => items.iter().collect(),
            Value::Object(_) => vec![content],
            _ => return Err(invalid()),
        };
        Ok(blocks
            .into_iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"))
    }

    /// The roots in the answer to an [`InputRequest::list_roots`].
    pub fn roots(&self) -> Result<Vec<Root>, CallError> {
        let roots = self
            .0
            .get("roots")
            .cloned()
            .ok_or_else(|| CallError::new("the client's roots answer has no `roots`"))?;
        serde_json::from_value(roots)
            .map_err(|e| CallError::new(format!("the client's roots answer is invalid: {e}")))
    }
}

/// The answers to [`Context::ask`](crate::Context::ask), by the keys asked with.
pub type InputResponses = BTreeMap<String, InputResponse>;

/// Why a stateless run of a handler was stopped.
pub(crate) enum Stop {
    /// Waiting for these requests (by key).
    Input(BTreeMap<String, rmcp::model::InputRequest>),
    /// The handler needs capabilities the request did not declare.
    MissingCapabilities(Vec<InputKind>),
    /// An input request could not be expressed (e.g. an invalid schema).
    Invalid(CallError),
}

#[derive(Default)]
struct RoundState {
    pending: BTreeMap<String, rmcp::model::InputRequest>,
    missing: Vec<InputKind>,
    invalid: Option<CallError>,
    /// Number of `elicit`/`sample`/`list_roots` calls so far, for their keys.
    ordinal: u32,
}

/// One run of a handler for a stateless request: the answers known so far,
/// and where the handler registers what it is still waiting for.
pub(crate) struct InputRound {
    answers: Map<String, Value>,
    capabilities: ClientCapabilities,
    state: Mutex<RoundState>,
    stopped: Notify,
}

impl InputRound {
    pub(crate) fn new(answers: Map<String, Value>, capabilities: ClientCapabilities) -> Self {
        Self {
            answers,
            capabilities,
            state: Mutex::default(),
            stopped: Notify::new(),
        }
    }

    pub(crate) fn supports(&self, kind: InputKind) -> bool {
        kind.declared_in(&self.capabilities)
    }

    /// The key of the next unnamed request: `elicitation-1`, `sampling-2`, ….
    pub(crate) fn next_key(&self, kind: InputKind) -> String {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.ordinal += 1;
        format!("{}-{}", kind.capability(), state.ordinal)
    }

    /// The answers to `requests` if the client has given all of them;
    /// otherwise registers what is missing, tells the dispatcher, and never
    /// completes (the dispatcher drops the handler).
    pub(crate) async fn ask(&self, requests: Vec<(String, InputRequest)>) -> InputResponses {
        let mut answers = InputResponses::new();
        let stop = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            for (key, request) in &requests {
                let kind = request.kind();
                if !self.supports(kind) {
                    if !state.missing.contains(&kind) {
                        state.missing.push(kind);
                    }
                    continue;
                }
                if let Some(answer) = self.answers.get(key) {
                    answers.insert(key.clone(), InputResponse(answer.clone()));
                    continue;
                }
                if state.pending.len() >= MAX_INPUTS {
                    state.invalid = Some(CallError::new(format!(
                        "a handler may wait on at most {MAX_INPUTS} input requests at once"
                    )));
                    continue;
                }
                match request.to_rmcp() {
                    Ok(wire) => {
                        state.pending.insert(key.clone(), wire);
                    }
                    Err(e) => state.invalid = Some(e),
                }
            }
            !state.pending.is_empty() || !state.missing.is_empty() || state.invalid.is_some()
        };
        if stop {
            // A stored permit: the dispatcher sees it even if it polls later.
            self.stopped.notify_one();
            std::future::pending::<()>().await;
        }
        answers
    }

    /// Completes once the handler waits on input it does not have.
    pub(crate) async fn stopped(&self) -> Stop {
        self.stopped.notified().await;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = state.invalid.take() {
            Stop::Invalid(e)
        } else if !state.missing.is_empty() {
            Stop::MissingCapabilities(std::mem::take(&mut state.missing))
        } else {
            Stop::Input(std::mem::take(&mut state.pending))
        }
    }

    /// The answers this run started with (to seal into the next state).
    pub(crate) fn answers(&self) -> &Map<String, Value> {
        &self.answers
    }
}
