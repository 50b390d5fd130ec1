//! The `mcpgate` command: a thin shell over the `mcpgate` and `mcpgate-dev-as`
//! libraries. Each subcommand lives in `cmd/`; this file parses flags, sets up
//! logging, runs one command and turns its error into an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// Fast, secure OAuth-protected MCP servers.
#[derive(Debug, Parser)]
#[command(name = "mcpgate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a local Scalekit-compatible authorization server and a protected
    /// example MCP server, with no account and no network.
    Dev(cmd::dev::DevArgs),
    /// Put OAuth in front of any MCP server: a stdio command (`-- COMMAND
    /// [ARGS...]`) or a Streamable HTTP server (`--upstream URL`). Auth comes
    /// from SCALEKIT_ENVIRONMENT_URL, SCALEKIT_RESOURCE_ID and MCP_URL (or
    /// ./.env), as for the seed example.
    Proxy(cmd::proxy::ProxyArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                "warn,mcpgate=info,mcpgate_dev_as=info,mcpgate_gateway=info".into()
            }),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, not for log files or pipes.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Dev(args) => cmd::dev::run(args).await,
            Command::Proxy(args) => cmd::proxy::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
