//! README quick start: a protected server with a tool, a resource and a prompt.
//! Reads SCALEKIT_ENVIRONMENT_URL, SCALEKIT_RESOURCE_ID and MCP_URL (or a `.env`).
use mcpgate::{AccessToken, Args, McpServer, model::Resource};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct AddArgs {
    /// First addend.
    a: i64,
    /// Second addend.
    b: i64,
}

#[tokio::main]
async fn main() -> Result<(), mcpgate::ServeError> {
    McpServer::new("Quick start")
        .auth_from_env() // SCALEKIT_* / MCP_URL, or FASTMCP_SERVER_AUTH_*
        .tool(
            "add",
            "Adds two integers",
            |Args(x): Args<AddArgs>| async move { (x.a + x.b).to_string() },
        )
        .tool(
            "whoami",
            "The caller's subject",
            |t: AccessToken| async move { t.subject().to_owned() },
        )
        .resource(
            Resource::new("docs://motd", "Message of the day"),
            || async { "Hello!" },
        )
        .prompt("greet", "Greet the caller", |t: AccessToken| async move {
            format!("Write a friendly greeting for {}.", t.subject())
        })
        .serve_http_at_mcp_url()
        .await
}
