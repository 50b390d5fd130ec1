//! End to end with rmcp's own Streamable HTTP client: the bearer token goes in
//! the transport config, and the tools see the verified claims.

use rmcp::model::{
    CallToolRequestParams, CallToolResult, GetPromptRequestParams, ReadResourceRequestParams,
};
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};

use crate::support::*;

/// The error of a connection attempt that must fail.
async fn refusal(server: &TestServer, token: Option<&str>) -> String {
    match connect(&server.mcp_url, token).await {
        Ok(_) => panic!("the client connected"),
        Err(error) => error,
    }
}

async fn call(client: &RunningService<RoleClient, ()>, name: &'static str) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(name))
        .await
        .expect("tools/call")
}

#[tokio::test]
async fn rmcp_client_lists_and_calls_tools_with_a_bearer_token() {
    let server = TestServer::start().await;
    let claims = server.claims();
    let client = connect(&server.mcp_url, Some(&server.mint(&claims)))
        .await
        .expect("connected");

    let info = client.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("My Scalekit Protected Server")
    );

    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["auth_status", "inspect_token", "protected_action"]);

    let inspected = call(&client, "inspect_token").await;
    assert_ne!(inspected.is_error, Some(true));
    let seen: Value = inspected
        .structured_content
        .clone()
        .expect("structured claims");
    assert_eq!(seen["sub"], claims["sub"]);
    assert_eq!(seen["client_id"], claims["client_id"]);
    assert_eq!(seen["aud"], claims["aud"]);
    assert_eq!(seen, claims, "the tool sees exactly the minted claims");

    let status = call(&client, "auth_status").await;
    assert_eq!(
        status.structured_content,
        Some(json!({
            "message": format!("Authenticated as {}", claims["sub"].as_str().unwrap()),
            "authenticated": true,
            "provider": "Scalekit",
        }))
    );

    let action = call(&client, "protected_action").await;
    assert_ne!(action.is_error, Some(true));
    assert_eq!(text_of(&action), "Access granted via Scalekit!");

    client.cancel().await.unwrap();
}

#[tokio::test]
async fn rmcp_machine_client_sees_its_scopes_array() {
    let server =
        TestServer::start_with(StandIn::start().await, |p| p.required_scopes(["todo:read"])).await;
    let claims = server
        .idp
        .machine_claims(&server.mcp_url, &["todo:read", "todo:write"]);
    let client = connect(&server.mcp_url, Some(&server.mint(&claims)))
        .await
        .expect("connected");
    let seen = call(&client, "inspect_token")
        .await
        .structured_content
        .unwrap();
    assert_eq!(seen["scopes"], json!(["todo:read", "todo:write"]));
    assert_eq!(seen["iss"], server.idp.resource_issuer());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn rmcp_client_reads_the_resource_and_gets_the_prompt_as_the_caller() {
    let server = TestServer::start().await;
    let claims = with(server.claims(), "scope", json!("openid todo:read"));
    let client = connect(&server.mcp_url, Some(&server.mint(&claims)))
        .await
        .expect("connected");
    let sub = claims["sub"].as_str().unwrap();

    let read = client
        .read_resource(ReadResourceRequestParams::new("auth://whoami"))
        .await
        .expect("resources/read");
    let read = serde_json::to_value(read).unwrap();
    let contents = &read["contents"][0];
    assert_eq!(contents["uri"], "auth://whoami", "{read}");
    assert_eq!(contents["mimeType"], "application/json", "{read}");
    let whoami: Value = serde_json::from_str(contents["text"].as_str().unwrap()).unwrap();
    assert_eq!(whoami["subject"], sub);
    assert_eq!(whoami["client_id"], claims["client_id"]);
    assert_eq!(whoami["expires_at"], claims["exp"]);

    let mut arguments = serde_json::Map::new();
    arguments.insert("audience".into(), json!("a security reviewer"));
    let prompt = client
        .get_prompt(GetPromptRequestParams::new("summarize_access").with_arguments(arguments))
        .await
        .expect("prompts/get");
    let prompt = serde_json::to_value(prompt).unwrap();
    assert_eq!(
        prompt["messages"][0]["content"]["text"],
        format!(
            "Explain to a security reviewer what user {sub} may do through this MCP server with scopes: openid todo:read."
        ),
        "{prompt}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn rmcp_client_without_a_token_cannot_connect() {
    let server = TestServer::start().await;
    let error = refusal(&server, None).await;
    // rmcp reports a 401 as `AuthRequired` carrying the challenge it received:
    // a bare one (no error code) that points at the metadata.
    assert!(error.contains("AuthRequired"), "{error}");
    assert!(
        error.contains(&format!(
            "resource_metadata=\\\"{}\\\"",
            server.metadata_url()
        )),
        "{error}"
    );
    assert!(!error.contains("invalid_token"), "{error}");
}

#[tokio::test]
async fn rmcp_client_with_an_expired_token_cannot_connect() {
    let server = TestServer::start().await;
    let expired = server.mint(&with(server.claims(), "exp", json!(now() - 3600)));
    let error = refusal(&server, Some(&expired)).await;
    assert!(error.contains("AuthRequired"), "{error}");
    assert!(error.contains("error=\\\"invalid_token\\\""), "{error}");
    assert!(error.contains("token expired"), "{error}");
}

#[tokio::test]
async fn rmcp_client_lacking_a_scope_is_told_insufficient_scope() {
    let server = TestServer::start_with(StandIn::start().await, |p| {
        p.required_scopes(["todo:write"])
    })
    .await;
    let token = server.mint(&with(server.claims(), "scope", json!("todo:read")));
    let error = refusal(&server, Some(&token)).await;
    assert!(error.contains("InsufficientScope"), "{error}");
    assert!(error.contains("insufficient_scope"), "{error}");
}
