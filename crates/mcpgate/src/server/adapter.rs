//! The adapter between rmcp's `ServerHandler` and mcpgate's registries: the
//! only place that speaks rmcp's handler API.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult, CompletionInfo,
    CustomRequest, CustomResult, GetPromptRequestParams, GetPromptResponse, Implementation,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse,
    Reference, ServerCapabilities, ServerConfig, SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use super::McpServer;
use super::completion::{CompletionHandler, CompletionRequest};
use crate::context::SessionState;
use crate::handler::Call;
use crate::prompts::PromptRegistry;
use crate::resources::ResourceRegistry;
use crate::tools::ToolRegistry;
use mcpgate_auth::AccessToken;

/// The rmcp `ServerHandler`: one per MCP session (rmcp's factory makes a new
/// one for each), sharing the registries and holding that session's state.
/// (Not to be confused with [`crate::Handler`], a user's handler function.)
#[derive(Clone)]
pub(crate) struct RmcpAdapter {
    shared: Arc<Shared>,
    session: Arc<SessionState>,
}

struct Shared {
    info: ServerConfig,
    tools: ToolRegistry,
    resources: ResourceRegistry,
    prompts: PromptRegistry,
    completion: Option<CompletionHandler>,
    state: Arc<http::Extensions>,
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
            }),
            session: Arc::default(),
        }
    }

    /// A handler for a new session: same registries, fresh session state.
    pub(crate) fn for_new_session(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            session: Arc::default(),
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
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(
            self.shared.tools.definitions().to_vec(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let call = self.call(name.clone(), request.arguments.unwrap_or_default(), context);
        match self.shared.tools.call(call).await {
            Some(result) => Ok(result.into()),
            None => Err(ErrorData::invalid_params(
                format!("unknown tool `{name}`"),
                None,
            )),
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(
            self.shared.resources.list(),
        ))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            self.shared.resources.list_templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri.clone();
        let result = self
            .shared
            .resources
            .read(&uri, |arguments| self.call(uri.clone(), arguments, context))
            .await?;
        Ok(result.into())
    }

    async fn subscribe(
        &self,
        _request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // Resources here do not change on their own, so there is never an
        // update to send; accepting the subscription is all there is to do.
        Ok(())
    }

    async fn unsubscribe(
        &self,
        _request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(
            self.shared.prompts.list(),
        ))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let call = self.call(request.name, request.arguments.unwrap_or_default(), context);
        Ok(self.shared.prompts.get(call).await?.into())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
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
