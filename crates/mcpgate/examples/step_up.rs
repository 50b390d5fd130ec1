//! Step-up authorization, end to end and offline: the dev authorization
//! server (the one `mcpgate dev` runs) next to a "Todos" MCP server whose
//! `add_todo` tool needs the `todo:write` scope.
//!
//! A client holding only `openid mcp:tools` can list and call `list_todos`;
//! calling `add_todo` is answered `403` with `WWW-Authenticate: Bearer
//! error="insufficient_scope", scope="openid mcp:tools todo:write", …`, so
//! the client re-authorizes for that union and retries. The consent page lets
//! the user grant a subset of the requested scopes, which is how a client
//! ends up without `todo:write` in the first place.
//!
//! ```sh
//! cargo run -p mcpgate --example step_up
//! ```
//!
//! It prints `MCP URL:`, `Environment URL:`, `Resource ID:` and a `Token:`
//! (scopes `openid mcp:tools`) like `mcpgate dev`, and serves until Ctrl-C.
//! `e2e/tests/step-up.test.mjs` drives it with the official TypeScript SDK and
//! Chromium.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::Context as _;
use mcpgate::{AccessToken, McpServer, ScalekitProvider, ToolDef};
use mcpgate_dev_as::{DevAuthServer, DevAuthServerConfig, Storage, TokenRequest, Url};
use tokio::net::TcpListener;

/// What the authorization server offers and the resource advertises. No
/// `offline_access`: a refresh cannot widen scopes, so a client holding a
/// refresh token would refresh instead of re-authorizing (see the e2e test).
const SCOPES: [&str; 3] = ["openid", "mcp:tools", "todo:write"];

fn todo_server() -> McpServer {
    McpServer::new("Todos")
        .tool("list_todos", "Lists the todos", || async {
            "1. try step-up"
        })
        .add_tool(
            ToolDef::new(
                "add_todo",
                "Adds a todo (needs todo:write)",
                |token: AccessToken| async move {
                    format!("added, with scopes: {}", token.scopes())
                },
            )
            .requires_scopes(["todo:write"]),
        )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mcp_listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let auth_listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
    let mcp_url = Url::parse(&format!(
        "http://127.0.0.1:{}/mcp",
        mcp_listener.local_addr()?.port()
    ))?;
    let auth = DevAuthServer::start(
        auth_listener,
        DevAuthServerConfig::new(mcp_url.clone())
            .with_storage(Storage::Memory)
            .with_scopes(SCOPES),
    )
    .await
    .context("cannot start the dev authorization server")?;
    let provider = ScalekitProvider::new(auth.env_url(), auth.resource_id(), mcp_url.as_str())
        .scopes_supported(SCOPES)
        .resource_name("Todos (step-up example)");
    let token = auth
        .mint_token(TokenRequest::user(auth.dev_user_id()).with_scopes(["openid", "mcp:tools"]))
        .context("cannot mint the sample token")?;

    println!("MCP URL: {mcp_url}");
    println!("Environment URL: {}", auth.env_url());
    println!("Resource ID: {}", auth.resource_id());
    println!("Token: {token}");

    todo_server()
        .auth(provider)
        .serve_with_shutdown(mcp_listener, mcpgate::auth::http::shutdown_signal())
        .await?;
    Ok(())
}
