//! What the gateway forwards to and the limits it keeps: the upstream (a
//! stdio command or a Streamable HTTP URL), how callers share it, and the
//! bounds on children, idle time and calls.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::GatewayError;
use crate::exchange::TokenExchange;

/// Default cap on principals with live upstream connections (stdio children or HTTP sessions).
pub const DEFAULT_MAX_CHILDREN: usize = 64;
/// Default idle time after which a principal's upstream is shut down.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Default bound on one forwarded request (the upstream's answer included).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Default bound on starting an upstream (spawn or connect, plus `initialize`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait between restarts of an upstream that keeps failing.
pub const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(30);

/// The MCP server behind the gateway.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// A program speaking MCP over stdin/stdout, started by the gateway.
    Stdio(StdioCommand),
    /// A Streamable HTTP MCP endpoint.
    Http(HttpUpstream),
}

/// A stdio upstream: the program, its arguments and what it inherits.
#[derive(Debug, Clone)]
pub struct StdioCommand {
    program: OsString,
    args: Vec<OsString>,
    env: BTreeMap<OsString, OsString>,
    cwd: Option<PathBuf>,
}

impl StdioCommand {
    /// `program` with `args`; the child inherits the gateway's environment
    /// and working directory.
    pub fn new<I, S>(program: impl Into<OsString>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: BTreeMap::new(),
            cwd: None,
        }
    }

    /// Sets an environment variable for the child.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// The child's working directory.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// The program, as given.
    pub fn program(&self) -> &OsString {
        &self.program
    }

    pub(crate) fn to_command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.program);
        command.args(&self.args).envs(&self.env);
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        command
    }

    /// The command line for logs and errors.
    pub(crate) fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A Streamable HTTP upstream: its URL and the static headers it gets.
///
/// The gateway's HTTP client is its own: nothing from the caller's request
/// (least of all its `Authorization` header) is sent upstream.
#[derive(Debug, Clone)]
pub struct HttpUpstream {
    url: reqwest::Url,
    headers: http::HeaderMap,
    identity_headers: Vec<(Identity, http::HeaderName)>,
    /// Boxed: rarely set, and large next to the other fields.
    on_behalf_of: Option<Box<TokenExchange>>,
}

/// A part of the verified caller's identity an HTTP upstream may be told
/// (only when configured; see [`HttpUpstream::identity_header`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Identity {
    /// The token's `sub`.
    Subject,
    /// The token's client id.
    ClientId,
    /// The token's issuer.
    Issuer,
}

impl HttpUpstream {
    /// Parses an `http` or `https` URL.
    pub fn new(url: &str) -> Result<Self, GatewayError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            GatewayError::config("upstream URL", format!("`{url}` is not a URL: {e}"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(GatewayError::config(
                "upstream URL",
                format!("`{url}` must be an http:// or https:// URL with a host"),
            ));
        }
        Ok(Self {
            url: parsed,
            headers: http::HeaderMap::new(),
            identity_headers: Vec::new(),
            on_behalf_of: None,
        })
    }

    /// A header sent with every upstream request (e.g. an API key). An
    /// `Authorization` header set here is the gateway's own credential for
    /// the upstream, never the caller's.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, GatewayError> {
        let header_name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
            GatewayError::config(
                "upstream header",
                format!("`{name}` is not a header name: {e}"),
            )
        })?;
        let header_value = http::HeaderValue::from_str(value).map_err(|e| {
            GatewayError::config(
                "upstream header",
                format!("the value of `{name}` is not a valid header value: {e}"),
            )
        })?;
        self.headers.insert(header_name, header_value);
        Ok(self)
    }

    /// Tells the upstream who the caller is: header `name` carries that part
    /// of the verified identity (never the token) on every request of the
    /// caller's upstream session. Needs [`Isolation::PerPrincipal`]: a shared
    /// session has no single caller.
    pub fn identity_header(mut self, part: Identity, name: &str) -> Result<Self, GatewayError> {
        let header_name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
            GatewayError::config(
                "identity header",
                format!("`{name}` is not a header name: {e}"),
            )
        })?;
        if header_name == http::header::AUTHORIZATION {
            return Err(GatewayError::config(
                "identity header",
                "may not be Authorization: the caller's credentials are never passed on",
            ));
        }
        self.identity_headers.push((part, header_name));
        Ok(self)
    }

    /// Sends each caller's requests with an on-behalf-of token: the
    /// caller's verified token exchanged (RFC 8693) for one whose audience
    /// is this upstream, cached per principal until shortly before it
    /// expires. The caller's own token is never sent upstream. Needs
    /// [`Isolation::PerPrincipal`] (a session per caller) and no static
    /// `Authorization` header.
    pub fn on_behalf_of(mut self, exchange: TokenExchange) -> Self {
        self.on_behalf_of = Some(Box::new(exchange));
        self
    }

    pub(crate) fn token_exchange(&self) -> Option<&TokenExchange> {
        self.on_behalf_of.as_deref()
    }

    pub(crate) fn identity_headers(&self) -> &[(Identity, http::HeaderName)] {
        &self.identity_headers
    }

    /// The URL.
    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    pub(crate) fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }
}

/// Who shares an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// One upstream per principal (issuer, subject, client id): two users
    /// never share a server's in-memory state. The default.
    #[default]
    PerPrincipal,
    /// One upstream for every caller.
    Shared,
}

/// Which protocol era the gateway speaks to the upstream for callers of the
/// 2026-07-28 revision.
///
/// Session-era callers always get a session-era upstream connection
/// (`initialize`), which relays everything of that era unchanged. A
/// 2026-07-28 caller is best served by an upstream that speaks 2026-07-28
/// itself: the upstream's own `input_required` results (its input keys, all
/// of a round's requests at once, chosen from this caller's declared
/// capabilities) reach the caller unchanged. Only when the upstream does
/// not serve the revision does the gateway bridge its mid-call requests
/// into rounds of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UpstreamProtocol {
    /// Probe the upstream with `server/discover` once; 2026-07-28 callers
    /// use a 2026-07-28 connection when it serves the revision, and the
    /// session-era connection (bridged) otherwise. The default.
    #[default]
    Auto,
    /// Always the session-era connection, bridged for 2026-07-28 callers
    /// (for upstreams whose 2026-07-28 support is broken).
    Session,
}

/// The gateway's configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub(crate) upstream: Upstream,
    pub(crate) protocol: UpstreamProtocol,
    pub(crate) isolation: Isolation,
    pub(crate) max_children: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) call_timeout: Duration,
    pub(crate) connect_timeout: Duration,
}

impl GatewayConfig {
    /// Forwards to `upstream` with the default isolation and limits.
    pub fn new(upstream: Upstream) -> Self {
        Self {
            upstream,
            protocol: UpstreamProtocol::default(),
            isolation: Isolation::default(),
            max_children: DEFAULT_MAX_CHILDREN,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// Which protocol the gateway speaks to the upstream for 2026-07-28
    /// callers (default: [`UpstreamProtocol::Auto`]).
    pub fn upstream_protocol(mut self, protocol: UpstreamProtocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Who shares an upstream (default: one per principal).
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// Cap on principals with live upstreams (each has up to two
    /// connections: session-era and 2026-07-28, see [`UpstreamProtocol`]);
    /// a new principal beyond it gets `503` with
    /// `Retry-After` (default [`DEFAULT_MAX_CHILDREN`]).
    pub fn max_children(mut self, max: usize) -> Self {
        self.max_children = max;
        self
    }

    /// Idle time after which a principal's upstream is stopped (default
    /// [`DEFAULT_IDLE_TIMEOUT`]).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Bound on one forwarded request (default [`DEFAULT_CALL_TIMEOUT`]); on
    /// expiry the upstream is sent `notifications/cancelled` and the caller
    /// gets a JSON-RPC error.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Bound on starting an upstream (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Exchanges each caller's token for an on-behalf-of token of the HTTP
    /// upstream ([`HttpUpstream::on_behalf_of`]); an error for a stdio one.
    pub fn on_behalf_of(mut self, exchange: TokenExchange) -> Result<Self, GatewayError> {
        match self.upstream {
            Upstream::Http(http) => {
                self.upstream = Upstream::Http(http.on_behalf_of(exchange));
                Ok(self)
            }
            Upstream::Stdio(_) => Err(GatewayError::config(
                "on-behalf-of",
                "applies to HTTP upstreams only (a stdio server gets no token)",
            )),
        }
    }

    /// The upstream.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    pub(crate) fn validate(&self) -> Result<(), GatewayError> {
        if let Upstream::Http(http) = &self.upstream
            && !http.identity_headers().is_empty()
            && self.isolation == Isolation::Shared
        {
            return Err(GatewayError::config(
                "identity headers",
                "need one upstream session per principal; a shared upstream has no single caller",
            ));
        }
        if let Upstream::Http(http) = &self.upstream
            && let Some(exchange) = http.token_exchange()
        {
            if self.isolation == Isolation::Shared {
                return Err(GatewayError::config(
                    "on-behalf-of",
                    "needs one upstream session per principal; a shared upstream has no single caller",
                ));
            }
            if http.headers().contains_key(http::header::AUTHORIZATION) {
                return Err(GatewayError::config(
                    "on-behalf-of",
                    "sets the upstream's Authorization header; drop the static Authorization header",
                ));
            }
            exchange.validate()?;
        }
        if self.max_children == 0 {
            return Err(GatewayError::config("max children", "must be at least 1"));
        }
        for (name, value) in [
            ("idle timeout", self.idle_timeout),
            ("call timeout", self.call_timeout),
            ("connect timeout", self.connect_timeout),
        ] {
            if value.is_zero() {
                return Err(GatewayError::config(name, "must be more than 0 seconds"));
            }
        }
        Ok(())
    }
}
