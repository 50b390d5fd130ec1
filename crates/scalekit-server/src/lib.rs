//! The seed's sample server (Scalekit's FastMCP `server.py`): three tools that
//! show the caller's authentication, plus a resource and a prompt so that
//! every kind of MCP component can be tried. This is the one definition: the
//! `scalekit_server` binary (`src/main.rs`) serves it with auth from the
//! environment, `mcpgate dev` serves it behind the dev authorization server,
//! and the tests run both.

use mcpgate::model::Resource;
use mcpgate::{AccessToken, Args, McpServer};
use serde_json::{Value, json};

async fn auth_status(token: AccessToken) -> Value {
    json!({
        "message": format!("Authenticated as {}", token.subject()),
        "authenticated": true,
        "provider": "Scalekit",
    })
}

async fn protected_action(_token: AccessToken) -> &'static str {
    "Access granted via Scalekit!"
}

async fn inspect_token(token: AccessToken) -> Value {
    Value::Object(token.claims().clone())
}

/// Arguments of the `summarize_access` prompt.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct SummarizeArgs {
    /// Who the summary is for (e.g. "a security reviewer").
    audience: String,
}

async fn whoami(token: AccessToken) -> Value {
    json!({
        "subject": token.subject(),
        "client_id": token.client_id(),
        "scopes": token.scopes(),
        "expires_at": token.expires_at_unix(),
    })
}

async fn summarize_access(token: AccessToken, Args(args): Args<SummarizeArgs>) -> String {
    format!(
        "Explain to {} what user {} may do through this MCP server with scopes: {}.",
        args.audience,
        token.subject(),
        token.scopes()
    )
}

/// "My Scalekit Protected Server", without auth (add it with `.auth(..)`), with `auth_status`, `protected_action` and `inspect_token`.
pub fn server() -> McpServer {
    McpServer::new("My Scalekit Protected Server")
        .tool("auth_status", "Check authentication status", auth_status)
        .tool(
            "protected_action",
            "A protected action that requires authentication",
            protected_action,
        )
        .tool(
            "inspect_token",
            "Return the caller's JWT claims",
            inspect_token,
        )
        .resource(
            Resource::new("auth://whoami", "Current caller")
                .with_description("The authenticated caller: subject, client and scopes")
                .with_mime_type("application/json"),
            whoami,
        )
        .prompt(
            "summarize_access",
            "Ask the model to explain the caller's access",
            summarize_access,
        )
}
