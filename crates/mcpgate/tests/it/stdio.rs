//! stdio (here: an in-memory byte pipe with the same framing): no auth, and
//! tools that need a caller say "no token" instead of failing the session.

use mcpgate::{AccessToken, Args, McpServer};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Echo {
    text: String,
}

mcpgate::tool! {
    /// Shouts its argument.
    ///
    /// Upper-cases the text.
    async fn shout(Args(e): Args<Echo>) -> String {
        e.text.to_uppercase()
    }
}

fn server() -> McpServer {
    // No auth choice: stdio needs none (only HTTP refuses to start without one).
    McpServer::new("stdio test")
        .tool(
            "echo",
            "Echoes its argument",
            |Args(e): Args<Echo>| async move { e.text },
        )
        .add_tool(shout())
        .tool(
            "whoami",
            "The caller's subject",
            |t: AccessToken| async move { t.subject().to_owned() },
        )
        .tool(
            "maybe_whoami",
            "Subject or anonymous",
            |t: Option<AccessToken>| async move {
                t.map(|t| t.subject().to_owned())
                    .unwrap_or_else(|| "anonymous".to_owned())
            },
        )
}

fn text(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

#[tokio::test]
async fn stdio_serves_tools_without_auth_and_reports_no_token() {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let (server_read, server_write) = tokio::io::split(server_io);
    let server = tokio::spawn(server().serve_io(server_read, server_write));

    let (client_read, client_write) = tokio::io::split(client_io);
    let client =
        ().serve((client_read, client_write))
            .await
            .expect("client initializes over the pipe");

    let tools = client.list_tools(None).await.unwrap();
    let names: Vec<_> = tools.tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, ["echo", "shout", "whoami", "maybe_whoami"]);
    // tool! takes the description from the doc comment and the schema from Args<T>.
    let shout = tools.tools.iter().find(|t| t.name == "shout").unwrap();
    assert_eq!(
        shout.description.as_deref(),
        Some("Shouts its argument.\n\nUpper-cases the text.")
    );
    assert_eq!(shout.input_schema["required"], serde_json::json!(["text"]));

    let mut args = serde_json::Map::new();
    args.insert("text".into(), "hi".into());
    let echo = client
        .call_tool(CallToolRequestParams::new("echo").with_arguments(args))
        .await
        .unwrap();
    assert_eq!(text(&echo), "hi");
    assert_ne!(echo.is_error, Some(true));

    let whoami = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap();
    assert_eq!(whoami.is_error, Some(true));
    assert!(text(&whoami).starts_with("no token"), "{}", text(&whoami));

    let maybe = client
        .call_tool(CallToolRequestParams::new("maybe_whoami"))
        .await
        .unwrap();
    assert_eq!(text(&maybe), "anonymous");

    // Bad arguments are a tool error the model can read, not a protocol error.
    let bad = client
        .call_tool(CallToolRequestParams::new("echo"))
        .await
        .unwrap();
    assert_eq!(bad.is_error, Some(true));
    assert!(text(&bad).contains("invalid arguments"), "{}", text(&bad));

    client.cancel().await.unwrap();
    server.await.unwrap().unwrap();
}
