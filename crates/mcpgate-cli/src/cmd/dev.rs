//! `mcpgate dev`: the zero-setup environment. Starts the local
//! Scalekit-compatible authorization server and the seed's example MCP server,
//! wired together through the ordinary `ScalekitProvider` (the provider simply
//! gets the local environment URL), and prints everything needed to connect.
//!
//! `mcpgate dev token` mints a token with the keys in the data directory;
//! `mcpgate dev rotate-keys` asks a running dev server to rotate its key.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use mcpgate::ScalekitProvider;
use mcpgate::verify::SigningAlgorithm;
use mcpgate_dev_as::{
    DevAuthServer, DevAuthServerConfig, IssuerForm, KeyAlgorithm, Storage, TokenRequest,
};
use tokio::net::TcpListener;
use url::Url;

/// Flags of `mcpgate dev`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct DevArgs {
    #[command(subcommand)]
    action: Option<DevAction>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum DevAction {
    /// Mint an access token with the dev server's signing key.
    Token(TokenArgs),
    /// Rotate the signing key of a running `mcpgate dev` (the old key stays published for a grace period).
    RotateKeys(RotateArgs),
}

/// Which `iss` tokens carry: Scalekit's older `{env}`, newer `{env}/resources/{res}`, or both alternately.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum IssuerFormArg {
    Env,
    Resource,
    Both,
}

impl From<IssuerFormArg> for IssuerForm {
    fn from(value: IssuerFormArg) -> Self {
        match value {
            IssuerFormArg::Env => IssuerForm::Env,
            IssuerFormArg::Resource => IssuerForm::Resource,
            IssuerFormArg::Both => IssuerForm::Alternate,
        }
    }
}

/// Where the servers listen and keep their state (shared by `dev` and `dev token`).
#[derive(Debug, Args)]
struct Location {
    /// Port of the MCP server on 127.0.0.1 (0 picks a free port).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Port of the authorization server on 127.0.0.1 (0 picks a free port).
    #[arg(long, default_value_t = 8001)]
    auth_port: u16,
    /// Directory for the authorization server's SQLite state (clients, keys, refresh tokens).
    #[arg(long, default_value = ".mcpgate")]
    data_dir: PathBuf,
    /// Resource id of the MCP server (default: generated once and kept in the data directory).
    #[arg(long)]
    resource_id: Option<String>,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    location: Location,
    /// Keep all state in memory: nothing is written, and clients must register again after a restart.
    #[arg(long)]
    ephemeral: bool,
    /// Scopes the authorization server offers (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "openid,profile,email,offline_access,mcp:tools"
    )]
    scopes: Vec<String>,
    /// Scopes every MCP request must carry (comma-separated; default none).
    #[arg(long, value_delimiter = ',')]
    required_scopes: Vec<String>,
    /// Access-token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    token_lifetime: u64,
    /// The `iss` form of issued tokens.
    #[arg(long, value_enum, default_value = "resource")]
    issuer_form: IssuerFormArg,
    /// Algorithm the authorization server signs tokens with: RS256
    /// (Scalekit's), ES256 or EdDSA (default: the stored key's, RS256 for a new one).
    #[arg(long, value_parser = parse_signing_alg)]
    signing_alg: Option<KeyAlgorithm>,
    /// Extra browser origins allowed to call the MCP endpoint and the dev
    /// authorization server's registration, token and revocation endpoints
    /// (MCP Inspector's are allowed already).
    #[arg(long, value_delimiter = ',')]
    allow_origin: Vec<String>,
    /// Audiences (upstream URLs or names) the authorization server may issue
    /// tokens for through RFC 8693 token exchange, besides the MCP URL
    /// (comma-separated). A client registers the grant type
    /// `urn:ietf:params:oauth:grant-type:token-exchange` with a secret to use it.
    #[arg(long, value_delimiter = ',')]
    exchange_audience: Vec<String>,
    /// With `--upstream URL`: the upstream has its own OAuth at this
    /// authorization server and accepts tokens for AUDIENCE (its URL, or a
    /// resource id such as `res_…`). The gateway registers itself for token
    /// exchange and sends each caller's token exchanged (RFC 8693) for one
    /// with that audience; the caller's token never reaches the upstream.
    #[arg(long, value_name = "AUDIENCE", requires = "upstream")]
    on_behalf_of: Option<String>,
    /// Your own MCP server behind the gateway instead of the sample:
    /// `-- COMMAND [ARGS...]` (stdio) or `--upstream URL` (Streamable HTTP).
    #[command(flatten)]
    upstream: crate::cmd::proxy::UpstreamArgs,
}

#[derive(Debug, Args)]
struct TokenArgs {
    #[command(flatten)]
    location: Location,
    /// Subject (`sub`) of the token (default: the dev user of the data directory).
    #[arg(long)]
    subject: Option<String>,
    /// Scopes (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "openid,mcp:tools")]
    scopes: Vec<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    lifetime: u64,
}

#[derive(Debug, Args)]
struct RotateArgs {
    /// Port of the running authorization server.
    #[arg(long, default_value_t = 8001)]
    auth_port: u16,
}

fn parse_signing_alg(raw: &str) -> Result<KeyAlgorithm, String> {
    raw.parse()
}

/// MCP Inspector's web UI; allowed by default so it can connect directly.
const INSPECTOR_ORIGINS: [&str; 2] = ["http://localhost:6274", "http://127.0.0.1:6274"];

pub(crate) async fn run(args: DevArgs) -> anyhow::Result<()> {
    match args.action {
        None => run_servers(args.run).await,
        Some(DevAction::Token(token)) => mint(token).await,
        Some(DevAction::RotateKeys(rotate)) => rotate_keys(rotate).await,
    }
}

async fn bind(port: u16, flag: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .with_context(|| {
            format!(
                "cannot listen on 127.0.0.1:{port}; pick another with {flag} (0 picks a free port)"
            )
        })
}

fn mcp_url(port: u16) -> anyhow::Result<Url> {
    Ok(Url::parse(&format!("http://127.0.0.1:{port}/mcp"))?)
}

fn as_config(location: &Location, mcp_url: Url, storage: Storage) -> DevAuthServerConfig {
    let mut config = DevAuthServerConfig::new(mcp_url).with_storage(storage);
    if let Some(res) = &location.resource_id {
        config = config.with_resource_id(res.clone());
    }
    config
}

async fn run_servers(args: RunArgs) -> anyhow::Result<()> {
    // Bind both first: each server's URL must be known before the other is configured.
    let mcp_listener = bind(args.location.port, "--port").await?;
    let auth_listener = bind(args.location.auth_port, "--auth-port").await?;
    let mcp_url = mcp_url(mcp_listener.local_addr()?.port())?;

    let storage = if args.ephemeral {
        Storage::Memory
    } else {
        std::fs::create_dir_all(&args.location.data_dir).with_context(|| {
            format!(
                "cannot create --data-dir {}",
                args.location.data_dir.display()
            )
        })?;
        Storage::Sqlite(args.location.data_dir.clone())
    };
    let mut config = as_config(&args.location, mcp_url.clone(), storage)
        .with_scopes(args.scopes.iter().cloned())
        .with_token_lifetime(Duration::from_secs(args.token_lifetime))
        .with_issuer_form(args.issuer_form.into())
        .with_allowed_origins(args.allow_origin.iter().cloned())
        .with_exchange_audiences(
            args.exchange_audience
                .iter()
                .chain(&args.on_behalf_of)
                .cloned(),
        );
    if let Some(alg) = args.signing_alg {
        config = config.with_signing_algorithm(alg);
    }
    let auth = DevAuthServer::start(auth_listener, config)
        .await
        .context("cannot start the dev authorization server")?;

    let provider = ScalekitProvider::new(auth.env_url(), auth.resource_id(), mcp_url.as_str())
        .required_scopes(args.required_scopes.iter().cloned())
        .scopes_supported(args.scopes.iter().cloned())
        .resource_name("mcpgate dev server")
        // Every kind the dev server can sign with: after a --signing-alg
        // change the previous key stays published for its grace period.
        .algorithms([
            SigningAlgorithm::Rs256,
            SigningAlgorithm::Es256,
            SigningAlgorithm::EdDsa,
        ]);
    let origins: Vec<String> = INSPECTOR_ORIGINS
        .iter()
        .copied()
        .map(str::to_owned)
        .chain(args.allow_origin.iter().cloned())
        .collect();
    let app = if args.upstream.is_given() {
        // The gateway in front of the user's own server, same auth.
        let mut config = args.upstream.to_config()?;
        if let Some(audience) = &args.on_behalf_of {
            config = config.on_behalf_of(exchange_as_gateway(&auth, audience)?)?;
        }
        let protection = mcpgate::AuthProvider::build(Box::new(provider))
            .context("cannot configure the MCP server")?;
        let mut endpoint = mcpgate::auth::http::ProtectedEndpoint::new(protection);
        for origin in origins {
            endpoint = endpoint.allow_origin(origin);
        }
        let gateway = mcpgate_gateway::Gateway::start(config)
            .await
            .context("cannot start your MCP server; check the command or URL (its stderr is in the log above)")?;
        DevApp::Gateway(gateway.into_http(endpoint)?)
    } else {
        let mut server = scalekit_server::server().auth(provider);
        for origin in origins {
            server = server.allow_origin(origin);
        }
        DevApp::Sample(Box::new(
            server
                .into_http(None)
                .context("cannot configure the MCP server")?,
        ))
    };

    let mut token_request =
        TokenRequest::user(auth.dev_user_id()).with_scopes(["openid", "mcp:tools"]);
    if !args.required_scopes.is_empty() {
        token_request = token_request.with_scopes(args.scopes.iter().cloned());
    }
    let token = auth
        .mint_token(token_request)
        .context("cannot mint the sample token")?;

    print_banner(
        app.mcp_url(),
        &auth,
        &token,
        args.ephemeral,
        &args.location.data_dir,
    );

    let shutdown = async {
        mcpgate::auth::http::shutdown_signal().await;
        eprintln!("\nshutting down");
    };
    match app {
        DevApp::Sample(app) => app.serve(mcp_listener, shutdown).await?,
        DevApp::Gateway(app) => app.serve(mcp_listener, shutdown).await?,
    }
    auth.shutdown().await.ok();
    Ok(())
}

/// Registers the gateway at the dev authorization server as a confidential
/// client that may exchange tokens, and says how to exchange for `audience`
/// (a URL goes as RFC 8707 `resource`, anything else as `audience`).
fn exchange_as_gateway(
    auth: &DevAuthServer,
    audience: &str,
) -> anyhow::Result<mcpgate_gateway::TokenExchange> {
    let client = auth
        .register_client(serde_json::json!({
            "client_name": "mcpgate dev gateway",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"],
        }))
        .context("cannot register the gateway for token exchange")?;
    let secret = client
        .client_secret
        .context("the gateway's registration has no client secret")?;
    let exchange = mcpgate_gateway::TokenExchange::new(
        &format!("{}/oauth/token", auth.env_url()),
        client.client_id,
        secret,
    )?;
    let is_url = Url::parse(audience).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    Ok(if is_url {
        exchange.resource(audience)
    } else {
        exchange.audience(audience)
    })
}

/// What `mcpgate dev` serves: the seed's sample, or the gateway in front of
/// the user's own MCP server.
enum DevApp {
    Sample(Box<mcpgate::HttpApp>),
    Gateway(mcpgate_gateway::GatewayApp),
}

impl DevApp {
    fn mcp_url(&self) -> &str {
        match self {
            Self::Sample(app) => app.mcp_url().as_str(),
            Self::Gateway(app) => app.mcp_url().as_str(),
        }
    }
}

/// Ctrl-C or SIGTERM (what process managers and test harnesses send).
fn print_banner(
    mcp: &str,
    auth: &DevAuthServer,
    token: &str,
    ephemeral: bool,
    data_dir: &std::path::Path,
) {
    let state = if ephemeral {
        "in memory (--ephemeral)".to_owned()
    } else {
        data_dir.display().to_string()
    };
    // Built first and written once: a reader that stops after the `Token:` line
    // (a script, `| head`) must not make the server die of a broken pipe, which
    // println! would turn into a panic.
    let mut out = String::new();
    macro_rules! outln {
        ($out:ident, $($arg:tt)*) => {{
            $out.push_str(&format!($($arg)*));
            $out.push('\n');
        }};
    }
    // Plain `Key: value` lines first, so scripts can read them.
    outln!(out, "MCP URL: {mcp}");
    outln!(out, "Environment URL: {}", auth.env_url());
    outln!(out, "Resource ID: {}", auth.resource_id());
    outln!(out, "Authorization server: {}", auth.resource_issuer());
    outln!(out, "State: {state}");
    outln!(out, "Token: {token}");
    out.push('\n');
    outln!(out, "Try it:");
    outln!(
        out,
        "  curl -s {mcp} -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n    -H 'Accept: application/json, text/event-stream' \\\n    -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{{}},\"clientInfo\":{{\"name\":\"curl\",\"version\":\"1\"}}}}}}'"
    );
    outln!(
        out,
        "  (TOKEN is the token above; without it the server answers 401 with a WWW-Authenticate challenge.)"
    );
    out.push('\n');
    outln!(
        out,
        "Connect a client (each runs the OAuth flow against the local authorization server):"
    );
    outln!(
        out,
        "  MCP Inspector: npx @modelcontextprotocol/inspector  → Transport: Streamable HTTP, URL: {mcp}"
    );
    outln!(
        out,
        "  Claude Code:   claude mcp add --transport http mcpgate-dev {mcp}"
    );
    outln!(
        out,
        "  VS Code:       .vscode/mcp.json → {{\"servers\": {{\"mcpgate-dev\": {{\"type\": \"http\", \"url\": \"{mcp}\"}}}}}}"
    );
    out.push('\n');
    outln!(out, "Press Ctrl-C to stop.");
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush());
}

async fn mint(args: TokenArgs) -> anyhow::Result<()> {
    let db = args.location.data_dir.join("dev-as.sqlite3");
    if !db.exists() {
        bail!(
            "no dev authorization server state in {} — run `mcpgate dev` once (without --ephemeral), or pass --data-dir",
            args.location.data_dir.display()
        );
    }
    let mcp_url = mcp_url(args.location.port)?;
    let config = as_config(
        &args.location,
        mcp_url,
        Storage::Sqlite(args.location.data_dir.clone()),
    );
    let env_url = format!("http://127.0.0.1:{}", args.location.auth_port);
    let auth = DevAuthServer::new(config, env_url)
        .await
        .context("cannot open the dev authorization server state")?;
    let subject = args
        .subject
        .unwrap_or_else(|| auth.dev_user_id().to_owned());
    let request = TokenRequest::user(subject)
        .with_scopes(args.scopes)
        .with_lifetime(Duration::from_secs(args.lifetime));
    println!("{}", auth.mint_token(request)?);
    Ok(())
}

async fn rotate_keys(args: RotateArgs) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{}/admin/rotate-keys", args.auth_port);
    let response = reqwest::Client::new()
        .post(&url)
        .send()
        .await
        .with_context(|| {
            format!(
                "cannot reach {url}; is `mcpgate dev` running with --auth-port {}?",
                args.auth_port
            )
        })?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{url} answered {status}: {body}");
    }
    println!("{body}");
    Ok(())
}
