//! One protected MCP endpoint as an axum [`Router`]: the RFC 9728 metadata
//! routes, the authorization-server metadata forwarder, and the MCP path
//! (with and without a trailing slash) behind the [`GuardLayer`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::get;
use tower_service::Service;

use super::as_metadata::{AS_METADATA_PREFIX, MetadataForwarder};
use super::authorize::{DEFAULT_POLICY_BODY_LIMIT, EdgePolicy, PolicyStats, ResourceTemplates};
use super::challenge::ChallengeParams;
use super::cors::{PUBLIC_DOCUMENT, cors};
use super::guard::{ClientRateLimit, Guard, GuardLayer, too_many};
use super::origin::OriginPolicy;
use super::prm::{MetadataDocument, PRM_PREFIX};
use super::rate_limit::{RateLimit, RateLimiter};
use super::session::{SessionHook, SessionLimits, SessionOwners};
use crate::config::ConfigError;
use crate::policy::PolicySet;
use crate::protection::ProtectedResource;
use crate::types::McpUrl;

/// Default time a session binding outlives its last use. Twice the default
/// MCP session idle timeout, so a binding never expires before its session.
pub const DEFAULT_SESSION_BINDING_TTL: Duration = Duration::from_secs(60 * 60);

/// Default rate limit per principal: 50 requests per second, bursts of 100.
/// An agent calling tools back to back stays far below it; one token cannot
/// keep the server's cores busy on its own.
pub const DEFAULT_PRINCIPAL_RATE_LIMIT: RateLimit = RateLimit::per_second(50).burst(100);

/// Default rate limit per client address for requests without a valid token
/// and for the metadata documents: 20 per second, bursts of 100. A client's
/// discovery takes a handful of requests; a flood of forged tokens from one
/// address is cut off before it costs much signature checking.
pub const DEFAULT_CLIENT_RATE_LIMIT: RateLimit = RateLimit::per_second(20).burst(100);

/// Default number of principals, and of client addresses, whose rate-limit
/// buckets are remembered (a few MB at most; see `RateLimiter`'s eviction).
pub const DEFAULT_RATE_LIMIT_KEYS: usize = 10_000;

/// The HTTP surface of one MCP endpoint, protected or (explicitly) not.
///
/// ```
/// use mcpgate_auth::{McpUrl, http::ProtectedEndpoint};
///
/// // An unprotected endpoint still gets the Host and Origin checks.
/// let url = McpUrl::parse("http://127.0.0.1:8000/mcp").unwrap();
/// // Any tower service answering MCP requests; here a stub.
/// let mcp = axum::routing::post(|| async { "{}" });
/// let app = ProtectedEndpoint::unauthenticated(url)
///     .allow_origin("http://localhost:6274")
///     .into_router(mcp)
///     .unwrap();
/// ```
#[must_use = "call .into_router(service) to get the axum Router"]
pub struct ProtectedEndpoint {
    mcp_url: McpUrl,
    protection: Option<ProtectedResource>,
    extra_origins: Vec<String>,
    extra_hosts: Vec<String>,
    session_binding_ttl: Duration,
    session_limits: SessionLimits,
    principal_rate_limit: Option<RateLimit>,
    client_rate_limit: Option<RateLimit>,
    rate_limit_loopback: bool,
    sessions: Arc<SessionOwners>,
    policies: Option<Arc<PolicySet>>,
    policy_body_limit: usize,
    resource_templates: Option<Arc<dyn ResourceTemplates>>,
    policy_stats: PolicyStats,
}

impl std::fmt::Debug for ProtectedEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtectedEndpoint")
            .field("mcp_url", &self.mcp_url)
            .field("auth", &self.protection.is_some())
            .field("policies", &self.policies)
            .finish_non_exhaustive()
    }
}

impl ProtectedEndpoint {
    /// The endpoint `protection.resource()`, protected by `protection`.
    pub fn new(protection: ProtectedResource) -> Self {
        Self::with(protection.resource().clone(), Some(protection))
    }

    fn with(mcp_url: McpUrl, protection: Option<ProtectedResource>) -> Self {
        Self {
            mcp_url,
            protection,
            extra_origins: Vec::new(),
            extra_hosts: Vec::new(),
            session_binding_ttl: DEFAULT_SESSION_BINDING_TTL,
            session_limits: SessionLimits::default(),
            principal_rate_limit: Some(DEFAULT_PRINCIPAL_RATE_LIMIT),
            client_rate_limit: Some(DEFAULT_CLIENT_RATE_LIMIT),
            rate_limit_loopback: false,
            sessions: Arc::new(SessionOwners::new(
                DEFAULT_SESSION_BINDING_TTL,
                SessionLimits::default(),
            )),
            policies: None,
            policy_body_limit: DEFAULT_POLICY_BODY_LIMIT,
            resource_templates: None,
            policy_stats: PolicyStats::default(),
        }
    }

    /// The endpoint `mcp_url` **without authentication** (Host and Origin are
    /// still checked). Only for local development or a trusted network.
    pub fn unauthenticated(mcp_url: McpUrl) -> Self {
        Self::with(mcp_url, None)
    }

    /// Also accepts browser requests from this origin (e.g.
    /// `http://localhost:6274` for MCP Inspector). The MCP URL's own origin is
    /// always accepted. A malformed origin is reported by
    /// [`into_router`](Self::into_router).
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.extra_origins.push(origin.into());
        self
    }

    /// Also accepts this `Host` authority (e.g. an internal name behind a proxy).
    pub fn allow_host(mut self, authority: impl Into<String>) -> Self {
        self.extra_hosts.push(authority.into());
        self
    }

    /// How long a session stays bound to its principal after its last use
    /// (default 1 hour); keep it above the MCP layer's session idle timeout.
    /// A request naming a session whose binding expired is answered `404`.
    pub fn session_binding_ttl(mut self, ttl: Duration) -> Self {
        self.session_binding_ttl = ttl;
        self
    }

    /// Caps open sessions per principal and in all (default 16 and 10,000).
    /// A `POST` without `Mcp-Session-Id` (an `initialize`) beyond them is
    /// answered `429` (the principal's cap) or `503` (the total), with
    /// `Retry-After`, before the MCP layer creates anything.
    pub fn session_limits(mut self, limits: SessionLimits) -> Self {
        self.session_limits = limits;
        self
    }

    /// Rate limit per principal (issuer, subject, client id) on the MCP
    /// endpoint, answered `429` with `Retry-After`; `None` turns it off.
    /// Default [`DEFAULT_PRINCIPAL_RATE_LIMIT`] (50/s, bursts of 100).
    pub fn principal_rate_limit(mut self, limit: impl Into<Option<RateLimit>>) -> Self {
        self.principal_rate_limit = limit.into();
        self
    }

    /// Rate limit per client address (an IPv4 address or an IPv6 /64) for
    /// what needs no valid token: the metadata documents and MCP requests
    /// that are refused `401`/`403`. Answered `429` with `Retry-After`;
    /// `None` turns it off. Default [`DEFAULT_CLIENT_RATE_LIMIT`] (20/s,
    /// bursts of 100). Needs the peer address (`ConnectInfo<SocketAddr>`, as
    /// [`serve`](super::serve) provides); loopback peers are exempt unless
    /// [`rate_limit_loopback`](Self::rate_limit_loopback) says otherwise.
    /// Behind a reverse proxy every client shares the proxy's address: limit
    /// there, and turn this off or raise it.
    pub fn client_rate_limit(mut self, limit: impl Into<Option<RateLimit>>) -> Self {
        self.client_rate_limit = limit.into();
        self
    }

    /// Also applies the client-address limit to loopback peers (default off:
    /// on loopback the peer is this machine, usually a local proxy or a
    /// developer's tools).
    pub fn rate_limit_loopback(mut self, on: bool) -> Self {
        self.rate_limit_loopback = on;
        self
    }

    /// The handle through which the MCP layer reports sessions it closed on
    /// its own (idle timeout), freeing their slots at once. Optional: without
    /// it a slot is freed on `DELETE` or when the binding expires.
    pub fn session_hook(&self) -> SessionHook {
        SessionHook {
            owners: self.sessions.clone(),
        }
    }

    /// Enforces per-item policies on every authenticated `POST`: a caller
    /// lacking a policy's scopes gets `403` with `WWW-Authenticate: Bearer
    /// error="insufficient_scope", scope="<held plus required>"`, one failing
    /// a claim condition or predicate `403` `access_denied` without a scope.
    /// A 2026-07-28 request is decided from its `Mcp-Method`/`Mcp-Name`
    /// headers before its body is read; a session-era request from its
    /// JSON-RPC body (read once, up to
    /// [`policy_body_limit`](Self::policy_body_limit)). An empty set that
    /// does not deny by default is not installed at all (no cost). Needs
    /// authentication: [`into_router`](Self::into_router) refuses policies
    /// on an [`unauthenticated`](Self::unauthenticated) endpoint.
    ///
    /// ```
    /// use mcpgate_auth::http::ProtectedEndpoint;
    /// use mcpgate_auth::policy::{Policy, PolicySet};
    /// # fn f(endpoint: ProtectedEndpoint) -> Result<ProtectedEndpoint, Box<dyn std::error::Error>> {
    /// let endpoint = endpoint.policies(
    ///     PolicySet::builder()
    ///         .policy(Policy::tools("add_todo").scopes(["todo:write"]))
    ///         .build()?,
    /// );
    /// # Ok(endpoint) }
    /// ```
    pub fn policies(mut self, policies: impl Into<Arc<PolicySet>>) -> Self {
        let policies = policies.into();
        self.policies = (!policies.is_empty() || policies.denies_by_default()).then_some(policies);
        self
    }

    /// The most a session-era body is read to decide a policy (default
    /// [`DEFAULT_POLICY_BODY_LIMIT`], 4 MiB); keep it equal to the MCP
    /// service's own limit. Larger bodies are answered `413`.
    pub fn policy_body_limit(mut self, bytes: usize) -> Self {
        self.policy_body_limit = bytes;
        self
    }

    /// Tells the policies which resource template serves a URI, so a
    /// resource-template policy also governs `resources/read` of the URIs
    /// that template serves (besides any resource policy matching the URI).
    pub fn resource_templates(mut self, templates: impl ResourceTemplates + 'static) -> Self {
        self.resource_templates = Some(Arc::new(templates));
        self
    }

    /// Counts of the requests the policies refused (a handle; clones share
    /// the counts), for metrics.
    pub fn policy_stats(&self) -> PolicyStats {
        self.policy_stats.clone()
    }

    /// The canonical MCP URL.
    pub fn mcp_url(&self) -> &McpUrl {
        &self.mcp_url
    }

    /// The protected-resource setup, if auth is on.
    pub fn protection(&self) -> Option<&ProtectedResource> {
        self.protection.as_ref()
    }

    fn origin_policy(&self) -> Result<OriginPolicy, ConfigError> {
        let mut policy = OriginPolicy::for_mcp_url(&self.mcp_url);
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
        Ok(policy)
    }

    fn guard(&self, check_host: bool) -> Result<Arc<Guard>, ConfigError> {
        let challenge = Arc::new(ChallengeParams {
            resource_metadata: self.mcp_url.protected_resource_metadata_url(),
            required_scopes: self
                .protection
                .as_ref()
                .map(|p| p.required_scopes().clone())
                .unwrap_or_default(),
        });
        self.sessions
            .configure(self.session_binding_ttl, self.session_limits);
        if self.policies.is_some() && self.protection.is_none() {
            // A policy needs a verified caller; without auth it would be
            // silently skipped, which must never be the result of a setup.
            return Err(ConfigError::new(
                "policies",
                "per-item policies need authentication, but this endpoint is unauthenticated",
            ));
        }
        Ok(Arc::new(Guard {
            policy: self.origin_policy()?,
            protection: self.protection.clone().map(|p| (p, challenge)),
            sessions: self.sessions.clone(),
            principal_rate: self
                .principal_rate_limit
                .map(|limit| RateLimiter::new(limit, DEFAULT_RATE_LIMIT_KEYS)),
            client_rate: self.client_rate_limit.map(|limit| {
                Arc::new(ClientRateLimit {
                    limiter: RateLimiter::new(limit, DEFAULT_RATE_LIMIT_KEYS),
                    include_loopback: self.rate_limit_loopback,
                })
            }),
            check_host,
            edge_policy: self.policies.clone().map(|set| EdgePolicy {
                set,
                max_body_bytes: self.policy_body_limit,
                templates: self.resource_templates.clone(),
                stats: self.policy_stats.clone(),
            }),
        }))
    }

    /// Only the guard, as a tower layer, for composing a router by hand. It
    /// checks Host and Origin, authenticates, binds sessions and strips
    /// `Authorization`; it does not serve the metadata documents.
    pub fn guard_layer(&self) -> Result<GuardLayer, ConfigError> {
        Ok(GuardLayer {
            guard: self.guard(true)?,
        })
    }

    /// The whole surface around `mcp_service` (any tower service that answers
    /// MCP requests): the MCP path and `path/` behind the guard, plus, when
    /// protected, the RFC 9728 documents and the RFC 8414 forwarder.
    pub fn into_router<S>(self, mcp_service: S) -> Result<Router, ConfigError>
    where
        S: Service<Request, Error = Infallible> + Clone + Send + Sync + 'static,
        S::Response: IntoResponse + 'static,
        S::Future: Send + 'static,
    {
        // The router checks `Host` for every route (below), so the guard need not.
        let guard = self.guard(false)?;
        let path = self.mcp_url.path();
        let mut mcp = Router::new().route_service(path, mcp_service.clone());
        if path != "/" {
            // Both spellings are served: FastMCP's 307 from `/mcp/` breaks POST clients.
            mcp = mcp.route_service(&format!("{path}/"), mcp_service);
        }
        // `route_layer`, not `layer`: `layer` would also wrap the fallback, so
        // every unknown path would be challenged (401) instead of answered 404.
        let mcp = mcp.route_layer(GuardLayer {
            guard: guard.clone(),
        });
        let client_rate = guard.client_rate.clone();

        // The Host check covers every route, unknown paths included: a
        // DNS-rebinding attack can reach any of them.
        let host_check = from_fn(move |request: Request, next: Next| {
            let guard = guard.clone();
            async move {
                match guard.host_refusal(&request) {
                    None => next.run(request).await,
                    Some(refused) => refused,
                }
            }
        });
        let Some(protection) = &self.protection else {
            return Ok(mcp.layer(host_check));
        };
        let document = MetadataDocument(
            serde_json::to_vec(&protection.metadata_document())
                .expect("a JSON value serialises")
                .into(),
        );
        let suffix = if path == "/" { "" } else { path };
        let mut well_known = Router::new();
        // A root MCP URL has one path per document: axum panics on a route
        // registered twice.
        let with_suffix = |prefix: &str| {
            let mut paths = vec![prefix.to_owned()];
            if !suffix.is_empty() {
                paths.push(format!("{prefix}{suffix}"));
            }
            paths
        };
        for prm_path in with_suffix(PRM_PREFIX) {
            let doc = document.clone();
            well_known = well_known.route(&prm_path, get(move || async move { doc.respond() }));
        }
        if let Some(upstream) = protection.upstream_metadata_url() {
            let forwarder = MetadataForwarder::new(upstream.to_owned());
            for as_path in with_suffix(AS_METADATA_PREFIX) {
                let f = forwarder.clone();
                well_known =
                    well_known.route(&as_path, get(move || async move { f.respond().await }));
            }
        }
        // The documents need no token: limit them per client address, as the
        // guard limits refused MCP requests (one budget for both). Inside the
        // CORS layer, so a browser can read the 429's `Retry-After`.
        if let Some(limit) = client_rate {
            well_known = well_known.layer(from_fn(move |request: Request, next: Next| {
                let limit = limit.clone();
                async move {
                    match limit.check(&request) {
                        Ok(()) => next.run(request).await,
                        Err(wait) => {
                            tracing::debug!("metadata request over its client's rate limit");
                            too_many(
                                http::StatusCode::TOO_MANY_REQUESTS,
                                wait,
                                "Too many requests",
                            )
                        }
                    }
                }
            }));
        }
        let well_known = well_known.layer(from_fn_with_state(&PUBLIC_DOCUMENT, cors));
        Ok(well_known.merge(mcp).layer(host_check))
    }
}
