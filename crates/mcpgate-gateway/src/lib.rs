//! # mcpgate-gateway
//!
//! OAuth in front of any MCP server. The gateway terminates MCP on both
//! sides: to the client it is an MCP server over Streamable HTTP behind
//! `mcpgate-auth`'s [`ProtectedEndpoint`] (RFC 9728 metadata, challenges,
//! strict token validation, Origin/Host checks, both protocol eras); to the
//! upstream it is an MCP client, of a stdio child or a Streamable HTTP
//! server. Because both sides are terminated, a 2026-07-28 client can use a
//! session-era upstream and the other way round, and the client's token
//! never reaches the upstream (each forwarded request is rebuilt from its
//! params; HTTP upstreams get the gateway's own client and static headers).
//!
//! ```no_run
//! # async fn run() -> Result<(), mcpgate_gateway::GatewayError> {
//! use mcpgate_auth::http::ProtectedEndpoint;
//! use mcpgate_auth::{AuthProvider, ScalekitProvider};
//! use mcpgate_gateway::{Gateway, GatewayConfig, StdioCommand, Upstream};
//!
//! let provider = ScalekitProvider::new("https://acme.scalekit.com", "res_123", "http://127.0.0.1:8000/mcp");
//! let protection = Box::new(provider).build()?;
//! let config = GatewayConfig::new(Upstream::Stdio(StdioCommand::new("python", ["server.py"])));
//! let app = Gateway::start(config).await?.into_http(ProtectedEndpoint::new(protection))?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! app.serve(listener, mcpgate_auth::http::shutdown_signal()).await
//! # }
//! ```
//!
//! Layout: `config` (upstream, isolation, limits), `pool` (one upstream per
//! principal or shared: cap, idle reaping, restart backoff), `upstream` (a
//! connection and the client handler relaying the upstream's messages),
//! `routes` (which caller those messages belong to), `mrtr` (input rounds
//! for 2026-07-28 callers of a session-era upstream), `sealed_state` (a
//! 2026-07-28 upstream's `requestState` bound to its caller), `metrics`, `mount` (names of
//! several upstreams), `policy` (lists filtered by per-item policies),
//! `exchange` (on-behalf-of tokens: RFC 8693 exchange, cache, single
//! flight) and `bearer` (the upstream session's HTTP client sending them),
//! `forward` (the rmcp server handler), `fast_forward` (a plain
//! 2026-07-28 call to a 2026-07-28 HTTP upstream without rmcp), `capacity`
//! (`503` beyond the cap), `health` (`/healthz`, `/readyz`) and `app` (the
//! HTTP surface; rmcp's sessions and its JSON-RPC parse errors are handled
//! as in mcpgate's own server, by `mcpgate-rmcp`).
//!
//! A 2026-07-28 caller's requests go to the upstream in 2026-07-28 when it
//! serves the revision ([`UpstreamProtocol::Auto`], a second connection per
//! principal), carrying the caller's own declared capabilities; the
//! upstream's `input_required` rounds reach the caller unchanged, their
//! `requestState` sealed to it. Otherwise the gateway bridges:
//!
//! Relayed to session-era clients: `list_changed` notifications (to the
//! sessions that used the upstream) and resource subscriptions
//! (`resources/subscribe`; updates go to the subscribed sessions). To
//! 2026-07-28 clients: list changes on `subscriptions/listen`, and the
//! upstream's sampling, elicitation and roots requests as `input_required`
//! rounds (`mrtr`: the upstream call is parked under a `requestState`
//! handle). Roots go to the caller whose call asks, if it declared them; a
//! request for a capability the caller did not declare is answered to the
//! caller with `-32021` (HTTP 400) and the upstream call is cancelled. Operations:
//! `/healthz`, `/readyz` and, on an admin address, Prometheus `/metrics`
//! ([`GatewayApp::admin`]).

mod app;
mod bearer;
mod capacity;
mod config;
mod error;
mod exchange;
mod fast_forward;
mod forward;
mod health;
mod metrics;
mod mount;
mod mrtr;
mod policy;
mod pool;
mod routes;
mod sealed_state;
mod upstream;

pub use app::{Gateway, GatewayAdmin, GatewayApp, GatewayMonitor};
pub use config::{
    DEFAULT_CALL_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CHILDREN,
    GatewayConfig, HttpUpstream, Identity, Isolation, MAX_RESTART_BACKOFF, StdioCommand, Upstream,
    UpstreamProtocol,
};
pub use error::GatewayError;
pub use exchange::{ExchangeError, MAX_CACHED, REFRESH_MARGIN, TokenExchange};
pub use mcpgate_auth::http::ProtectedEndpoint;
