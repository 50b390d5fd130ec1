//! [`Call`]: one request as handlers see it.

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::JsonObject;
use rmcp::service::RequestContext;

use crate::context::{Context, SessionState};
use mcpgate_auth::AccessToken;

/// One `tools/call`, `resources/read` or `prompts/get`, as handlers see it.
#[derive(Debug, Clone)]
pub struct Call {
    pub(crate) name: String,
    pub(crate) arguments: JsonObject,
    pub(crate) token: Option<Arc<AccessToken>>,
    pub(crate) context: Option<Context>,
    pub(crate) state: Arc<http::Extensions>,
}

impl Call {
    pub(crate) fn new(
        name: impl Into<String>,
        arguments: JsonObject,
        token: Option<Arc<AccessToken>>,
        request: Option<RequestContext<RoleServer>>,
        session: Option<Arc<SessionState>>,
        state: Arc<http::Extensions>,
    ) -> Self {
        let context = request.map(|r| Context::new(r, session.unwrap_or_default()));
        Self {
            name: name.into(),
            arguments,
            token,
            context,
            state,
        }
    }

    /// This call as one run of a stateless (2026-07-28) request that may
    /// stop for input from the client (see [`crate::input`]).
    pub(crate) fn with_input(mut self, round: Option<Arc<crate::input::InputRound>>) -> Self {
        if let Some(round) = round {
            self.context = self.context.map(|c| c.with_input(round));
        }
        self
    }

    /// A call for unit-testing a handler without a server: `arguments` must
    /// be a JSON object (anything else counts as no arguments), `token` is
    /// the caller (see [`AccessToken::for_testing`]). There is no request
    /// context and no state, so `Context` and `State<S>` extractors fail.
    ///
    /// ```
    /// use mcpgate::{AccessToken, Call, Handler};
    ///
    /// async fn whoami(token: AccessToken) -> String {
    ///     token.subject().to_owned()
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let call = Call::for_testing("whoami", serde_json::json!({}), Some(AccessToken::for_testing(serde_json::json!({"sub": "usr_1"}))));
    /// assert_eq!(whoami.call(call).await.unwrap(), "usr_1");
    /// # });
    /// ```
    pub fn for_testing(
        name: impl Into<String>,
        arguments: serde_json::Value,
        token: Option<AccessToken>,
    ) -> Self {
        let arguments = match arguments {
            serde_json::Value::Object(map) => map,
            _ => JsonObject::new(),
        };
        Self::new(
            name,
            arguments,
            token.map(Arc::new),
            None,
            None,
            Arc::default(),
        )
    }

    /// The tool or prompt name, or the resource URI.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The arguments (for a templated resource: the URI template's variables).
    pub fn arguments(&self) -> &JsonObject {
        &self.arguments
    }

    /// The verified caller, if the request was authenticated (never over stdio).
    pub fn access_token(&self) -> Option<&AccessToken> {
        self.token.as_deref()
    }
}
