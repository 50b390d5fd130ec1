//! "Tokens are never logged", for `mcpgate dev` at `RUST_LOG=trace`: a whole
//! OAuth life (dynamic registration, consent, code exchange with PKCE, refresh
//! rotation, a replayed refresh token, client credentials) plus MCP calls with
//! good and bad tokens, and nothing either process stream carries a credential
//! except the one token the banner prints on purpose.

use anyhow::Context as _;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::auth::{AuthClient, AuthorizationCallback, AuthorizationRequest, OAuthState};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
};

use crate::oauth_flow_rmcp::{REDIRECT_URI, approve_consent, string_field, token_fields};
use crate::support::{
    Dev, assert_no_secret_in, client_credentials, initialize, post_form, register_machine_client,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcpgate_dev_logs_no_credential_at_trace_level() -> anyhow::Result<()> {
    let mut cmd = Dev::command(&["--ephemeral", "--port", "0", "--auth-port", "0"]);
    cmd.env("RUST_LOG", "trace");
    let dev = Dev::spawn(cmd);
    let mcp_url = dev.get("MCP URL").to_owned();
    let env_url = dev.get("Environment URL").to_owned();
    let resource_id = dev.get("Resource ID").to_owned();
    let printed_token = dev.get("Token").to_owned();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()?;

    // The printed token is used too.
    assert_eq!(
        initialize(&mcp_url, Some(&printed_token)).await.status(),
        200
    );

    // Authorization code + PKCE through rmcp's OAuth client, from the 401 on.
    let unauthorized = initialize(&mcp_url, None).await;
    assert_eq!(unauthorized.status(), 401);
    let challenge = unauthorized.headers()["www-authenticate"]
        .to_str()?
        .to_owned();
    let mut oauth = OAuthState::new(mcp_url.as_str(), None).await?;
    oauth
        .start_authorization(
            AuthorizationRequest::new(REDIRECT_URI)
                .with_client_name("mcpgate e2e (rmcp)")
                .with_scopes(["openid", "mcp:tools"])
                .with_challenge(challenge),
        )
        .await?;
    let authorization_url = oauth.get_authorization_url().await?;
    let callback_url = approve_consent(&browser, &authorization_url).await?;
    let code = AuthorizationCallback::from_redirect_url(&callback_url)?.code;
    oauth.handle_callback_url(&callback_url).await?;
    let (client_id, tokens) = oauth.get_credentials().await?;
    let first = token_fields(&tokens.context("no tokens after the code exchange")?)?;
    let first_access = string_field(&first, "access_token")?;
    let first_refresh = string_field(&first, "refresh_token")?;
    let manager = oauth
        .into_authorization_manager()
        .context("not authorized after the callback")?;
    let refreshed = token_fields(&manager.refresh_token().await?)?;
    let access = string_field(&refreshed, "access_token")?;
    let refresh = string_field(&refreshed, "refresh_token")?;
    assert_ne!(refresh, first_refresh, "the refresh token was not rotated");

    // MCP calls with the refreshed token, through rmcp's authorized transport.
    let transport = StreamableHttpClientTransport::with_client(
        AuthClient::new(reqwest::Client::new(), manager),
        StreamableHttpClientTransportConfig::with_uri(mcp_url.as_str()),
    );
    let client = ().serve(transport).await?;
    assert_eq!(client.list_all_tools().await?.len(), 3);
    for tool in ["auth_status", "inspect_token", "protected_action"] {
        let result = client.call_tool(CallToolRequestParams::new(tool)).await?;
        assert_ne!(result.is_error, Some(true), "{tool}: {result:?}");
    }
    client.cancel().await?;

    // The rotated-away refresh token, replayed: refused, and its family revoked.
    let (status, body) = post_form(
        &format!("{env_url}/oauth/token"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first_refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // Client credentials, then an MCP request with that token.
    let machine = register_machine_client(&env_url, &resource_id, None).await;
    let issued = client_credentials(&env_url, &machine, None).await;
    let machine_token = issued["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        initialize(&mcp_url, Some(&machine_token)).await.status(),
        200
    );

    // A real token under another real token's signature: refused.
    let mut parts: Vec<&str> = first_access.split('.').collect();
    parts[2] = machine_token.split('.').nth(2).unwrap();
    let forged = parts.join(".");
    assert_eq!(initialize(&mcp_url, Some(&forged)).await.status(), 401);

    let (stdout, stderr) = dev.stop();

    // The banner prints one token on purpose, on its `Token: ` line; that one
    // line is left out of the check, and nothing else. (The `curl` line it
    // prints names `$TOKEN`, not the token, so it needs no exception.)
    let token_line = format!("Token: {printed_token}");
    assert_eq!(
        stdout.lines().filter(|l| *l == token_line).count(),
        1,
        "{stdout}"
    );
    let stdout_rest: String = stdout
        .lines()
        .filter(|l| *l != token_line)
        .map(|l| format!("{l}\n"))
        .collect();
    // Not vacuous: trace logging was on and saw the requests.
    assert!(
        stderr.contains(" TRACE ") && stderr.contains("token accepted"),
        "{stderr}"
    );

    let secrets = [
        ("the printed token", printed_token.as_str()),
        ("the authorization code", code.as_str()),
        ("the first access token", first_access.as_str()),
        ("the first refresh token", first_refresh.as_str()),
        ("the refreshed access token", access.as_str()),
        ("the rotated refresh token", refresh.as_str()),
        ("the client secret", machine.1.as_str()),
        ("the client-credentials token", machine_token.as_str()),
        ("the forged token", forged.as_str()),
    ];
    assert_no_secret_in(&stdout_rest, &secrets);
    assert_no_secret_in(&stderr, &secrets);
    Ok(())
}
