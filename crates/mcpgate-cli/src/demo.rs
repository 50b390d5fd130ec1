//! The seed's example server (Scalekit's FastMCP sample): three tools that show
//! the caller's authentication. `examples/scalekit_server.rs` is the same
//! server as a standalone program.

use mcpgate::{AccessToken, McpServer};
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

/// "My Scalekit Protected Server" with `auth_status`, `protected_action` and `inspect_token`.
pub(crate) fn server() -> McpServer {
    McpServer::new("My Scalekit Protected Server")
        .tool("auth_status", "Check authentication status", auth_status)
        .tool("protected_action", "A protected action that requires authentication", protected_action)
        .tool("inspect_token", "Return the caller's JWT claims", inspect_token)
}
