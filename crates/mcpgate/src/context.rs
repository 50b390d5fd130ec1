//! The request context a handler can ask for: progress, log messages to the
//! client, cancellation, and input from the client (sampling, elicitation,
//! roots) — over a session's back channel, or in 2026-07-28 through
//! input-required results (see [`crate::input`]).
//!
//! Logging, sampling and roots are deprecated by the MCP revision after
//! 2026-07-28 (rmcp marks them so) but current in every revision mcpgate
//! serves, hence the `allow(deprecated)` below.
#![allow(deprecated)]

use std::sync::{Arc, Mutex};

use rmcp::RoleServer;
use rmcp::model::{
    ElicitResult, LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam,
};
use rmcp::service::RequestContext;
use serde_json::Value;

use crate::error::CallError;
use crate::input::{
    InputKind, InputRequest, InputResponse, InputResponses, InputRound, RequestParts, Root,
};

/// Per-session state shared by all requests of one MCP session.
#[derive(Debug, Default)]
pub(crate) struct SessionState {
    /// The minimum level set by `logging/setLevel`; `None` sends everything.
    pub(crate) log_level: Mutex<Option<LogLevel>>,
    /// Resource URIs the client subscribed to (`resources/subscribe`).
    pub(crate) subscriptions: Mutex<std::collections::HashSet<String>>,
    /// Dropped with the session, which ends the task forwarding list changes
    /// to it (see `server::subscriptions`).
    pub(crate) alive: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

/// The most resource subscriptions one session may hold: the set lives as
/// long as the session and the client chooses its contents.
pub(crate) const MAX_SESSION_SUBSCRIPTIONS: usize = 1024;

/// Severity of a log message sent to the client (RFC 5424 levels, as MCP uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Debug-level detail.
    Debug,
    /// Normal operation.
    Info,
    /// Normal but significant.
    Notice,
    /// Warning.
    Warning,
    /// Error.
    Error,
    /// Critical condition.
    Critical,
    /// Action must be taken immediately.
    Alert,
    /// System is unusable.
    Emergency,
}

impl LogLevel {
    pub(crate) fn to_rmcp(self) -> LoggingLevel {
        match self {
            Self::Debug => LoggingLevel::Debug,
            Self::Info => LoggingLevel::Info,
            Self::Notice => LoggingLevel::Notice,
            Self::Warning => LoggingLevel::Warning,
            Self::Error => LoggingLevel::Error,
            Self::Critical => LoggingLevel::Critical,
            Self::Alert => LoggingLevel::Alert,
            Self::Emergency => LoggingLevel::Emergency,
        }
    }

    pub(crate) fn from_rmcp(level: LoggingLevel) -> Self {
        match level {
            LoggingLevel::Debug => Self::Debug,
            LoggingLevel::Info => Self::Info,
            LoggingLevel::Notice => Self::Notice,
            LoggingLevel::Warning => Self::Warning,
            LoggingLevel::Error => Self::Error,
            LoggingLevel::Critical => Self::Critical,
            LoggingLevel::Alert => Self::Alert,
            LoggingLevel::Emergency => Self::Emergency,
        }
    }
}

/// A handle on the current request: report progress, log to the client, ask
/// the client's model (sampling) or user (elicitation), notice cancellation.
#[derive(Clone)]
pub struct Context {
    request: RequestContext<RoleServer>,
    session: Arc<SessionState>,
    /// For a stateless (2026-07-28) `tools/call` or `prompts/get`: the
    /// answers so far and where unanswered input requests go.
    input: Option<Arc<InputRound>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("request_id", &self.request.id)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub(crate) fn new(request: RequestContext<RoleServer>, session: Arc<SessionState>) -> Self {
        Self {
            request,
            session,
            input: None,
        }
    }

    /// This context for a stateless run that gathers input requests.
    pub(crate) fn with_input(mut self, round: Arc<InputRound>) -> Self {
        self.input = Some(round);
        self
    }

    /// The HTTP request headers of this call (`None` over stdio), e.g. to read
    /// a trace id. `Authorization` is never among them: the guard removes it
    /// after verifying the token, so a handler cannot forward the credential.
    pub fn http_headers(&self) -> Option<&http::HeaderMap> {
        self.request
            .extensions
            .get::<http::request::Parts>()
            .map(|parts| &parts.headers)
    }

    /// Sends a log message to the client, unless it asked for a higher minimum
    /// level: with `logging/setLevel` in a session, or per request in the
    /// stateless revision (`_meta` `io.modelcontextprotocol/logLevel`, without
    /// which a 2026-07-28 request gets no log messages at all). Delivery is
    /// best effort: a client that went away does not fail the handler.
    pub async fn log(&self, level: LogLevel, data: impl Into<Value>) {
        let minimum = if self.is_stateless() {
            match self.request.meta.log_level() {
                Some(requested) => Some(LogLevel::from_rmcp(requested)),
                None => return,
            }
        } else {
            *self
                .session
                .log_level
                .lock()
                .unwrap_or_else(|e| e.into_inner())
        };
        if minimum.is_some_and(|min| level < min) {
            return;
        }
        let param = LoggingMessageNotificationParam::new(level.to_rmcp(), data.into());
        if let Err(e) = self.request.peer.notify_logging_message(param).await {
            tracing::debug!(error = %e, "could not deliver a log message to the client");
        }
    }

    /// Whether this request speaks a stateless revision (2026-07-28 or later),
    /// which carries its protocol version in `_meta` instead of a session.
    fn is_stateless(&self) -> bool {
        self.request
            .meta
            .protocol_version()
            .is_some_and(|v| v >= rmcp::model::ProtocolVersion::V_2026_07_28)
    }

    /// Logs at `debug`.
    pub async fn debug(&self, message: impl Into<String>) {
        self.log(LogLevel::Debug, message.into()).await
    }

    /// Logs at `info`.
    pub async fn info(&self, message: impl Into<String>) {
        self.log(LogLevel::Info, message.into()).await
    }

    /// Logs at `warning`.
    pub async fn warning(&self, message: impl Into<String>) {
        self.log(LogLevel::Warning, message.into()).await
    }

    /// Logs at `error`.
    pub async fn error(&self, message: impl Into<String>) {
        self.log(LogLevel::Error, message.into()).await
    }

    /// Reports progress, if the client asked for it (sent a progress token);
    /// otherwise does nothing.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let Some(token) = self.request.meta.get_progress_token() else {
            return;
        };
        let mut param = ProgressNotificationParam::new(token, progress);
        if let Some(total) = total {
            param = param.with_total(total);
        }
        if let Some(message) = message {
            param = param.with_message(message);
        }
        if let Err(e) = self.request.peer.notify_progress(param).await {
            tracing::debug!(error = %e, "could not deliver a progress notification");
        }
    }

    /// Asks the client's model to complete `prompt` (`sampling/createMessage`)
    /// and returns the text of its answer. Works in both eras (see
    /// [`ask`](Self::ask)); its key in a 2026-07-28 input-required result is
    /// `sampling-N`, N counting this handler's input requests from 1.
    pub async fn sample(
        &self,
        prompt: impl Into<String>,
        max_tokens: u32,
    ) -> Result<String, CallError> {
        if self.is_stateless() {
            let request = InputRequest::sample(prompt, max_tokens);
            return self.ask_one(request).await?.sampled_text();
        }
        let params = InputRequest::sample_params(prompt.into(), max_tokens);
        let result = self
            .request
            .peer
            .create_message(params)
            .await
            .map_err(|e| CallError::new(format!("sampling failed: {e}")))?;
        let text = result
            .message
            .content
            .into_vec()
            .into_iter()
            .filter_map(|block| match block {
                rmcp::model::SamplingMessageContentBlock::Text(t) => Some(t.text),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n");
        Ok(text)
    }

    /// Asks the user for input (`elicitation/create`, form mode). `schema` is the
    /// requested schema: an object of primitive-typed properties. Works in
    /// both eras (see [`ask`](Self::ask)); its key in a 2026-07-28
    /// input-required result is `elicitation-N`.
    pub async fn elicit(
        &self,
        message: impl Into<String>,
        schema: Value,
    ) -> Result<ElicitResult, CallError> {
        if self.is_stateless() {
            let request = InputRequest::elicit(message, schema);
            return self.ask_one(request).await?.elicitation();
        }
        let params = InputRequest::elicit_params(message.into(), schema)?;
        self.request
            .peer
            .create_elicitation(params)
            .await
            .map_err(|e| CallError::new(format!("elicitation failed: {e}")))
    }

    /// The client's roots (`roots/list`). Works in both eras (see
    /// [`ask`](Self::ask)); its key in a 2026-07-28 input-required result is
    /// `roots-N`.
    pub async fn list_roots(&self) -> Result<Vec<Root>, CallError> {
        if self.is_stateless() {
            return self.ask_one(InputRequest::list_roots()).await?.roots();
        }
        let result = self
            .request
            .peer
            .list_roots()
            .await
            .map_err(|e| CallError::new(format!("roots/list failed: {e}")))?;
        let value = serde_json::to_value(result)
            .map_err(|e| CallError::new(format!("roots/list answer: {e}")))?;
        InputResponse(value).roots()
    }

    /// Whether the client declared the capability `kind` needs (for a
    /// 2026-07-28 request: in its `_meta` clientCapabilities; in a session: at
    /// initialisation). Asking for input it did not declare fails the request
    /// with `-32021` (2026-07-28) or an error from the client (sessions).
    pub fn client_supports(&self, kind: InputKind) -> bool {
        if let Some(round) = &self.input {
            return round.supports(kind);
        }
        let caps = if self.is_stateless() {
            self.request.meta.client_capabilities()
        } else {
            self.request
                .peer
                .peer_info()
                .map(|info| info.capabilities.clone())
        };
        caps.is_some_and(|caps| match kind {
            InputKind::Elicitation => caps.elicitation.is_some(),
            InputKind::Sampling => caps.sampling.is_some(),
            InputKind::Roots => caps.roots.is_some(),
        })
    }

    /// Asks the client for several inputs at once and returns the answers
    /// by the keys given here.
    ///
    /// In a session the requests go to the client one after the other. In the
    /// stateless 2026-07-28 revision the call is answered with an
    /// input-required result listing every request still unanswered under its
    /// key; when the client retries with the answers, the handler runs again
    /// from the start and this returns them. So a handler must ask for the
    /// same things under the same keys on every run, and do nothing it cannot
    /// repeat before its last question (see [`crate::input`]).
    pub async fn ask<K: Into<String>>(
        &self,
        requests: impl IntoIterator<Item = (K, InputRequest)>,
    ) -> Result<InputResponses, CallError> {
        let requests: Vec<(String, InputRequest)> =
            requests.into_iter().map(|(k, r)| (k.into(), r)).collect();
        if self.is_stateless() {
            let round = self.round()?;
            return Ok(round.ask(requests).await);
        }
        let mut answers = InputResponses::new();
        for (key, request) in requests {
            let answer = match request.into_parts() {
                RequestParts::Elicit { message, schema } => {
                    let result = self.elicit(message, schema).await?;
                    serde_json::to_value(result)
                }
                RequestParts::Sample { prompt, max_tokens } => {
                    let text = self.sample(prompt, max_tokens).await?;
                    Ok(serde_json::json!({
                        "role": "assistant",
                        "content": {"type": "text", "text": text},
                    }))
                }
                RequestParts::ListRoots => {
                    let roots = self.list_roots().await?;
                    Ok(serde_json::json!({ "roots": roots }))
                }
            }
            .map_err(|e| CallError::new(format!("input answer: {e}")))?;
            answers.insert(key, InputResponse(answer));
        }
        Ok(answers)
    }

    /// One stateless input request under its numbered key.
    async fn ask_one(&self, request: InputRequest) -> Result<InputResponse, CallError> {
        let round = self.round()?;
        let key = round.next_key(request.kind());
        let mut answers = round.ask(vec![(key.clone(), request)]).await;
        answers
            .remove(&key)
            .ok_or_else(|| CallError::new("the client did not answer the input request"))
    }

    fn round(&self) -> Result<&InputRound, CallError> {
        self.input.as_deref().ok_or_else(|| {
            CallError::new(
                "input from the client (elicitation, sampling, roots) is available in \
                 2026-07-28 only during tools/call, prompts/get and resources/read",
            )
        })
    }

    /// Whether the client cancelled this request.
    pub fn is_cancelled(&self) -> bool {
        self.request.ct.is_cancelled()
    }

    /// Completes when the client cancels this request.
    pub async fn cancelled(&self) {
        self.request.ct.cancelled().await
    }
}
