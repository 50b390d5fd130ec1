//! Serving over HTTP: rmcp's Streamable HTTP service, behind mcpgate's fast
//! path for plain `tools/call` (`fast_path`, with `session_table`), inside mcpgate-auth's
//! [`ProtectedEndpoint`], which adds the metadata routes and the guard, served
//! by [`mcpgate_auth::http::serve`] (timeouts and a connection cap).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use mcpgate_auth::http::{ProtectedEndpoint, ServeLimits};
use mcpgate_auth::{ConfigError, McpUrl, ProtectedResource};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;

use super::McpServer;
use super::adapter::RmcpAdapter;
use super::fast_path::{self, FastPath};
use super::session_table::{RecordedSessions, SessionTable, TableStore};
use crate::error::ServeError;
use mcpgate_rmcp::{JsonRpcErrors, TrackedSessions};

impl McpServer {
    /// Builds the HTTP application. `local_addr` supplies the default MCP URL
    /// when neither auth nor [`mcp_url`](Self::mcp_url) sets one. Every
    /// configuration problem (including bad builder input) is reported here.
    pub fn into_http(mut self, local_addr: Option<SocketAddr>) -> Result<HttpApp, ServeError> {
        let protection = self.resolve_auth();
        let mut problems = std::mem::take(&mut self.problems);
        let policies = self.build_policies().unwrap_or_else(|errors| {
            problems.extend(errors);
            None
        });
        let protection = match protection {
            Ok(p) => p,
            Err(e) => {
                problems.insert(0, e);
                None
            }
        };
        if let Some(error) = single_or_all(problems) {
            return Err(error);
        }
        let mcp_url = self.resolve_mcp_url(protection.as_ref(), local_addr)?;
        let mut endpoint = match &protection {
            Some(p) => ProtectedEndpoint::new(p.clone()),
            None => {
                tracing::warn!(%mcp_url, "serving MCP over HTTP WITHOUT authentication (allow_unauthenticated)");
                ProtectedEndpoint::unauthenticated(mcp_url.clone())
            }
        }
        // Bindings outlive rmcp's sessions a little, never the other way round
        // (rmcp also reports each session it closes, see `TrackedSessions`).
        .session_binding_ttl(self.session_idle_timeout * 2)
        .session_limits(self.session_limits)
        .principal_rate_limit(self.principal_rate_limit)
        .client_rate_limit(self.client_rate_limit)
        .rate_limit_loopback(self.rate_limit_loopback);
        for origin in std::mem::take(&mut self.extra_origins) {
            endpoint = endpoint.allow_origin(origin);
        }
        for host in std::mem::take(&mut self.extra_hosts) {
            endpoint = endpoint.allow_host(host);
        }
        // Calls are decided by the guard (a 403 step-up before the service
        // runs); lists are filtered by the adapter with the same set.
        if let Some(set) = &policies {
            endpoint = endpoint
                .policies(set.clone())
                .policy_body_limit(self.max_body_bytes)
                .resource_templates(self.resources.clone());
        }

        let mut local_sessions = LocalSessionManager::default();
        local_sessions.session_config.keep_alive = Some(self.session_idle_timeout);
        let sse_retry = local_sessions.session_config.sse_retry;
        let session_table = SessionTable::new(self.session_idle_timeout, endpoint.session_hook());
        let session_manager = RecordedSessions::new(
            TrackedSessions::new(local_sessions, endpoint.session_hook()),
            session_table.clone(),
        );
        let serve_limits = self.serve_limits;
        let mut mcp_config = StreamableHttpServerConfig::default()
            // Host and Origin are checked by our guard, before authentication, as the
            // MCP specification orders it; rmcp's own check would run after it.
            .disable_allowed_hosts()
            .with_max_request_body_bytes(self.max_body_bytes)
            // A 2026-07-28 request is answered with JSON unless its handler
            // streams notifications first (then SSE). Session-era requests
            // keep rmcp's SSE streams: rmcp applies this only without a session.
            .with_json_response(true);
        // Lazy sessions: the fast path opens sessions without rmcp; rmcp
        // restores one from the table when a request needs it.
        mcp_config.session_store = Some(Arc::new(TableStore(session_table.clone())));
        // The fast path shares the tools and the state with the rmcp adapter
        // (a clone of the registry's handles, made once).
        let tools = self.tools.clone();
        let state = Arc::new(self.state.clone());
        let max_body_bytes = self.max_body_bytes;
        let adapter = RmcpAdapter::new(self).with_policies(policies);
        let fast_path = fast_path::Shared::new(
            tools,
            state,
            session_table,
            adapter.clone(),
            sse_retry,
            max_body_bytes,
        );
        let mcp_service = StreamableHttpService::new(
            move || Ok(adapter.for_new_session()),
            Arc::new(session_manager),
            mcp_config,
        );
        let router =
            endpoint.into_router(FastPath::new(fast_path, JsonRpcErrors::new(mcp_service)))?;
        Ok(HttpApp {
            router,
            mcp_url,
            protection,
            serve_limits,
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
    /// [`mcp_url`](Self::mcp_url)) and serves until Ctrl-C or `SIGTERM`
    /// (in-flight requests are drained first).
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
        let listener = TcpListener::bind((host.as_str(), port))
            .await
            .map_err(|e| {
                ServeError::bind(
                    format!("{host}:{port} (from the MCP URL {})", app.mcp_url),
                    e,
                )
            })?;
        app.serve(listener, mcpgate_auth::http::shutdown_signal())
            .await
    }
}

/// `None` when there is no problem; otherwise one error, or all of them.
fn single_or_all(mut problems: Vec<ConfigError>) -> Option<ServeError> {
    match problems.len() {
        0 => None,
        1 => problems.pop().map(ServeError::Config),
        _ => Some(ServeError::Configs(problems)),
    }
}

/// A ready-to-serve HTTP application.
pub struct HttpApp {
    router: Router,
    mcp_url: McpUrl,
    protection: Option<ProtectedResource>,
    serve_limits: ServeLimits,
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

    /// The axum router, to embed in a larger application. Serve it with
    /// [`mcpgate_auth::http::serve`] (or axum's
    /// `into_make_service_with_connect_info::<SocketAddr>()`) to keep the
    /// per-address rate limit, which needs the peer address.
    pub fn into_router(self) -> Router {
        self.router
    }

    /// The connection limits [`serve`](Self::serve) applies (from
    /// [`McpServer::serve_limits`]).
    pub fn serve_limits(&self) -> &ServeLimits {
        &self.serve_limits
    }

    /// Serves on `listener` until `shutdown`, with
    /// [`mcpgate_auth::http::serve`]: TCP_NODELAY, header- and body-read
    /// timeouts, a connection cap and a graceful drain, as set by
    /// [`McpServer::serve_limits`].
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        tracing::info!(mcp_url = %self.mcp_url, addr = ?listener.local_addr().ok(), auth = self.protection.is_some(), "serving MCP over HTTP");
        if let Some(p) = &self.protection {
            // Warm the key cache so the first client does not pay for the fetch.
            let p = p.clone();
            tokio::spawn(async move { p.prefetch_keys().await });
        }
        mcpgate_auth::http::serve(listener, self.router, self.serve_limits, shutdown).await?;
        Ok(())
    }
}
