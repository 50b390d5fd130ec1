//! The adapter between rmcp's `ServerHandler` and mcpgate's registries: the
//! only place that speaks rmcp's handler API.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult, CompletionInfo,
    CustomRequest, CustomResult, GetPromptRequestParams, GetPromptResponse, Implementation,
    InputRequiredResult, InputResponses, JsonObject, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, Reference,
    ServerCapabilities, ServerConfig, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};

use super::McpServer;
use super::completion::{CompletionHandler, CompletionRequest};
use super::request_state::{Binding, RequestStateSealer};
use super::subscriptions::Notifier;
use crate::context::{MAX_SESSION_SUBSCRIPTIONS, SessionState};
use crate::handler::Call;
use crate::input::{InputKind, InputRound, MAX_INPUTS, Stop};
use crate::prompts::PromptRegistry;
use crate::resources::ResourceRegistry;
use crate::tools::ToolRegistry;
use mcpgate_auth::AccessToken;
use mcpgate_auth::policy::{ItemKind, PolicySet};

/// The rmcp `ServerHandler`: one per MCP session (rmcp's factory makes a new
/// one for each), sharing the registries and holding that session's state.
/// (Not to be confused with [`crate::Handler`], a user's handler function.)
#[derive(Clone)]
pub(crate) struct RmcpAdapter {
    shared: Arc<Shared>,
    session: Arc<SessionState>,
    /// Per-item policies (HTTP with auth only): lists show each caller what
    /// it may use. Calls are decided earlier, by the guard.
    policies: Option<Arc<PolicySet>>,
}

struct Shared {
    info: ServerConfig,
    tools: ToolRegistry,
    resources: ResourceRegistry,
    prompts: PromptRegistry,
    completion: Option<CompletionHandler>,
    state: Arc<http::Extensions>,
    /// Seals the `requestState` of 2026-07-28 input-required results.
    sealer: RequestStateSealer,
    notifier: Notifier,
}

/// The outcome of a handler run for a request that may need client input.
enum Run<T> {
    Complete(T),
    InputRequired(InputRequiredResult),
}

impl RmcpAdapter {
    #[allow(deprecated)] // logging is current in the revisions served (see supported_protocol_versions)
    pub(crate) fn new(server: McpServer) -> Self {
        // Every capability the server can honour; the ones it has nothing for are dropped below.
        let full = ServerCapabilities::builder()
            .enable_logging()
            .enable_completions()
            .enable_prompts()
            .enable_prompts_list_changed()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_resources_subscribe()
            .enable_tools()
            .enable_tool_list_changed()
            .build();
        let mut capabilities = ServerCapabilities::default();
        capabilities.logging = full.logging;
        if server.completion.is_some() {
            capabilities.completions = full.completions;
        }
        if !server.tools.is_empty() {
            capabilities.tools = full.tools;
        }
        if !server.resources.is_empty() {
            capabilities.resources = full.resources;
        }
        if !server.prompts.is_empty() {
            capabilities.prompts = full.prompts;
        }
        let mut info = ServerConfig::new(capabilities).with_server_info(Implementation::new(
            server.name.clone(),
            server.version.clone(),
        ));
        if let Some(instructions) = &server.instructions {
            info = info.with_instructions(instructions.clone());
        }
        Self {
            shared: Arc::new(Shared {
                info,
                tools: server.tools,
                resources: server.resources,
                prompts: server.prompts,
                completion: server.completion,
                state: Arc::new(server.state),
                sealer: match &server.request_state_key {
                    Some(key) => RequestStateSealer::with_key(key),
                    None => RequestStateSealer::random(),
                },
                notifier: server.notifier,
            }),
            session: Arc::default(),
            policies: None,
        }
    }

    /// Filters lists with `policies` (the set the guard enforces).
    pub(crate) fn with_policies(mut self, policies: Option<Arc<PolicySet>>) -> Self {
        self.policies = policies;
        self
    }

    /// A handler for a new session: same registries, fresh session state.
    pub(crate) fn for_new_session(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            session: Arc::default(),
            policies: self.policies.clone(),
        }
    }

    /// Whether the caller of `context` may see the item in a list. Without
    /// policies everything is visible; with policies but no verified caller
    /// nothing is (cannot happen over HTTP, where policies need auth: fail
    /// closed all the same).
    fn visible(&self, caller: Option<&AccessToken>, kind: ItemKind, name: &str) -> bool {
        match (&self.policies, caller) {
            (None, _) => true,
            (Some(set), Some(token)) => set.allows(kind, name, token),
            (Some(_), None) => false,
        }
    }

    fn call(
        &self,
        name: impl Into<String>,
        arguments: rmcp::model::JsonObject,
        context: RequestContext<RoleServer>,
    ) -> Call {
        let token = caller(&context);
        Call::new(
            name,
            arguments,
            token,
            Some(context),
            Some(self.session.clone()),
            self.shared.state.clone(),
        )
    }
}

impl RmcpAdapter {
    /// Runs a handler. `run` gets the input round to attach to its calls
    /// (see [`Call::with_input`]): `Some` for a stateless (2026-07-28)
    /// request, which gets the input-required machinery (see
    /// [`crate::input`]): the client's answers from `requestState` (verified)
    /// and `inputResponses`, and if the handler waits on input it does not
    /// have, it is stopped (its future dropped) and the request is answered
    /// with an input-required result.
    #[allow(clippy::too_many_arguments)] // one call site per method, all named
    async fn run_with_input<T, F, Fut>(
        &self,
        method: &str,
        name: &str,
        arguments: &JsonObject,
        input_responses: Option<InputResponses>,
        request_state: Option<String>,
        context: &RequestContext<RoleServer>,
        run: F,
    ) -> Result<Run<T>, ErrorData>
    where
        F: FnOnce(Option<Arc<InputRound>>) -> Fut,
        Fut: Future<Output = Result<T, ErrorData>>,
    {
        let stateless = context
            .meta
            .protocol_version()
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
        if !stateless {
            return run(None).await.map(Run::Complete);
        }
        let token = caller(context);
        // A JSON array: unambiguous whatever the claims contain.
        let principal = match &token {
            Some(t) => serde_json::json!([t.issuer(), t.subject(), t.client_id()]).to_string(),
            None => "anonymous".to_owned(),
        };
        let binding = Binding {
            method,
            name,
            arguments,
            principal: &principal,
        };
        let mut answers = match &request_state {
            Some(sealed) => self
                .shared
                .sealer
                .open(sealed, &binding)
                .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?,
            None => JsonObject::new(),
        };
        let fresh = input_responses.unwrap_or_default();
        if fresh.len() > MAX_INPUTS {
            return Err(ErrorData::invalid_params(
                format!("inputResponses may hold at most {MAX_INPUTS} answers"),
                None,
            ));
        }
        for (key, answer) in fresh {
            // Every answer (ElicitResult, CreateMessageResult, ListRootsResult)
            // is an object; anything else is a malformed retry.
            if !answer.is_object() {
                return Err(ErrorData::invalid_params(
                    format!("inputResponses[\"{key}\"] must be an object"),
                    None,
                ));
            }
            answers.insert(key, answer);
        }
        let capabilities = context.meta.client_capabilities().unwrap_or_default();
        let round = Arc::new(InputRound::new(answers, capabilities));
        let handler = run(Some(round.clone()));
        tokio::pin!(handler);
        let stop = tokio::select! {
            result = &mut handler => return result.map(Run::Complete),
            stop = round.stopped() => stop,
        };
        match stop {
            Stop::Input(requests) => {
                let sealed = self
                    .shared
                    .sealer
                    .seal(round.answers(), &binding)
                    .ok_or_else(|| {
                        ErrorData::invalid_params(
                            "the answers so far are too large to carry in requestState",
                            None,
                        )
                    })?;
                Ok(Run::InputRequired(InputRequiredResult::new(
                    Some(requests),
                    Some(sealed),
                )))
            }
            Stop::MissingCapabilities(kinds) => Err(missing_capabilities(&kinds)),
            Stop::Invalid(e) => Err(ErrorData::internal_error(e.0, None)),
        }
    }
}

impl RmcpAdapter {
    /// Sends this session the changes told to the [`Notifier`] (once per session).
    fn forward_changes(&self, peer: rmcp::service::Peer<RoleServer>) {
        let caps = &self.shared.info.capabilities;
        let advertised = [
            caps.tools.as_ref().and_then(|t| t.list_changed) == Some(true),
            caps.prompts.as_ref().and_then(|p| p.list_changed) == Some(true),
            caps.resources.as_ref().and_then(|r| r.list_changed) == Some(true),
        ];
        self.shared
            .notifier
            .forward_to_session(peer, &self.session, advertised);
    }
}

/// `-32021` naming the capabilities, as a `ClientCapabilities` object.
fn missing_capabilities(kinds: &[InputKind]) -> ErrorData {
    let required: serde_json::Map<String, serde_json::Value> = kinds
        .iter()
        .map(|k| (k.capability().to_owned(), serde_json::json!({})))
        .collect();
    let names: Vec<&str> = kinds.iter().map(|k| k.capability()).collect();
    ErrorData::new(
        rmcp::model::ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY,
        format!(
            "this request needs the client capability {} (not declared in _meta clientCapabilities)",
            names.join(", ")
        ),
        Some(serde_json::json!({ "requiredCapabilities": required })),
    )
}

/// The client-to-server request methods this server answers (see the
/// `ServerHandler` implementation below); a request for one of them that rmcp
/// could not read has invalid params.
const IMPLEMENTED_METHODS: &[&str] = &[
    "ping",
    "initialize",
    "completion/complete",
    "logging/setLevel",
    "prompts/get",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "tools/call",
    "tools/list",
];

/// The verified caller of an rmcp request, put there by the guard.
fn caller(context: &RequestContext<RoleServer>) -> Option<Arc<AccessToken>> {
    context
        .extensions
        .get::<http::request::Parts>()?
        .extensions
        .get::<Arc<AccessToken>>()
        .cloned()
}

#[allow(deprecated)] // logging/setLevel and subscriptions are current in the versions served
impl ServerHandler for RmcpAdapter {
    fn get_info(&self) -> ServerConfig {
        self.shared.info.clone()
    }

    /// The session-era revisions (2024-11-05 to 2025-11-25) and the stateless
    /// 2026-07-28: rmcp's Streamable HTTP service routes a 2026-07-28 request
    /// without a session, and the guard authenticates it on its own.
    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        std::borrow::Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2026_07_28))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let definitions = self.shared.tools.definitions();
        let tools = if self.policies.is_none() {
            definitions.to_vec()
        } else {
            let caller = caller(&context);
            definitions
                .iter()
                .filter(|t| self.visible(caller.as_deref(), ItemKind::Tool, &t.name))
                .cloned()
                .collect()
        };
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let arguments = request.arguments.unwrap_or_default();
        let run = self
            .run_with_input(
                "tools/call",
                &name,
                &arguments,
                request.input_responses,
                request.request_state,
                &context,
                |round| async {
                    let call = self
                        .call(name.clone(), arguments.clone(), context.clone())
                        .with_input(round);
                    self.shared.tools.call(call).await.ok_or_else(|| {
                        ErrorData::invalid_params(format!("unknown tool `{name}`"), None)
                    })
                },
            )
            .await?;
        Ok(match run {
            Run::Complete(result) => result.into(),
            Run::InputRequired(result) => result.into(),
        })
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let resources = if self.policies.is_none() {
            self.shared.resources.list()
        } else {
            let caller = caller(&context);
            self.shared
                .resources
                .list_where(|r| self.visible(caller.as_deref(), ItemKind::Resource, &r.uri))
        };
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let templates = if self.policies.is_none() {
            self.shared.resources.list_templates()
        } else {
            let caller = caller(&context);
            self.shared.resources.list_templates_where(|t| {
                self.visible(
                    caller.as_deref(),
                    ItemKind::ResourceTemplate,
                    &t.uri_template,
                )
            })
        };
        Ok(ListResourceTemplatesResult::with_all_items(templates))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri;
        let run = self
            .run_with_input(
                "resources/read",
                &uri,
                &JsonObject::new(),
                request.input_responses,
                request.request_state,
                &context,
                |round| {
                    self.shared.resources.read(&uri, |arguments| {
                        self.call(uri.clone(), arguments, context.clone())
                            .with_input(round)
                    })
                },
            )
            .await?;
        Ok(match run {
            Run::Complete(result) => result.into(),
            Run::InputRequired(result) => result.into(),
        })
    }

    /// Every category the client asks for; rmcp narrows it to what the
    /// server advertises (list changes of what it has, resource updates).
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        // Called before rmcp acknowledges the subscription: the stream starts
        // from here, so a change right after the acknowledgment is not lost.
        self.shared.notifier.accept();
        Some(requested.clone())
    }

    async fn listen(&self, subscription: SubscriptionContext) -> Result<(), ErrorData> {
        self.shared.notifier.listen(subscription).await
    }

    /// Session-era subscription: updates for `uri` sent through the
    /// [`Notifier`] reach this session.
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // `on_initialized` runs as a task of its own; make sure updates flow
        // once the client has been told it is subscribed.
        self.forward_changes(context.peer);
        let mut subscriptions = self
            .session
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if subscriptions.len() >= MAX_SESSION_SUBSCRIPTIONS && !subscriptions.contains(&request.uri)
        {
            return Err(ErrorData::invalid_params(
                format!("at most {MAX_SESSION_SUBSCRIPTIONS} resource subscriptions per session"),
                None,
            ));
        }
        subscriptions.insert(request.uri);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.session
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&request.uri);
        Ok(())
    }

    /// A session is live: from now on it hears of list changes.
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.forward_changes(context.peer);
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let prompts = if self.policies.is_none() {
            self.shared.prompts.list()
        } else {
            let caller = caller(&context);
            self.shared
                .prompts
                .list_where(|p| self.visible(caller.as_deref(), ItemKind::Prompt, &p.name))
        };
        Ok(ListPromptsResult::with_all_items(prompts))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let arguments = request.arguments.unwrap_or_default();
        let run = self
            .run_with_input(
                "prompts/get",
                &request.name,
                &arguments,
                request.input_responses,
                request.request_state,
                &context,
                |round| async {
                    let call = self
                        .call(request.name.clone(), arguments.clone(), context.clone())
                        .with_input(round);
                    self.shared.prompts.get(call).await
                },
            )
            .await?;
        Ok(match run {
            Run::Complete(result) => result.into(),
            Run::InputRequired(result) => result.into(),
        })
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let Some(handler) = &self.shared.completion else {
            return Err(ErrorData::method_not_found::<
                rmcp::model::CompleteRequestMethod,
            >());
        };
        let (reference, is_prompt) = match &request.r#ref {
            Reference::Prompt(p) => (p.name.clone(), true),
            Reference::Resource(r) => (r.uri.clone(), false),
            _ => {
                return Err(ErrorData::invalid_params(
                    "unsupported completion reference",
                    None,
                ));
            }
        };
        let kind = if is_prompt {
            ItemKind::Prompt
        } else {
            ItemKind::ResourceTemplate
        };
        if self.policies.is_some() && !self.visible(caller(&context).as_deref(), kind, &reference) {
            // As for an item hidden from lists: nothing to complete, and no
            // hint that it exists.
            let info = CompletionInfo::with_pagination(Vec::new(), Some(0), false)
                .map_err(|e| ErrorData::internal_error(e, None))?;
            return Ok(CompleteResult::new(info));
        }
        let values = handler(CompletionRequest {
            reference,
            is_prompt,
            argument: request.argument.name.clone(),
            value: request.argument.value.clone(),
        })
        .await;
        // The protocol caps one answer at 100 values.
        let total = values.len();
        let values: Vec<String> = values.into_iter().take(100).collect();
        let info = CompletionInfo::with_pagination(values, Some(total as u32), total > 100)
            .map_err(|e| ErrorData::internal_error(e, None))?;
        Ok(CompleteResult::new(info))
    }

    /// rmcp reads a request whose params do not fit its method (`tools/call`
    /// with `"arguments": "x"`) as a custom request, whose default answer is
    /// `-32601 Method not found`. For a method this server implements the
    /// method is there and the params are wrong: `-32602 Invalid params`.
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        let method = request.method.as_str();
        if !IMPLEMENTED_METHODS.contains(&method) {
            return Err(ErrorData::new(
                rmcp::model::ErrorCode::METHOD_NOT_FOUND,
                method.to_owned(),
                None,
            ));
        }
        // Say what is wrong where that is cheap to know.
        let detail = match method {
            "tools/call" => request
                .params_as::<CallToolRequestParams>()
                .err()
                .map(|e| format!(": {e}")),
            _ => None,
        }
        .unwrap_or_default();
        Err(ErrorData::invalid_params(
            format!("Invalid params for `{method}`{detail}"),
            None,
        ))
    }

    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        *self
            .session
            .log_level
            .lock()
            .unwrap_or_else(|e| e.into_inner()) =
            Some(crate::context::LogLevel::from_rmcp(request.level));
        Ok(())
    }
}
