//! `mcpgate proxy`: OAuth in front of any MCP server. A thin shell over
//! `mcpgate-gateway`: the flags become a `GatewayConfig`, the environment
//! (or `./.env`) the auth provider, exactly as the library reads them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use mcpgate::auth::http::ProtectedEndpoint;
use mcpgate::auth::policy::PolicySet;
use mcpgate::{Env, ProtectedResource, RateLimit};
use mcpgate_gateway::{
    Gateway, GatewayConfig, HttpUpstream, Isolation, StdioCommand, Upstream, UpstreamProtocol,
};
use tokio::net::TcpListener;

use super::proxy_config;

/// The upstream and the gateway's limits (shared by `proxy` and `dev`).
#[derive(Debug, Args)]
pub(crate) struct UpstreamArgs {
    /// A Streamable HTTP MCP server to protect (instead of `-- COMMAND`).
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// A static header for an HTTP upstream, `Name: value` (repeatable), e.g. an API key.
    #[arg(long, value_name = "HEADER", requires = "upstream")]
    upstream_header: Vec<String>,
    /// One upstream for every caller, instead of one per principal (issuer, subject, client id).
    #[arg(long)]
    shared: bool,
    /// Most principals with upstreams (stdio children or HTTP sessions; two when one uses both protocol eras) at once; a new principal beyond it gets 503 [default: 64].
    #[arg(long, value_name = "N")]
    max_children: Option<usize>,
    /// Seconds after which an unused upstream is stopped [default: 600].
    #[arg(long, value_name = "SECS")]
    idle_timeout: Option<u64>,
    /// Seconds a forwarded request may take before it is cancelled [default: 60].
    #[arg(long, value_name = "SECS")]
    call_timeout: Option<u64>,
    /// What the gateway speaks to the upstream for MCP 2026-07-28 callers: `auto` uses
    /// 2026-07-28 when the upstream serves it; `session` always bridges over a session [default: auto].
    #[arg(long, value_name = "PROTOCOL")]
    upstream_protocol: Option<ProtocolArg>,
    /// The stdio MCP server to protect: a program and its arguments, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

impl UpstreamArgs {
    /// Whether an upstream was given at all (`dev` serves its sample otherwise).
    pub(crate) fn is_given(&self) -> bool {
        self.upstream.is_some() || !self.command.is_empty()
    }

    /// Whether any of these flags was given (they conflict with `--config`).
    fn any_given(&self) -> bool {
        self.is_given()
            || !self.upstream_header.is_empty()
            || self.shared
            || self.max_children.is_some()
            || self.idle_timeout.is_some()
            || self.call_timeout.is_some()
            || self.upstream_protocol.is_some()
    }

    pub(crate) fn to_config(&self) -> anyhow::Result<GatewayConfig> {
        let upstream = match (&self.upstream, self.command.split_first()) {
            (Some(_), Some(_)) => {
                bail!("give either --upstream URL or `-- COMMAND [ARGS...]`, not both")
            }
            (None, None) => bail!(
                "no upstream: add `-- COMMAND [ARGS...]` for a stdio MCP server (e.g. `-- python server.py`) or --upstream URL for a Streamable HTTP one"
            ),
            (Some(url), None) => {
                let mut target = HttpUpstream::new(url)?;
                for header in &self.upstream_header {
                    let Some((name, value)) = header.split_once(':') else {
                        bail!("--upstream-header `{header}`: expected `Name: value`");
                    };
                    target = target
                        .header(name.trim(), value.trim())
                        .with_context(|| format!("--upstream-header `{name}`"))?;
                }
                Upstream::Http(target)
            }
            (None, Some((program, args))) => Upstream::Stdio(StdioCommand::new(program, args)),
        };
        let seconds = |flag: &str, value: u64| {
            if value == 0 {
                bail!("{flag} must be at least 1 second");
            }
            Ok(Duration::from_secs(value))
        };
        let mut config = GatewayConfig::new(upstream).isolation(if self.shared {
            Isolation::Shared
        } else {
            Isolation::PerPrincipal
        });
        if let Some(n) = self.max_children {
            if n == 0 {
                bail!("--max-children must be at least 1");
            }
            config = config.max_children(n);
        }
        if let Some(v) = self.idle_timeout {
            config = config.idle_timeout(seconds("--idle-timeout", v)?);
        }
        if let Some(v) = self.call_timeout {
            config = config.call_timeout(seconds("--call-timeout", v)?);
        }
        if let Some(protocol) = self.upstream_protocol {
            config = config.upstream_protocol(protocol.into());
        }
        Ok(config)
    }
}

/// `--upstream-protocol`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum ProtocolArg {
    /// 2026-07-28 to an upstream that serves it, else a bridged session.
    Auto,
    /// Always a session, bridged for 2026-07-28 callers.
    Session,
}

impl From<ProtocolArg> for UpstreamProtocol {
    fn from(arg: ProtocolArg) -> Self {
        match arg {
            ProtocolArg::Auto => UpstreamProtocol::Auto,
            ProtocolArg::Session => UpstreamProtocol::Session,
        }
    }
}

/// Flags of `mcpgate proxy`.
#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    #[command(flatten)]
    upstream: UpstreamArgs,
    /// A TOML file describing the upstreams (one, or several mounted under names), auth and limits.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the configuration (flags, environment or --config) and exit without serving.
    #[arg(long)]
    check: bool,
    /// Address to listen on (default: the host and port of MCP_URL), e.g. 0.0.0.0:8000 behind a proxy.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Extra browser origins allowed to call the MCP endpoint (comma-separated).
    #[arg(long, value_delimiter = ',')]
    allow_origin: Vec<String>,
    /// Address of the admin server with Prometheus metrics at /metrics (off by default), e.g. 127.0.0.1:9100.
    #[arg(long, value_name = "ADDR")]
    admin_listen: Option<SocketAddr>,
    /// Requests per second each principal may send, also its burst [default: 50 per second, bursts of 100].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit: Option<u32>,
}

/// Auth from the environment and `./.env`, as the seed example reads it.
fn protection_from_env() -> anyhow::Result<ProtectedResource> {
    let env = Env::from_process()?;
    let Some(provider) = mcpgate::providers::from_vars(&env)? else {
        bail!(
            "no auth configured: set SCALEKIT_ENVIRONMENT_URL, SCALEKIT_RESOURCE_ID and MCP_URL (in the environment or ./.env), or FastMCP's FASTMCP_SERVER_AUTH_* names; `mcpgate dev -- COMMAND` runs a local authorization server instead"
        );
    };
    Ok(provider.build()?)
}

/// The address of an MCP URL's host and port.
fn listen_addr(protection: &ProtectedResource) -> anyhow::Result<(String, u16)> {
    let url = protection.resource().url();
    let host = url
        .host_str()
        .context("MCP_URL has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    Ok((host, port))
}

pub(crate) async fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let (mounts, protection, listen, origins, policies) = match &args.config {
        Some(path) => {
            if args.upstream.any_given() {
                bail!(
                    "--config {} describes the upstreams and their limits; drop the upstream flags (or drop --config)",
                    path.display()
                );
            }
            let loaded = proxy_config::load(path)?;
            let protection = match &loaded.file.auth {
                Some(auth) => auth
                    .build(None)
                    .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.within("auth")))?,
                None => protection_from_env()?,
            };
            let mut origins = loaded.file.allow_origins.clone();
            origins.extend(args.allow_origin.iter().cloned());
            (
                loaded.upstreams,
                protection,
                args.listen.or(loaded.file.listen),
                origins,
                loaded.policies,
            )
        }
        None => (
            vec![(None, args.upstream.to_config()?)],
            protection_from_env()?,
            args.listen,
            args.allow_origin.clone(),
            None,
        ),
    };
    if args.check {
        let names: Vec<String> = mounts
            .iter()
            .map(|(name, config)| {
                let target = match config.upstream() {
                    Upstream::Stdio(c) => c.program().to_string_lossy().into_owned(),
                    Upstream::Http(h) => h.url().to_string(),
                };
                match name {
                    Some(n) => format!("{n} ({target})"),
                    None => target,
                }
            })
            .collect();
        println!(
            "configuration OK: MCP URL {}, {} upstream(s): {}, {} policies",
            protection.resource(),
            names.len(),
            names.join(", "),
            policies.as_ref().map_or(0, PolicySet::len)
        );
        return Ok(());
    }
    let listener = match listen {
        Some(addr) => TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (--listen or `listen`)"))?,
        None => {
            let (host, port) = listen_addr(&protection)?;
            TcpListener::bind((host.as_str(), port)).await.with_context(|| {
                format!(
                    "cannot listen on {host}:{port} (from MCP_URL {}); free the port or pass --listen ADDR",
                    protection.resource()
                )
            })?
        }
    };
    let mut endpoint = ProtectedEndpoint::new(protection);
    if let Some(n) = args.rate_limit {
        endpoint = endpoint.principal_rate_limit(RateLimit::per_second(n).burst(n));
    }
    for origin in origins {
        endpoint = endpoint.allow_origin(origin);
    }
    let single = mounts.len() == 1 && mounts[0].0.is_none();
    let gateway = if single {
        let (_, config) = mounts.into_iter().next().context("one upstream")?;
        Gateway::start(config).await
    } else {
        Gateway::start_mounted(
            mounts
                .into_iter()
                .map(|(name, config)| (name.unwrap_or_default(), config)),
        )
        .await
    };
    let mut gateway = gateway
        .context("cannot start the upstream MCP server; check the command or URL (its stderr is in the log above)")?;
    if let Some(policies) = policies {
        gateway = gateway.policies(policies);
    }
    let app = gateway.into_http(endpoint)?;
    // Bound before anything is announced, so a taken port fails the start.
    let admin = match args.admin_listen {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (--admin-listen)"))?;
            let url = format!("http://{}/metrics", listener.local_addr()?);
            let server = app
                .admin()
                .serve(listener, mcpgate::auth::http::shutdown_signal());
            Some((url, tokio::spawn(server)))
        }
        None => None,
    };
    // Written once and without println!: a closed stdout must not kill the gateway.
    {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let metrics = admin
            .as_ref()
            .map(|(url, _)| format!("Metrics: {url}\n"))
            .unwrap_or_default();
        let _ = write!(
            stdout,
            "MCP URL: {}\n{metrics}Press Ctrl-C to stop.\n",
            app.mcp_url()
        )
        .and_then(|()| stdout.flush());
    }
    app.serve(listener, mcpgate::auth::http::shutdown_signal())
        .await?;
    if let Some((_, task)) = admin {
        // The same signal stops it; a failure of the admin server is reported, not fatal.
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("admin server: {e}"),
            Err(e) => tracing::warn!("admin server task: {e}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        proxy: ProxyArgs,
    }

    fn config(args: &[&str]) -> anyhow::Result<GatewayConfig> {
        let cli = Cli::try_parse_from(std::iter::once("proxy").chain(args.iter().copied()))?;
        cli.proxy.upstream.to_config()
    }

    #[test]
    fn a_command_after_dashes_is_a_stdio_upstream() {
        let config = config(&["--shared", "--", "python", "server.py", "--flag"]).unwrap();
        let Upstream::Stdio(command) = config.upstream() else {
            panic!()
        };
        assert_eq!(command.program(), "python");
    }

    #[test]
    fn an_upstream_url_with_headers() {
        let config = config(&[
            "--upstream",
            "http://127.0.0.1:9/mcp",
            "--upstream-header",
            "X-Api-Key: k",
        ])
        .unwrap();
        assert!(matches!(config.upstream(), Upstream::Http(_)));
    }

    #[test]
    fn the_rate_limit_is_at_least_one_request_per_second() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("proxy").chain(args.iter().copied()))
        };
        let cli = parse(&["--rate-limit", "5000", "--", "x"]).unwrap();
        assert_eq!(cli.proxy.rate_limit, Some(5000));
        assert_eq!(parse(&["--", "x"]).unwrap().proxy.rate_limit, None);
        let zero = parse(&["--rate-limit", "0", "--", "x"])
            .unwrap_err()
            .to_string();
        assert!(zero.contains("--rate-limit"), "{zero}");
    }

    #[test]
    fn bad_input_says_what_to_do() {
        let none = config(&[]).unwrap_err().to_string();
        assert!(none.contains("-- COMMAND"), "{none}");
        let both = config(&["--upstream", "http://127.0.0.1:9/mcp", "--", "x"])
            .unwrap_err()
            .to_string();
        assert!(both.contains("not both"), "{both}");
        let url = config(&["--upstream", "ftp://x"]).unwrap_err().to_string();
        assert!(url.contains("http://"), "{url}");
        let header = config(&[
            "--upstream",
            "http://127.0.0.1:9/mcp",
            "--upstream-header",
            "nocolon",
        ])
        .unwrap_err()
        .to_string();
        assert!(header.contains("Name: value"), "{header}");
        let zero = config(&["--call-timeout", "0", "--", "x"])
            .unwrap_err()
            .to_string();
        assert!(zero.contains("--call-timeout"), "{zero}");
    }
}
