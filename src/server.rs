//! The MCP server: tools, optional bearer-token protection, and the HTTP and
//! stdio transports. rmcp (the official Rust SDK) speaks the protocol; this
//! module is the only place that wires it up.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::serve::ListenerExt;
use futures::future::BoxFuture;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult, CompletionInfo,
    GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, Reference, Resource,
    ResourceTemplate, ServerCapabilities, ServerConfig, SubscribeRequestParams,
    UnsubscribeRequestParams,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use tokio::net::TcpListener;

use crate::as_metadata::{AS_METADATA_PREFIX, MetadataForwarder};
use crate::challenge::ChallengeParams;
use crate::claims::AccessToken;
use crate::config::{ConfigError, Env};
use crate::context::SessionState;
use crate::guard::{Guard, host_guard, mcp_guard};
use crate::handler::{Call, Handler as CallHandler};
use crate::origin::OriginPolicy;
use crate::prm::{MetadataDocument, PRM_PREFIX, preflight};
use crate::prompts::{IntoPromptResult, PromptRegistry};
use crate::protection::ProtectedResource;
use crate::providers::AuthProvider;
use crate::resources::{IntoResourceBody, ResourceRegistry};
use crate::session::SessionOwners;
use crate::tools::{IntoToolResult, ToolRegistry};
use crate::types::McpUrl;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Invalid configuration; the message names the variable or field.
    // Transparent / source-only messages: error reporters that print the
    // source chain (anyhow's `{:#}`) would otherwise say everything twice.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Binding or serving failed.
    #[error("I/O error")]
    Io(#[from] std::io::Error),
    /// The MCP session over stdio failed.
    #[error("MCP transport error: {0}")]
    Transport(String),
}

/// Default idle time after which an MCP session is closed.
pub const DEFAULT_SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Default cap on a request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// An MCP server under construction: name, tools and (optionally) auth.
///
/// ```no_run
/// use mcpgate::{McpServer, ScalekitProvider};
///
/// # async fn run() -> Result<(), mcpgate::ServeError> {
/// McpServer::new("My Server")
///     .auth(ScalekitProvider::new("https://acme.scalekit.com", "res_123", "http://localhost:8000/mcp"))
///     .tool("hello", "Says hello", || async { "hello" })
///     .serve_http_at_mcp_url()
///     .await
/// # }
/// ```
pub struct McpServer {
    name: String,
    version: String,
    instructions: Option<String>,
    tools: ToolRegistry,
    resources: ResourceRegistry,
    prompts: PromptRegistry,
    completion: Option<CompletionHandler>,
    auth: Option<Box<dyn AuthProvider>>,
    auth_from_env: bool,
    mcp_url: Option<String>,
    extra_origins: Vec<String>,
    extra_hosts: Vec<String>,
    session_idle_timeout: Duration,
    max_body_bytes: usize,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl McpServer {
    /// A server with this name and no tools.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            instructions: None,
            tools: ToolRegistry::default(),
            resources: ResourceRegistry::default(),
            prompts: PromptRegistry::default(),
            completion: None,
            auth: None,
            auth_from_env: true,
            mcp_url: None,
            extra_origins: Vec::new(),
            extra_hosts: Vec::new(),
            session_idle_timeout: DEFAULT_SESSION_IDLE_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// The version reported in `serverInfo`.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Instructions sent to clients at initialisation.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = Some(instructions.into());
        self
    }

    /// Protects the HTTP endpoint with this provider (e.g. [`crate::ScalekitProvider`]).
    pub fn auth(mut self, provider: impl AuthProvider) -> Self {
        self.auth = Some(Box::new(provider));
        self
    }

    /// Do not read auth settings from the environment when none were given in code.
    pub fn without_env_auth(mut self) -> Self {
        self.auth_from_env = false;
        self
    }

    /// The public MCP URL when no auth provider sets one (it decides the
    /// endpoint path and the Host/Origin allow-lists). Default: the listener's
    /// address with path `/mcp`.
    pub fn mcp_url(mut self, url: impl Into<String>) -> Self {
        self.mcp_url = Some(url.into());
        self
    }

    /// Also accepts browser requests from this origin (e.g. `http://localhost:6274`
    /// for MCP Inspector). The MCP URL's own origin is always accepted.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.extra_origins.push(origin.into());
        self
    }

    /// Also accepts this `Host` authority (e.g. an internal name behind a proxy).
    pub fn allow_host(mut self, authority: impl Into<String>) -> Self {
        self.extra_hosts.push(authority.into());
        self
    }

    /// Closes sessions idle for this long (default 30 minutes).
    pub fn session_idle_timeout(mut self, timeout: Duration) -> Self {
        self.session_idle_timeout = timeout;
        self
    }

    /// Caps request bodies (default 4 MiB).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Registers a tool: an async function of extractors (see [`crate::handler`])
    /// whose result implements [`IntoToolResult`]. The input schema comes from its
    /// [`Args`](crate::Args) type.
    pub fn tool<H, M>(mut self, name: &str, description: &str, handler: H) -> Self
    where
        H: CallHandler<M>,
        H::Output: IntoToolResult,
        M: 'static,
    {
        self.tools.add(name, description, None, handler);
        self
    }

    /// Registers a tool defined with [`tool!`](crate::tool!) (name and
    /// description from the function and its doc comment).
    pub fn add_tool(mut self, tool: crate::ToolDef) -> Self {
        tool.register(&mut self.tools);
        self
    }

    /// Registers a prompt defined with [`prompt!`](crate::prompt!).
    pub fn add_prompt(mut self, prompt: crate::PromptDef) -> Self {
        prompt.register(&mut self.prompts);
        self
    }

    /// Registers a tool whose input schema is given verbatim (for schemas a Rust
    /// type cannot express); the handler reads [`Call::arguments`] itself.
    ///
    /// ```
    /// use mcpgate::{Call, McpServer};
    /// use serde_json::json;
    ///
    /// let schema = json!({
    ///     "type": "object",
    ///     "properties": {"name": {"type": "string"}},
    ///     "additionalProperties": false
    /// });
    /// let server = McpServer::new("demo").tool_with_schema("greet", "Greets", schema, |call: Call| async move {
    ///     let name = call.arguments().get("name").and_then(|v| v.as_str()).unwrap_or("world").to_owned();
    ///     format!("Hello, {name}!")
    /// });
    /// ```
    pub fn tool_with_schema<H, M>(
        mut self,
        name: &str,
        description: &str,
        input_schema: serde_json::Value,
        handler: H,
    ) -> Self
    where
        H: CallHandler<M>,
        H::Output: IntoToolResult,
        M: 'static,
    {
        let schema = match input_schema {
            serde_json::Value::Object(map) => map,
            other => {
                tracing::error!(tool = name, schema = %other, "a tool input schema must be a JSON object; using an empty object schema");
                crate::tools::empty_object_schema().as_ref().clone()
            }
        };
        self.tools
            .add(name, description, Some(Arc::new(schema)), handler);
        self
    }

    /// Registers a resource at a fixed URI, described by `resource`
    /// (`Resource::new(uri, name)` with optional description and MIME type).
    /// The handler returns text (`String`, `&str`, JSON `Value`), [`Blob`](crate::Blob)
    /// for binary data, or a `Result` of those.
    ///
    /// ```
    /// use mcpgate::{Blob, McpServer, model::Resource};
    ///
    /// let server = McpServer::new("demo")
    ///     .resource(
    ///         Resource::new("docs://readme", "Read me").with_mime_type("text/markdown"),
    ///         || async { "# Hello" },
    ///     )
    ///     .resource(
    ///         Resource::new("img://logo", "Logo").with_mime_type("image/png"),
    ///         || async { Blob(vec![0x89, b'P', b'N', b'G']) },
    ///     );
    /// ```
    pub fn resource<H, M>(mut self, resource: Resource, handler: H) -> Self
    where
        H: CallHandler<M>,
        H::Output: IntoResourceBody,
        M: 'static,
    {
        self.resources.add(resource, handler);
        self
    }

    /// Registers a resource template such as `users://{id}/profile`; the
    /// variables reach the handler as arguments (`Args<T>` or [`Call::arguments`]).
    ///
    /// ```
    /// use mcpgate::{Args, McpServer, model::ResourceTemplate};
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Profile { id: String }
    ///
    /// let server = McpServer::new("demo").resource_template(
    ///     ResourceTemplate::new("users://{id}/profile", "User profile").with_mime_type("application/json"),
    ///     |Args(p): Args<Profile>| async move { serde_json::json!({ "id": p.id }) },
    /// );
    /// ```
    ///
    /// # Panics
    /// If the template is not `literal{var}literal…` (a programming error).
    pub fn resource_template<H, M>(mut self, template: ResourceTemplate, handler: H) -> Self
    where
        H: CallHandler<M>,
        H::Output: IntoResourceBody,
        M: 'static,
    {
        if let Err(e) = self.resources.add_template(template, handler) {
            panic!("invalid resource template: {e}");
        }
        self
    }

    /// Registers a prompt; its arguments (names, descriptions from doc comments,
    /// required-ness from `Option`) are derived from the handler's `Args<T>` type.
    /// The handler returns a `String` (one user message), `Vec<PromptMessage>`
    /// or a full `GetPromptResult`.
    ///
    /// ```
    /// use mcpgate::{Args, McpServer};
    ///
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Review {
    ///     /// The code to review.
    ///     code: String,
    ///     /// Optional focus, e.g. "security".
    ///     focus: Option<String>,
    /// }
    ///
    /// let server = McpServer::new("demo").prompt("review", "Review some code", |Args(r): Args<Review>| async move {
    ///     format!("Review this ({}):\n{}", r.focus.as_deref().unwrap_or("general"), r.code)
    /// });
    /// ```
    pub fn prompt<H, M>(mut self, name: &str, description: &str, handler: H) -> Self
    where
        H: CallHandler<M>,
        H::Output: IntoPromptResult,
        M: 'static,
    {
        self.prompts.add(name, description, handler);
        self
    }

    /// Answers `completion/complete` with `handler`, which gets the reference
    /// (prompt name or resource template), the argument name and its partial value.
    ///
    /// ```
    /// use mcpgate::{CompletionRequest, McpServer};
    ///
    /// let server = McpServer::new("demo").completion(|req: CompletionRequest| async move {
    ///     ["red", "green", "blue"].iter().filter(|c| c.starts_with(&req.value)).map(|c| c.to_string()).collect()
    /// });
    /// ```
    pub fn completion<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(CompletionRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<String>> + Send + 'static,
    {
        self.completion = Some(Arc::new(move |request| Box::pin(handler(request))));
        self
    }

    /// Resolves the auth provider: the one given in code, else the environment.
    fn resolve_auth(&mut self) -> Result<Option<ProtectedResource>, ConfigError> {
        if let Some(provider) = self.auth.take() {
            return provider.build().map(Some);
        }
        if self.auth_from_env
            && let Some(provider) = Env::from_process()?.scalekit_provider()?
        {
            tracing::info!("auth configured from the environment");
            return provider.build().map(Some);
        }
        Ok(None)
    }

    /// Builds the HTTP application. `local_addr` supplies the default MCP URL
    /// when neither auth nor [`mcp_url`](Self::mcp_url) sets one.
    pub fn into_http(mut self, local_addr: Option<SocketAddr>) -> Result<HttpApp, ServeError> {
        let protection = self.resolve_auth()?;
        let mcp_url = match (&protection, &self.mcp_url) {
            (Some(p), Some(explicit)) => {
                let explicit = McpUrl::parse(explicit)
                    .map_err(|e| ConfigError::new("mcp_url", e.to_string()))?;
                if &explicit != p.resource() {
                    return Err(ConfigError::new(
                        "mcp_url",
                        format!("`{explicit}` differs from the auth provider's MCP URL `{}`; set only one", p.resource()),
                    )
                    .into());
                }
                explicit
            }
            (Some(p), None) => p.resource().clone(),
            (None, Some(explicit)) => {
                McpUrl::parse(explicit).map_err(|e| ConfigError::new("mcp_url", e.to_string()))?
            }
            (None, None) => {
                let addr = local_addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8000)));
                McpUrl::parse(&format!("http://{addr}/mcp"))
                    .map_err(|e| ConfigError::new("mcp_url", e.to_string()))?
            }
        };
        if protection.is_none() {
            tracing::warn!(%mcp_url, "serving MCP over HTTP WITHOUT authentication");
        }

        let mut policy = OriginPolicy::for_mcp_url(&mcp_url);
        for origin in &self.extra_origins {
            policy = policy.allow_origin(origin).ok_or_else(|| {
                ConfigError::new(
                    "allowed origins",
                    format!("`{origin}` is not an origin like https://app.example.com"),
                )
            })?;
        }
        for host in &self.extra_hosts {
            policy = policy.allow_host(host);
        }

        let handler = Handler::new(&self);
        let router = build_router(handler, &mcp_url, protection.clone(), policy, &self);
        Ok(HttpApp {
            router,
            mcp_url,
            protection,
        })
    }

    /// Serves over HTTP on an already-bound listener until `shutdown` completes.
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let app = self.into_http(listener.local_addr().ok())?;
        app.serve(listener, shutdown).await
    }

    /// Binds to the host and port of the MCP URL (from auth or
    /// [`mcp_url`](Self::mcp_url)) and serves until Ctrl-C.
    pub async fn serve_http_at_mcp_url(self) -> Result<(), ServeError> {
        let app = self.into_http(None)?;
        let url = app.mcp_url.url();
        let host = url
            .host_str()
            .unwrap_or("127.0.0.1")
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let listener = TcpListener::bind((host.as_str(), port)).await?;
        app.serve(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    }

    /// Serves over stdio (no auth: the MCP specification leaves credentials to
    /// the environment there). Returns when the client disconnects.
    pub async fn serve_stdio(self) -> Result<(), ServeError> {
        let (stdin, stdout) = rmcp::transport::stdio();
        self.serve_io(stdin, stdout).await
    }

    /// Serves one MCP session over a byte stream pair (newline-delimited JSON-RPC,
    /// as on stdio), without auth. Returns when the peer disconnects.
    pub async fn serve_io<R, W>(self, read: R, write: W) -> Result<(), ServeError>
    where
        R: tokio::io::AsyncRead + Send + Unpin + 'static,
        W: tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let handler = Handler::new(&self);
        let running = handler
            .serve((read, write))
            .await
            .map_err(|e| ServeError::Transport(e.to_string()))?;
        running
            .waiting()
            .await
            .map_err(|e| ServeError::Transport(e.to_string()))?;
        Ok(())
    }
}

/// A ready-to-serve HTTP application.
pub struct HttpApp {
    router: Router,
    mcp_url: McpUrl,
    protection: Option<ProtectedResource>,
}

impl std::fmt::Debug for HttpApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpApp")
            .field("mcp_url", &self.mcp_url)
            .finish_non_exhaustive()
    }
}

impl HttpApp {
    /// The canonical MCP URL.
    pub fn mcp_url(&self) -> &McpUrl {
        &self.mcp_url
    }

    /// The protected-resource setup, if auth is on.
    pub fn protection(&self) -> Option<&ProtectedResource> {
        self.protection.as_ref()
    }

    /// The axum router, to embed in a larger application.
    pub fn into_router(self) -> Router {
        self.router
    }

    /// Serves on `listener` (TCP_NODELAY on every connection) until `shutdown`.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        tracing::info!(mcp_url = %self.mcp_url, addr = ?listener.local_addr().ok(), auth = self.protection.is_some(), "serving MCP over HTTP");
        if let Some(p) = &self.protection {
            // Warm the key cache so the first client does not pay for the fetch.
            let keys = p.verifier().keys().clone();
            tokio::spawn(async move { keys.prefetch().await });
        }
        // Without TCP_NODELAY, small SSE frames wait on Nagle + delayed ACK (~40 ms).
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        axum::serve(listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await?;
        Ok(())
    }
}

fn build_router(
    handler: Handler,
    mcp_url: &McpUrl,
    protection: Option<ProtectedResource>,
    policy: OriginPolicy,
    server: &McpServer,
) -> Router {
    let mut session_manager = LocalSessionManager::default();
    session_manager.session_config.keep_alive = Some(server.session_idle_timeout);
    let mcp_config = StreamableHttpServerConfig::default()
        // Host and Origin are checked by our guard, before authentication, as the
        // MCP specification orders it; rmcp's own check would run after it.
        .disable_allowed_hosts()
        .with_max_request_body_bytes(server.max_body_bytes);
    let mcp_service = StreamableHttpService::new(
        move || Ok(handler.for_new_session()),
        Arc::new(session_manager),
        mcp_config,
    );

    let challenge = Arc::new(ChallengeParams {
        resource_metadata: mcp_url.protected_resource_metadata_url(),
        required_scopes: protection
            .as_ref()
            .map(|p| p.required_scopes().clone())
            .unwrap_or_default(),
    });
    let well_known = protection.as_ref().map(|p| {
        let body = serde_json::to_vec(&p.metadata_document()).expect("metadata serialises");
        (
            MetadataDocument(body.into()),
            p.upstream_metadata_url.clone().map(MetadataForwarder::new),
        )
    });
    let guard = Arc::new(Guard {
        policy,
        protection: protection.map(|p| (p, challenge)),
        // Bindings outlive rmcp's sessions a little, never the other way round.
        sessions: SessionOwners::new(server.session_idle_timeout * 2),
    });

    let path = mcp_url.path();
    let mut mcp = Router::new().route_service(path, mcp_service.clone());
    if path != "/" {
        // Both spellings are served: FastMCP's 307 from `/mcp/` breaks POST clients.
        mcp = mcp.route_service(&format!("{path}/"), mcp_service);
    }
    // `route_layer`, not `layer`: `layer` would also wrap the fallback, so every
    // unknown path would be challenged (401) instead of answered 404.
    let mcp = mcp.route_layer(from_fn_with_state(guard.clone(), mcp_guard));

    let mut app = Router::new();
    if let Some((document, forwarder)) = well_known {
        let suffix = if path == "/" { "" } else { path };
        let mut prm_paths = vec![PRM_PREFIX.to_owned()];
        if !suffix.is_empty() {
            prm_paths.push(format!("{PRM_PREFIX}{suffix}"));
        }
        for prm_path in prm_paths {
            let doc = document.clone();
            app = app.route(
                &prm_path,
                get(move || async move { doc.respond() }).options(|| async { preflight() }),
            );
        }
        if let Some(forwarder) = forwarder {
            let mut as_paths = vec![AS_METADATA_PREFIX.to_owned()];
            if !suffix.is_empty() {
                as_paths.push(format!("{AS_METADATA_PREFIX}{suffix}"));
            }
            for as_path in as_paths {
                let f = forwarder.clone();
                app = app.route(
                    &as_path,
                    get(move || async move { f.respond().await }).options(|| async { preflight() }),
                );
            }
        }
    }
    app.merge(mcp).layer(from_fn_with_state(guard, host_guard))
}

/// A `completion/complete` request, as the completion handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionRequest {
    /// The prompt name or resource template URI being completed.
    pub reference: String,
    /// Whether `reference` is a prompt (`true`) or a resource template.
    pub is_prompt: bool,
    /// The argument being completed.
    pub argument: String,
    /// What the user typed so far.
    pub value: String,
}

type CompletionHandler =
    Arc<dyn Fn(CompletionRequest) -> BoxFuture<'static, Vec<String>> + Send + Sync>;

/// The rmcp handler: one per MCP session (rmcp's factory makes a new one for
/// each), sharing the registries and holding that session's state.
#[derive(Clone)]
struct Handler {
    shared: Arc<Shared>,
    session: Arc<SessionState>,
}

struct Shared {
    info: ServerConfig,
    tools: ToolRegistry,
    resources: ResourceRegistry,
    prompts: PromptRegistry,
    completion: Option<CompletionHandler>,
}

impl Handler {
    #[allow(deprecated)] // logging is current in the revisions served (see supported_protocol_versions)
    fn new(server: &McpServer) -> Self {
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
                tools: server.tools.clone(),
                resources: server.resources.clone(),
                prompts: server.prompts.clone(),
                completion: server.completion.clone(),
            }),
            session: Arc::default(),
        }
    }

    /// A handler for a new session: same registries, fresh session state.
    fn for_new_session(&self) -> Self {
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
        )
    }
}

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
impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        self.shared.info.clone()
    }

    /// Only the revisions this server implements: up to 2025-11-25. The
    /// 2026-07-28 revision removes sessions and adds `server/discover`, which
    /// mcpgate's session binding does not cover yet.
    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        std::borrow::Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
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
