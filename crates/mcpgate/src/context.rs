//! The request context a handler can ask for: progress, log messages to the
//! client, cancellation, and requests back to the client (sampling, elicitation).
//!
//! Logging and sampling are deprecated by the MCP revision after 2025-11-25
//! (rmcp marks them so); mcpgate implements 2025-11-25 and earlier, where they
//! are current, hence the `allow(deprecated)` below.
#![allow(deprecated)]

use std::sync::{Arc, Mutex};

use rmcp::RoleServer;
use rmcp::model::{
    CreateMessageRequestParams, ElicitRequestParams, ElicitResult, ElicitationSchema, LoggingLevel,
    LoggingMessageNotificationParam, ProgressNotificationParam, Role, SamplingMessage,
};
use rmcp::service::RequestContext;
use serde_json::Value;

use crate::error::CallError;

/// Per-session state shared by all requests of one MCP session.
#[derive(Debug, Default)]
pub(crate) struct SessionState {
    /// The minimum level set by `logging/setLevel`; `None` sends everything.
    pub(crate) log_level: Mutex<Option<LogLevel>>,
}

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
        Self { request, session }
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
    /// and returns the text of its answer.
    pub async fn sample(
        &self,
        prompt: impl Into<String>,
        max_tokens: u32,
    ) -> Result<String, CallError> {
        let message = SamplingMessage::new(
            Role::User,
            rmcp::model::SamplingMessageContentBlock::text(prompt),
        );
        let params = CreateMessageRequestParams::new(vec![message], max_tokens);
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
    /// requested schema: an object of primitive-typed properties.
    pub async fn elicit(
        &self,
        message: impl Into<String>,
        schema: Value,
    ) -> Result<ElicitResult, CallError> {
        let requested_schema: ElicitationSchema = serde_json::from_value(schema)
            .map_err(|e| CallError::new(format!("invalid elicitation schema: {e}")))?;
        let params = ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: message.into(),
            requested_schema,
        };
        self.request
            .peer
            .create_elicitation(params)
            .await
            .map_err(|e| CallError::new(format!("elicitation failed: {e}")))
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
