//! Configuration as a user meets it: a real `.env` file in the working
//! directory, a process environment that wins over it, and FastMCP's names.
//! Every run starts from a cleared environment (only `PATH`), so nothing
//! reaches the binary except what each test writes.

use std::net::SocketAddr;

use mcpgate_dev_as::TokenRequest;
use reqwest::StatusCode;

use crate::support::{
    Mcp, Running, TempDir, auth_status_message, command, dev_auth_server, free_port,
    initialize_request,
};

async fn started(cwd: &TempDir, vars: &[(&str, &str)], port: u16) -> Running {
    let mut server = Running::spawn(command(cwd.path(), vars));
    server
        .wait_accepting(SocketAddr::from(([127, 0, 0, 1], port)))
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dotenv_file_in_the_working_directory_configures_the_binary() {
    let port = free_port();
    // Not the default path: the binary serves the path of MCP_URL.
    let mcp_url = format!("http://127.0.0.1:{port}/team/mcp");
    let auth = dev_auth_server(&mcp_url).await;
    let cwd = TempDir::new();
    cwd.write_dotenv(&[
        ("SCALEKIT_ENVIRONMENT_URL", auth.env_url()),
        ("SCALEKIT_RESOURCE_ID", auth.resource_id()),
        ("MCP_URL", &mcp_url),
    ]);
    // Nothing but PATH in the process environment: all comes from `.env`.
    let server = started(&cwd, &[], port).await;

    let mcp = Mcp::new(&mcp_url);
    let prm = mcp
        .get_json(&format!(
            "http://127.0.0.1:{port}/.well-known/oauth-protected-resource/team/mcp"
        ))
        .await;
    assert_eq!(prm["resource"], mcp_url.as_str(), "{prm}");
    let token = auth
        .mint_token(TokenRequest::user("usr_dotenv").with_scopes(["mcp:tools"]))
        .unwrap();
    let (session, _) = mcp.open_session(&token).await;
    let status = mcp.call_tool(&token, &session, "auth_status").await;
    assert_eq!(auth_status_message(&status), "Authenticated as usr_dotenv");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_variable_wins_over_the_dotenv_file() {
    let port = free_port();
    let mcp_url = format!("http://127.0.0.1:{port}/mcp");
    let auth = dev_auth_server(&mcp_url).await;
    let cwd = TempDir::new();
    cwd.write_dotenv(&[
        ("SCALEKIT_ENVIRONMENT_URL", auth.env_url()),
        ("SCALEKIT_RESOURCE_ID", "res_from_the_dotenv_file"),
        ("MCP_URL", &mcp_url),
    ]);
    let token = auth
        .mint_token(TokenRequest::user("usr_override").with_scopes(["mcp:tools"]))
        .unwrap();
    let mcp = Mcp::new(&mcp_url);

    // Control: with only `.env`, its (wrong) resource id is used, and the
    // token (issued for the real resource) is refused.
    let server = started(&cwd, &[], port).await;
    let answer = mcp.post(Some(&token), None, &initialize_request()).await;
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "the .env resource id was not used"
    );
    assert!(
        answer
            .www_authenticate()
            .contains(r#"error="invalid_token""#),
        "{}",
        answer.www_authenticate()
    );
    drop(server);

    // The process variable overrides the file: the same token is accepted.
    // (A new client: the old one's pooled connection went with the old process.)
    let mcp = Mcp::new(&mcp_url);
    let server = started(&cwd, &[("SCALEKIT_RESOURCE_ID", auth.resource_id())], port).await;
    let (session, _) = mcp.open_session(&token).await;
    let status = mcp.call_tool(&token, &session, "auth_status").await;
    assert_eq!(
        auth_status_message(&status),
        "Authenticated as usr_override"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fastmcp_variable_names_in_dotenv_configure_the_binary() {
    let port = free_port();
    let base_url = format!("http://127.0.0.1:{port}");
    // `_BASE_URL` is FastMCP's: the endpoint is base + `/mcp`.
    let mcp_url = format!("{base_url}/mcp");
    let auth = dev_auth_server(&mcp_url).await;
    let cwd = TempDir::new();
    cwd.write_dotenv(&[
        (
            "FASTMCP_SERVER_AUTH",
            "fastmcp.server.auth.providers.scalekit.ScalekitProvider",
        ),
        (
            "FASTMCP_SERVER_AUTH_SCALEKITPROVIDER_ENVIRONMENT_URL",
            auth.env_url(),
        ),
        (
            "FASTMCP_SERVER_AUTH_SCALEKITPROVIDER_RESOURCE_ID",
            auth.resource_id(),
        ),
        ("FASTMCP_SERVER_AUTH_SCALEKITPROVIDER_BASE_URL", &base_url),
        (
            "FASTMCP_SERVER_AUTH_SCALEKITPROVIDER_REQUIRED_SCOPES",
            "mcp:tools",
        ),
    ]);
    let server = started(&cwd, &[], port).await;
    let mcp = Mcp::new(&mcp_url);

    let prm = mcp
        .get_json(&format!(
            "{base_url}/.well-known/oauth-protected-resource/mcp"
        ))
        .await;
    assert_eq!(prm["resource"], mcp_url.as_str(), "{prm}");

    // `_REQUIRED_SCOPES` is in force: named in the challenge, enforced with 403.
    let answer = mcp.post(None, None, &initialize_request()).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(
        answer.www_authenticate().contains(r#"scope="mcp:tools""#),
        "{}",
        answer.www_authenticate()
    );
    let unscoped = auth
        .mint_token(TokenRequest::user("usr_fastmcp").with_scopes(["openid"]))
        .unwrap();
    let answer = mcp.post(Some(&unscoped), None, &initialize_request()).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        answer
            .www_authenticate()
            .contains(r#"error="insufficient_scope""#),
        "{}",
        answer.www_authenticate()
    );

    let token = auth
        .mint_token(TokenRequest::user("usr_fastmcp").with_scopes(["mcp:tools"]))
        .unwrap();
    let (session, _) = mcp.open_session(&token).await;
    let status = mcp.call_tool(&token, &session, "auth_status").await;
    assert_eq!(auth_status_message(&status), "Authenticated as usr_fastmcp");
    drop(server);
}
