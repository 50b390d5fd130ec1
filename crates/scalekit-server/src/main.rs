//! The Scalekit sample server (`server.py` in Scalekit's FastMCP guide), in Rust.
//!
//! Configure with environment variables (or a `.env` file):
//!
//! ```text
//! SCALEKIT_ENVIRONMENT_URL=https://<your-env>.scalekit.com
//! SCALEKIT_RESOURCE_ID=res_...
//! MCP_URL=http://localhost:8000/mcp        # default
//! ```
//!
//! Run with `cargo run --release -p scalekit-server`. It listens on the
//! host, port and path of `MCP_URL`; set `BIND_ADDR` (e.g. `0.0.0.0:8000`) to
//! listen elsewhere, e.g. behind a proxy. `RUST_LOG=mcpgate=debug` shows
//! discovery, key fetches and why tokens are rejected.

use std::io::IsTerminal;
use std::process::ExitCode;

use mcpgate::ScalekitProvider;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: piped logs stay greppable.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let provider = ScalekitProvider::from_env()?;
    let server = scalekit_server::server().auth(provider);
    match std::env::var("BIND_ADDR") {
        Ok(addr) => {
            // A reverse proxy may forward the listening address as `Host`.
            let server = server.allow_host(&addr);
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on BIND_ADDR={addr}: {e}"))?;
            server
                .serve_with_shutdown(listener, mcpgate::auth::http::shutdown_signal())
                .await?;
        }
        Err(_) => server.serve_http_at_mcp_url().await?,
    }
    Ok(())
}
