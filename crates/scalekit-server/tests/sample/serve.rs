//! The README's "Scalekit example" section, run as written: the environment
//! names the (dev) Scalekit environment, the resource and the MCP URL, and the
//! binary serves the sample's tools to a token from that environment.

use std::net::SocketAddr;

use mcpgate_dev_as::TokenRequest;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{
    Mcp, Running, TempDir, auth_status_message, command, dev_auth_server, free_port,
    initialize_request, text_of,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_the_sample_to_a_token_from_the_configured_environment() {
    let port = free_port();
    let mcp_url = format!("http://127.0.0.1:{port}/mcp");
    let auth = dev_auth_server(&mcp_url).await;
    let cwd = TempDir::new();
    let mut server = Running::spawn(command(
        cwd.path(),
        &[
            ("SCALEKIT_ENVIRONMENT_URL", auth.env_url()),
            ("SCALEKIT_RESOURCE_ID", auth.resource_id()),
            ("MCP_URL", &mcp_url),
        ],
    ));
    server
        .wait_accepting(SocketAddr::from(([127, 0, 0, 1], port)))
        .await;
    let mcp = Mcp::new(&mcp_url);

    // No token: 401 pointing at the protected resource metadata, which names
    // the configured environment's resource issuer.
    let prm_url = format!("http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp");
    let answer = mcp.post(None, None, &initialize_request()).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let challenge = answer.www_authenticate();
    assert!(challenge.contains("resource_metadata="), "{challenge}");
    assert_eq!(
        challenge,
        format!(r#"Bearer resource_metadata="{prm_url}""#)
    );
    let prm = mcp.get_json(&prm_url).await;
    assert_eq!(prm["resource"], json!(mcp_url), "{prm}");
    assert_eq!(
        prm["authorization_servers"],
        json!([auth.resource_issuer()]),
        "{prm}"
    );

    // A token minted by that environment: the sample's three tools, and
    // `auth_status` names the token's subject.
    let token = auth
        .mint_token(TokenRequest::user("usr_readme_42").with_scopes(["mcp:tools"]))
        .unwrap();
    let (session, init) = mcp.open_session(&token).await;
    assert_eq!(
        init["serverInfo"]["name"],
        json!("My Scalekit Protected Server"),
        "{init}"
    );
    assert_eq!(
        mcp.tool_names(&token, &session).await,
        ["auth_status", "inspect_token", "protected_action"]
    );
    let status = mcp.call_tool(&token, &session, "auth_status").await;
    assert_eq!(
        auth_status_message(&status),
        "Authenticated as usr_readme_42"
    );
    let action = mcp.call_tool(&token, &session, "protected_action").await;
    assert_eq!(text_of(&action), "Access granted via Scalekit!");

    // A token the environment did not sign is refused.
    let foreign = dev_auth_server(&mcp_url)
        .await
        .mint_token(TokenRequest::new())
        .unwrap();
    let answer = mcp.post(Some(&foreign), None, &initialize_request()).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(
        answer
            .www_authenticate()
            .contains(r#"error="invalid_token""#),
        "{}",
        answer.www_authenticate()
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_addr_overrides_where_it_listens_while_mcp_url_stays_the_public_identity() {
    // Behind a proxy: the public URL names one port, the process listens on another.
    let public_port = free_port();
    let bind_port = free_port();
    let public_authority = format!("127.0.0.1:{public_port}");
    let mcp_url = format!("http://{public_authority}/mcp");
    let auth = dev_auth_server(&mcp_url).await;
    let cwd = TempDir::new();
    let bind_addr = format!("127.0.0.1:{bind_port}");
    let mut server = Running::spawn(command(
        cwd.path(),
        &[
            ("SCALEKIT_ENVIRONMENT_URL", auth.env_url()),
            ("SCALEKIT_RESOURCE_ID", auth.resource_id()),
            ("MCP_URL", &mcp_url),
            ("BIND_ADDR", &bind_addr),
        ],
    ));
    server.wait_accepting(bind_addr.parse().unwrap()).await;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", public_port)).is_err(),
        "it listens on MCP_URL's port too, not only on BIND_ADDR"
    );

    // A proxy that preserves `Host` forwards the public authority to BIND_ADDR.
    let mcp = Mcp::new(&format!("http://{bind_addr}/mcp")).with_host(&public_authority);
    let answer = mcp.post(None, None, &initialize_request()).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.www_authenticate(),
        format!(
            r#"Bearer resource_metadata="http://{public_authority}/.well-known/oauth-protected-resource/mcp""#
        ),
        "the challenge names the public URL, not the listening address"
    );
    let prm = mcp
        .get_json(&format!(
            "http://{bind_addr}/.well-known/oauth-protected-resource/mcp"
        ))
        .await;
    assert_eq!(prm["resource"], json!(mcp_url), "{prm}");

    let token = auth
        .mint_token(TokenRequest::user("usr_behind_proxy").with_scopes(["mcp:tools"]))
        .unwrap();
    let (session, _) = mcp.open_session(&token).await;
    let status = mcp.call_tool(&token, &session, "auth_status").await;
    assert_eq!(
        auth_status_message(&status),
        "Authenticated as usr_behind_proxy"
    );
    drop(server);
}
