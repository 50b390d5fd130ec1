//! Assembling the gateway: start-up (the upstream is started once to learn
//! what it offers and to fail early), the HTTP application around the
//! forwarding handler, and serving with a drain that then stops the children.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use mcpgate_auth::McpUrl;
use mcpgate_auth::http::{ProtectedEndpoint, ServeLimits};
use mcpgate_auth::policy::PolicySet;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig, ServerPeerInfo};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;

use crate::capacity::{CapacityGate, retry_after_secs};
use crate::config::{GatewayConfig, Isolation, Upstream};
use crate::error::GatewayError;
use crate::exchange::Exchanger;
use crate::forward::{Forwarder, MountState, Shared};
use crate::mount::Namespace;
use crate::policy::Visibility;
use crate::pool::{Pool, PrincipalKey};
use crate::upstream::Connection;
use mcpgate_rmcp::{JsonRpcErrors, TrackedSessions};

/// How long a downstream session may stay idle before rmcp closes it.
const SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A started gateway: the upstream answered once, the pool is ready.
pub struct Gateway {
    shared: Arc<Shared>,
    /// Per-item policies, on client-visible names (see [`Gateway::policies`]).
    policies: Option<Arc<PolicySet>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("upstreams", &self.shared.mounts.len())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Validates `config` and starts the upstream once: its `initialize`
    /// answer tells which capabilities to advertise, and a command that
    /// cannot start is reported now rather than on the first call. With
    /// [`Isolation::Shared`] that connection is kept as the shared one;
    /// otherwise it is closed (each principal gets its own).
    pub async fn start(config: GatewayConfig) -> Result<Self, GatewayError> {
        Self::start_mounts(vec![(None, config)]).await
    }

    /// Several upstreams behind one endpoint, each mounted under a name
    /// (FastMCP's convention): its tools and prompts appear as `name_tool`,
    /// its resources as `scheme://name/rest`. Lists are merged; each call
    /// goes to the upstream its name or URI belongs to. Each upstream keeps
    /// its own settings (isolation, limits) and is started once here, as
    /// [`start`](Self::start) does.
    pub async fn start_mounted(
        mounts: impl IntoIterator<Item = (String, GatewayConfig)>,
    ) -> Result<Self, GatewayError> {
        let mounts: Vec<_> = mounts.into_iter().map(|(n, c)| (Some(n), c)).collect();
        if mounts.is_empty() {
            return Err(GatewayError::config(
                "upstreams",
                "at least one upstream is needed",
            ));
        }
        Self::start_mounts(mounts).await
    }

    async fn start_mounts(
        mounts: Vec<(Option<String>, GatewayConfig)>,
    ) -> Result<Self, GatewayError> {
        let mut names = std::collections::HashSet::new();
        let mut states = Vec::with_capacity(mounts.len());
        let mut infos = Vec::with_capacity(mounts.len());
        for (name, config) in mounts {
            if let Some(n) = &name
                && !names.insert(n.clone())
            {
                return Err(GatewayError::config(
                    format!("upstream name `{n}`"),
                    "is used twice; each upstream needs its own name",
                ));
            }
            let ns = Namespace::new(name)?;
            config.validate()?;
            let config = Arc::new(config);
            let pool = Arc::new(Pool::new(config.clone()));
            let describe = match &config.upstream {
                Upstream::Stdio(command) => command.display(),
                Upstream::Http(http) => http.url().to_string(),
            };
            let exchanger = match &config.upstream {
                Upstream::Http(http) => http.token_exchange().map(|exchange| {
                    Arc::new(Exchanger::new(
                        exchange.clone(),
                        crate::upstream::http_client(),
                    ))
                }),
                Upstream::Stdio(_) => None,
            };
            let (info, capabilities) = if exchanger.is_some() {
                // An upstream that takes on-behalf-of tokens accepts no
                // request without a caller, so there is no start-up
                // handshake: it is assumed to offer tools, prompts and
                // resources, and is first contacted for a caller.
                tracing::info!(upstream = %describe, name = ns.name().unwrap_or(""), "on-behalf-of upstream: contacted on the first call");
                (None, on_behalf_of_capabilities())
            } else {
                let probe = tokio::time::timeout(
                    config.connect_timeout,
                    Box::pin(Connection::open(
                        &config.upstream,
                        "(start-up check)",
                        &PrincipalKey::Shared,
                        &crate::upstream::http_client(),
                        None,
                        crate::upstream::Era::Session,
                    )),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "no MCP handshake within {} s",
                        config.connect_timeout.as_secs()
                    ))
                })
                .map_err(|problem| GatewayError::Upstream {
                    upstream: describe.clone(),
                    problem,
                })?;
                let info = probe.info().map(|i| (**i).clone());
                tracing::info!(upstream = %describe, name = ns.name().unwrap_or(""), server = info.as_ref().and_then(|i| i.server_info.as_ref()).map_or("", |s| s.name.as_str()), "upstream answered");
                if config.isolation == Isolation::Shared {
                    pool.adopt(PrincipalKey::Shared, probe);
                } else {
                    probe.close().await;
                }
                let capabilities = info
                    .as_ref()
                    .map(|i| i.capabilities.clone())
                    .unwrap_or_default();
                (info, capabilities)
            };
            infos.push(info);
            states.push(MountState {
                ns,
                config,
                pool,
                capabilities,
                exchanger,
            });
        }
        let single = states.len() == 1 && states[0].ns.name().is_none();
        let info = advertised(&infos, single);
        Ok(Self {
            shared: Arc::new(Shared {
                mounts: states,
                info,
                metrics: Arc::default(),
                parked: Arc::default(),
                sealer: crate::sealed_state::Sealer::new(),
                fast_forwards: Default::default(),
            }),
            policies: None,
        })
    }

    /// Per-item policies over the names **clients** see (after each mount's
    /// prefix: `crm_delete_*`, `db://crm/*`), for every upstream at once.
    /// [`into_http`](Self::into_http) installs them on the endpoint
    /// ([`ProtectedEndpoint::policies`]), which answers a call the caller
    /// may not make with `403` before the upstream is contacted, and the
    /// merged lists show each caller only what it may use. Needs an
    /// authenticated endpoint (`into_http` fails otherwise).
    pub fn policies(mut self, policies: impl Into<Arc<PolicySet>>) -> Self {
        self.policies = Some(policies.into());
        self
    }

    /// The HTTP application: `endpoint` (auth, metadata, Origin/Host,
    /// session and rate limits) around the forwarding MCP service.
    pub fn into_http(self, endpoint: ProtectedEndpoint) -> Result<GatewayApp, GatewayError> {
        let endpoint = endpoint.session_binding_ttl(SESSION_IDLE_TIMEOUT * 2);
        let mcp_url = endpoint.mcp_url().clone();
        let mut local = LocalSessionManager::default();
        local.session_config.keep_alive = Some(SESSION_IDLE_TIMEOUT);
        let sessions = TrackedSessions::new(local, endpoint.session_hook());
        // Host and Origin are checked by the guard, before authentication.
        // A 2026-07-28 request is answered with JSON unless the upstream
        // streams progress or log messages first (then SSE), as mcpgate's own
        // server does; rmcp keeps SSE streams for session-era requests.
        let mcp_config = StreamableHttpServerConfig::default()
            .disable_allowed_hosts()
            .with_json_response(true);
        let endpoint = match &self.policies {
            Some(policies) => endpoint.policies(policies.clone()),
            None => endpoint,
        };
        let forwarder = Forwarder {
            shared: self.shared.clone(),
            visibility: Visibility::new(self.policies.clone()),
        };
        // A body rmcp cannot parse gets a JSON-RPC error (HTTP 400), as from
        // mcpgate's own server, not rmcp's `415`.
        let service = JsonRpcErrors::new(StreamableHttpService::new(
            move || Ok(forwarder.clone()),
            Arc::new(sessions),
            mcp_config,
        ));
        let service = crate::fast_forward::FastForward {
            inner: service,
            shared: self.shared.clone(),
        };
        let gate = CapacityGate {
            inner: service,
            pools: self
                .shared
                .mounts
                .iter()
                .map(|m| (m.pool.clone(), m.config.isolation))
                .collect(),
            retry_after: retry_after_secs(
                self.shared
                    .mounts
                    .iter()
                    .map(|m| m.config.idle_timeout)
                    .min()
                    .unwrap_or_default(),
            ),
        };
        let protection = endpoint.protection().cloned();
        let protected = protection.is_some();
        let readiness = crate::health::Readiness::new(protection).upstreams(
            self.shared
                .mounts
                .iter()
                .filter_map(|m| match &m.config.upstream {
                    Upstream::Http(http) => Some(http.url().clone()),
                    Upstream::Stdio(_) => None,
                })
                .collect(),
        );
        let metrics_path: Arc<str> = mcp_url.path().into();
        let router = endpoint
            .into_router(gate)?
            .layer(axum::middleware::from_fn_with_state(
                (self.shared.metrics.clone(), metrics_path),
                crate::metrics::count_rejections,
            ));
        // Only when an upstream exchanges it is the caller's token kept past
        // the guard (which removes the header), and then only in memory, for
        // the exchange.
        let router = if self.shared.mounts.iter().any(|m| m.exchanger.is_some()) {
            router.layer(axum::middleware::from_fn(
                crate::exchange::keep_subject_token,
            ))
        } else {
            router
        }
        .merge(crate::health::routes(readiness));
        for mount in &self.shared.mounts {
            mount.pool.spawn_reaper();
        }
        Ok(GatewayApp {
            router,
            mcp_url,
            protected,
            shared: self.shared,
            serve_limits: ServeLimits::default(),
        })
    }
}

/// What an on-behalf-of upstream is assumed to offer (it cannot be asked
/// before a caller comes): tools, prompts and resources, without
/// `listChanged`.
fn on_behalf_of_capabilities() -> ServerCapabilities {
    ServerCapabilities::builder()
        .enable_prompts()
        .enable_resources()
        .enable_tools()
        .build()
}

/// The upstreams' capabilities as far as the gateway relays them (resource
/// subscriptions for session-era callers), merged; a single unnamed upstream's name and
/// instructions are passed on as they are.
#[allow(deprecated)] // logging is current in the revisions served
fn advertised(upstreams: &[Option<ServerPeerInfo>], single: bool) -> ServerConfig {
    let full = ServerCapabilities::builder()
        .enable_logging()
        .enable_completions()
        .enable_prompts()
        .enable_prompts_list_changed()
        .enable_resources()
        .enable_resources_list_changed()
        .enable_tools()
        .enable_tool_list_changed()
        .build();
    // `listChanged` only where an upstream may send it (its own flag).
    let plain = ServerCapabilities::builder()
        .enable_prompts()
        .enable_resources()
        .enable_tools()
        .build();
    let mut capabilities = ServerCapabilities::default();
    for c in upstreams.iter().flatten().map(|up| &up.capabilities) {
        if let Some(tools) = &c.tools
            && (tools.list_changed == Some(true) || capabilities.tools.is_none())
        {
            capabilities.tools = if tools.list_changed == Some(true) {
                full.tools.clone()
            } else {
                plain.tools.clone()
            };
        }
        if let Some(resources) = &c.resources
            && (resources.list_changed == Some(true) || capabilities.resources.is_none())
        {
            capabilities.resources = if resources.list_changed == Some(true) {
                full.resources.clone()
            } else {
                plain.resources.clone()
            };
        }
        // Session-era subscriptions are relayed (forward.rs, routes.rs).
        if let Some(resources) = &c.resources
            && resources.subscribe == Some(true)
            && let Some(ours) = capabilities.resources.as_mut()
        {
            ours.subscribe = Some(true);
        }
        if let Some(prompts) = &c.prompts
            && (prompts.list_changed == Some(true) || capabilities.prompts.is_none())
        {
            capabilities.prompts = if prompts.list_changed == Some(true) {
                full.prompts.clone()
            } else {
                plain.prompts.clone()
            };
        }
        if c.completions.is_some() {
            capabilities.completions = full.completions.clone();
        }
        if c.logging.is_some() {
            capabilities.logging = full.logging.clone();
        }
    }
    let mut name = Implementation::new("mcpgate-gateway", env!("CARGO_PKG_VERSION"));
    let mut instructions = None;
    if single && let Some(Some(up)) = upstreams.first() {
        if let Some(server) = &up.server_info {
            name = server.clone();
        }
        instructions = up.instructions.clone();
    }
    let mut info = ServerConfig::new(capabilities).with_server_info(name);
    if let Some(text) = instructions {
        info = info.with_instructions(text);
    }
    info
}

/// The gateway's HTTP application, ready to serve.
pub struct GatewayApp {
    router: Router,
    mcp_url: McpUrl,
    protected: bool,
    shared: Arc<Shared>,
    serve_limits: ServeLimits,
}

impl std::fmt::Debug for GatewayApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayApp")
            .field("mcp_url", &self.mcp_url)
            .finish_non_exhaustive()
    }
}

impl GatewayApp {
    /// The canonical MCP URL clients use.
    pub fn mcp_url(&self) -> &McpUrl {
        &self.mcp_url
    }

    /// Connection limits for [`serve`](Self::serve) (default
    /// [`ServeLimits::default`]).
    pub fn serve_limits(mut self, limits: ServeLimits) -> Self {
        self.serve_limits = limits;
        self
    }

    /// Live upstream connections (stdio children or HTTP sessions).
    pub fn live_upstreams(&self) -> usize {
        self.shared.mounts.iter().map(|m| m.pool.len()).sum()
    }

    /// The admin application (`GET /metrics`, Prometheus text format), to be
    /// served on an address of its own: the metrics describe every caller's
    /// traffic and are not for the MCP endpoint's clients.
    pub fn admin(&self) -> GatewayAdmin {
        GatewayAdmin {
            router: crate::metrics::admin_routes(self.shared.metrics.clone(), self.shared.clone()),
        }
    }

    /// A handle that reports the live upstream count after `serve` took the app.
    pub fn monitor(&self) -> GatewayMonitor {
        GatewayMonitor {
            shared: self.shared.clone(),
        }
    }

    /// Serves on `listener` until `shutdown`, drains in-flight requests,
    /// then stops every upstream.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), GatewayError> {
        tracing::info!(mcp_url = %self.mcp_url, addr = ?listener.local_addr().ok(), auth = self.protected, "gateway serving MCP over HTTP");
        let served =
            mcpgate_auth::http::serve(listener, self.router, self.serve_limits, shutdown).await;
        futures::future::join_all(self.shared.mounts.iter().map(|m| m.pool.shutdown())).await;
        served.map_err(GatewayError::from)
    }
}

/// The gateway's admin application (see [`GatewayApp::admin`]).
pub struct GatewayAdmin {
    router: Router,
}

impl std::fmt::Debug for GatewayAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayAdmin").finish_non_exhaustive()
    }
}

impl GatewayAdmin {
    /// Serves `/metrics` on `listener` until `shutdown`.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), GatewayError> {
        tracing::info!(addr = ?listener.local_addr().ok(), "gateway admin (metrics) serving");
        mcpgate_auth::http::serve(listener, self.router, ServeLimits::default(), shutdown)
            .await
            .map_err(GatewayError::from)
    }
}

/// Reads the gateway's state while it serves.
#[derive(Clone)]
pub struct GatewayMonitor {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for GatewayMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayMonitor").finish_non_exhaustive()
    }
}

impl GatewayMonitor {
    /// 2026-07-28 tool calls forwarded on the fast path (one HTTP request to
    /// the upstream, without rmcp).
    pub fn fast_forwards(&self) -> u64 {
        self.shared.fast_forwards.get()
    }

    /// Live upstream connections (stdio children or HTTP sessions).
    pub fn live_upstreams(&self) -> usize {
        self.shared.mounts.iter().map(|m| m.pool.len()).sum()
    }
}
