//! [`McpServer`]: the builder users meet. Registration lives here; the rest
//! of the server is one concern per file:
//!
//! - `auth`: which protection applies (code, environment, or explicitly none)
//!   and the canonical MCP URL;
//! - `http_app`: [`HttpApp`], the rmcp service inside mcpgate-auth's
//!   [`ProtectedEndpoint`](mcpgate_auth::http::ProtectedEndpoint), and serving;
//! - `adapter`: rmcp's `ServerHandler` over the registries;
//! - `completion`: the `completion/complete` handler's request.

mod adapter;
mod auth;
mod completion;
mod fast_path;
mod http_app;
mod request_state;
mod session_table;
mod stdio;
mod subscriptions;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mcpgate_auth::http::{
    DEFAULT_CLIENT_RATE_LIMIT, DEFAULT_PRINCIPAL_RATE_LIMIT, RateLimit, ServeLimits, SessionLimits,
};
use mcpgate_auth::policy::{ItemKind, Policy, PolicySet};
use mcpgate_auth::{AuthProvider, ConfigError};
use rmcp::model::{Resource, ResourceTemplate};

use crate::definition::{PromptDef, ToolDef};
use crate::handler::Handler as CallHandler;
use crate::prompts::{IntoPromptResult, PromptRegistry};
use crate::resources::{IntoResourceBody, ResourceRegistry};
use crate::tools::{IntoToolResult, ToolRegistry};
use auth::AuthSetting;
use completion::CompletionHandler;
pub use completion::CompletionRequest;
pub use http_app::HttpApp;
pub use subscriptions::Notifier;

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
    state: http::Extensions,
    auth: AuthSetting,
    mcp_url: Option<String>,
    extra_origins: Vec<String>,
    extra_hosts: Vec<String>,
    session_idle_timeout: Duration,
    max_body_bytes: usize,
    session_limits: SessionLimits,
    principal_rate_limit: Option<RateLimit>,
    client_rate_limit: Option<RateLimit>,
    rate_limit_loopback: bool,
    serve_limits: ServeLimits,
    /// The key sealing 2026-07-28 `requestState`; random per process if `None`.
    request_state_key: Option<Vec<u8>>,
    /// Fans out list changes to `subscriptions/listen` streams.
    notifier: Notifier,
    /// Per-item policies, from [`McpServer::policy`] and the definitions'
    /// required scopes, in the order given; built when the server starts.
    policies: Vec<Policy>,
    deny_by_default: bool,
    /// Bad builder input, reported when the server starts.
    problems: Vec<ConfigError>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl McpServer {
    /// A server with this name, no tools and no auth yet: choose
    /// [`auth`](Self::auth), [`auth_from_env`](Self::auth_from_env) or, for
    /// local experiments only, [`allow_unauthenticated`](Self::allow_unauthenticated)
    /// before serving over HTTP. Nothing is read from the environment here.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            instructions: None,
            tools: ToolRegistry::default(),
            resources: ResourceRegistry::default(),
            prompts: PromptRegistry::default(),
            completion: None,
            state: http::Extensions::new(),
            auth: AuthSetting::Unset,
            mcp_url: None,
            extra_origins: Vec::new(),
            extra_hosts: Vec::new(),
            session_idle_timeout: DEFAULT_SESSION_IDLE_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            session_limits: SessionLimits::default(),
            principal_rate_limit: Some(DEFAULT_PRINCIPAL_RATE_LIMIT),
            client_rate_limit: Some(DEFAULT_CLIENT_RATE_LIMIT),
            rate_limit_loopback: false,
            serve_limits: ServeLimits::default(),
            request_state_key: None,
            notifier: Notifier::default(),
            policies: Vec::new(),
            deny_by_default: false,
            problems: Vec::new(),
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
        self.auth = AuthSetting::Provider(Box::new(provider));
        self
    }

    /// Protects the HTTP endpoint with the provider the process environment
    /// and `./.env` describe (process variables win): Scalekit's
    /// `SCALEKIT_ENVIRONMENT_URL`, `SCALEKIT_RESOURCE_ID`, `MCP_URL`, or
    /// FastMCP's `FASTMCP_SERVER_AUTH*` names. They are read when the server
    /// starts; if none is set, start-up fails naming the variables.
    pub fn auth_from_env(mut self) -> Self {
        self.auth = AuthSetting::FromEnv;
        self
    }

    /// Serves HTTP **without authentication**. Without this call (or an auth
    /// provider) the server refuses to start over HTTP: an unprotected
    /// endpoint must be asked for, never the result of a missing variable.
    /// Host and Origin are still checked. Stdio needs no such call: the MCP
    /// specification leaves credentials to the environment there.
    pub fn allow_unauthenticated(mut self) -> Self {
        self.auth = AuthSetting::Unauthenticated;
        self
    }

    /// Shares `state` with every handler, which takes it as
    /// [`State<S>`](crate::State) (one value per type; it is cloned for each
    /// call, so wrap large state in `Arc` or use a handle such as a pool).
    pub fn with_state<S: Clone + Send + Sync + 'static>(mut self, state: S) -> Self {
        self.state.insert(state);
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

    /// Caps open sessions per principal and in all (default 16 and 10,000;
    /// see [`SessionLimits`]). An `initialize` beyond them is answered `429`
    /// (the caller's cap) or `503` (the server's), with `Retry-After`. A
    /// session's slot is freed by `DELETE` or when it idles out.
    ///
    /// ```
    /// use mcpgate::McpServer;
    /// use mcpgate::auth::http::SessionLimits;
    ///
    /// let server = McpServer::new("demo")
    ///     .session_limits(SessionLimits::default().with_per_principal(4).with_total(500));
    /// ```
    pub fn session_limits(mut self, limits: SessionLimits) -> Self {
        self.session_limits = limits;
        self
    }

    /// Requests per principal (issuer, subject, client id), answered `429`
    /// with `Retry-After` beyond it; `None` turns it off. Default 50 per
    /// second with bursts of 100.
    ///
    /// ```
    /// use mcpgate::McpServer;
    /// use mcpgate::auth::http::RateLimit;
    ///
    /// let server = McpServer::new("demo").rate_limit(RateLimit::per_second(200).burst(400));
    /// let unlimited = McpServer::new("demo").rate_limit(None);
    /// ```
    pub fn rate_limit(mut self, limit: impl Into<Option<RateLimit>>) -> Self {
        self.principal_rate_limit = limit.into();
        self
    }

    /// Requests per client address (IPv4 address or IPv6 /64) that need no
    /// valid token: the metadata documents and requests refused `401`/`403`.
    /// Answered `429` with `Retry-After` beyond it; `None` turns it off.
    /// Default 20 per second with bursts of 100. Loopback peers are exempt
    /// unless [`rate_limit_loopback`](Self::rate_limit_loopback) is on. Behind a
    /// reverse proxy every client has the proxy's address: limit at the proxy.
    pub fn client_rate_limit(mut self, limit: impl Into<Option<RateLimit>>) -> Self {
        self.client_rate_limit = limit.into();
        self
    }

    /// Applies [`client_rate_limit`](Self::client_rate_limit) to loopback
    /// peers too (default off: on loopback the peer is this machine, usually
    /// a local proxy or a developer's tools).
    pub fn rate_limit_loopback(mut self, on: bool) -> Self {
        self.rate_limit_loopback = on;
        self
    }

    /// Connection limits for serving over HTTP: header- and body-read
    /// timeouts, the connection cap, the shutdown grace period (defaults
    /// 30 s, 30 s, 1,024 and 10 s; see [`ServeLimits`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcpgate::McpServer;
    /// use mcpgate::auth::http::ServeLimits;
    ///
    /// let server = McpServer::new("demo").serve_limits(
    ///     ServeLimits::default()
    ///         .with_header_read_timeout(Duration::from_secs(10))
    ///         .with_max_connections(256),
    /// );
    /// ```
    pub fn serve_limits(mut self, limits: ServeLimits) -> Self {
        self.serve_limits = limits;
        self
    }

    /// Registers a tool: an async function of extractors (see [`crate::handler`])
    /// whose result implements [`IntoToolResult`]. The input schema comes from its
    /// [`Args`](crate::Args) type.
    pub fn tool<H, M>(self, name: &str, description: &str, handler: H) -> Self
    where
        H: CallHandler<M>,
        H::Output: IntoToolResult,
        M: 'static,
    {
        self.add_tool(ToolDef::new(name, description, handler))
    }

    /// Registers a tool defined with [`tool!`](crate::tool!) (name and
    /// description from the function and its doc comment) or [`ToolDef::new`].
    pub fn add_tool(mut self, mut tool: ToolDef) -> Self {
        let scopes = std::mem::take(&mut tool.required_scopes);
        self.declare_scopes(ItemKind::Tool, &tool.name, scopes);
        self.tools.insert(tool);
        self
    }

    /// Registers a prompt defined with [`prompt!`](crate::prompt!) or [`PromptDef::new`].
    pub fn add_prompt(mut self, mut prompt: PromptDef) -> Self {
        let scopes = std::mem::take(&mut prompt.required_scopes);
        self.declare_scopes(ItemKind::Prompt, &prompt.name, scopes);
        self.prompts.insert(prompt);
        self
    }

    /// Adds a per-item policy (see [`mcpgate_auth::policy`]): which tools,
    /// prompts, resources or resource templates (by name, URI or URI
    /// template; exact or a `*`/`?` glob) need which scopes, claim values or
    /// predicates over the caller's token. Every matching policy applies.
    ///
    /// Over HTTP a caller lacking scopes gets `403` with `WWW-Authenticate:
    /// Bearer error="insufficient_scope", scope="<held plus required>"` (a
    /// step-up the client can act on); one failing a claim condition or
    /// predicate gets `403` `access_denied` without a scope. Lists
    /// (`tools/list`, `prompts/list`, `resources/list`,
    /// `resources/templates/list`) show each caller only what it may use.
    /// `resources/read` of a URI a template serves is decided both on the URI
    /// (`Policy::resources`) and on the template (`Policy::resource_templates`).
    /// Policies need authentication (a server with policies and
    /// [`allow_unauthenticated`](Self::allow_unauthenticated) refuses to
    /// start) and do not apply over stdio, which has no token.
    ///
    /// ```
    /// use mcpgate::McpServer;
    /// use mcpgate::auth::policy::Policy;
    ///
    /// let server = McpServer::new("todos")
    ///     .policy(Policy::tools("admin_*").scopes(["todo:admin"]).claim_equals("org_id", "org_1"))
    ///     .policy(Policy::resources("private://*").require(|token| token.subject().starts_with("usr_")));
    /// ```
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policies.push(policy);
        self
    }

    /// Adds several policies (e.g. `PolicyConfig::to_policies` of a
    /// configuration file); see [`policy`](Self::policy).
    pub fn policies(mut self, policies: impl IntoIterator<Item = Policy>) -> Self {
        self.policies.extend(policies);
        self
    }

    /// With `true`, a tool, prompt, resource or template that no policy
    /// matches is refused (`403` `access_denied`) and left out of lists;
    /// default `false`: only what a policy names is restricted.
    pub fn deny_by_default(mut self, deny: bool) -> Self {
        self.deny_by_default = deny;
        self
    }

    /// A definition's [`requires_scopes`](crate::Definition::requires_scopes)
    /// as a policy for exactly that name.
    fn declare_scopes(&mut self, kind: ItemKind, name: &str, scopes: Vec<String>) {
        if scopes.is_empty() {
            return;
        }
        if name.contains(['*', '?']) {
            // The policy would be a glob and govern other items as well.
            self.problems.push(ConfigError::new(
                format!("{kind} `{name}` requires_scopes"),
                "needs a name without `*` or `?`; use McpServer::policy with a pattern instead",
            ));
            return;
        }
        self.policies.push(Policy::new(kind, name).scopes(scopes));
    }

    /// The policies as one set; `None` when there is nothing to enforce.
    /// Problems are named after the policy and field.
    pub(crate) fn build_policies(&mut self) -> Result<Option<Arc<PolicySet>>, Vec<ConfigError>> {
        if self.policies.is_empty() && !self.deny_by_default {
            return Ok(None);
        }
        PolicySet::builder()
            .policies(std::mem::take(&mut self.policies))
            .deny_by_default(self.deny_by_default)
            .build()
            .map(|set| Some(Arc::new(set)))
            .map_err(|e| e.problems)
    }

    /// Registers a tool whose input schema is given verbatim (for schemas a Rust
    /// type cannot express); the handler reads [`Call::arguments`](crate::Call::arguments) itself.
    /// A schema that is not a JSON object stops the server at start with a
    /// configuration error naming the tool.
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
        let mut tool = ToolDef::new(name, description, handler);
        match input_schema {
            serde_json::Value::Object(map) => tool.input_schema = Some(Arc::new(map)),
            other => self.problems.push(ConfigError::new(
                format!("tool `{name}` input schema"),
                format!("must be a JSON object, got `{other}`"),
            )),
        }
        self.add_tool(tool)
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
    /// variables reach the handler as arguments (`Args<T>` or [`Call::arguments`](crate::Call::arguments)).
    /// A template that is not `literal{var}literal…` stops the server at start
    /// with a configuration error naming it.
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
    pub fn resource_template<H, M>(mut self, template: ResourceTemplate, handler: H) -> Self
    where
        H: CallHandler<M>,
        H::Output: IntoResourceBody,
        M: 'static,
    {
        let uri = template.uri_template.clone();
        if let Err(e) = self.resources.add_template(template, handler) {
            self.problems.push(ConfigError::new(
                format!("resource template `{uri}`"),
                e.to_string(),
            ));
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
    pub fn prompt<H, M>(self, name: &str, description: &str, handler: H) -> Self
    where
        H: CallHandler<M>,
        H::Output: IntoPromptResult,
        M: 'static,
    {
        self.add_prompt(PromptDef::new(name, description, handler))
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

    /// The key that seals the `requestState` of 2026-07-28 input-required
    /// results (HMAC-SHA256; at least 32 bytes, e.g. from a secret store).
    /// Without it a random key is made per process, which is right for one
    /// instance; replicas behind a load balancer need the same key so that
    /// any of them can open a state another issued.
    pub fn request_state_key(mut self, key: impl AsRef<[u8]>) -> Self {
        let key = key.as_ref();
        if key.len() < 32 {
            self.problems.push(ConfigError::new(
                "request_state_key",
                format!("must be at least 32 bytes, got {}", key.len()),
            ));
        } else {
            self.request_state_key = Some(key.to_vec());
        }
        self
    }

    /// The handle that tells clients on `subscriptions/listen` streams
    /// (2026-07-28) that tools, prompts or resources changed; see [`Notifier`].
    ///
    /// ```
    /// use mcpgate::{McpServer, Notifier, State};
    ///
    /// let server = McpServer::new("demo");
    /// let notifier = server.notifier();
    /// let server = server.with_state(notifier).tool(
    ///     "refresh",
    ///     "Reloads the tool list",
    ///     |State(n): State<Notifier>| async move {
    ///         n.tools_list_changed();
    ///         "ok"
    ///     },
    /// );
    /// ```
    pub fn notifier(&self) -> Notifier {
        self.notifier.clone()
    }
}
