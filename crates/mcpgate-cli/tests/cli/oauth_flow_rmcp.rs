//! rmcp's own OAuth client — the official Rust MCP SDK, code nobody here wrote —
//! against the dev authorization server and an mcpgate server, both in-process.
//!
//! The client starts from nothing but the MCP URL and the server's 401: it
//! discovers the protected resource and authorization server metadata, registers
//! itself dynamically, builds the PKCE authorization URL; the test answers the
//! consent page over HTTP as a browser would submit the form; rmcp exchanges the
//! code (checking `state` and the RFC 9207 `iss`), refreshes once, and its
//! authorized Streamable HTTP transport calls `inspect_token`.

use std::collections::HashMap;

use anyhow::{Context, anyhow, bail, ensure};
use base64::Engine as _;
use mcpgate::{AccessToken, McpServer, ScalekitProvider};
use mcpgate_dev_as::{
    DEFAULT_SCOPES, DevAuthServer, DevAuthServerConfig, DevAuthServerHandle, Storage, Url,
};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::auth::{
    AuthClient, AuthorizationCallback, AuthorizationRequest, OAuthState, OAuthTokenResponse,
};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Where the authorization server sends the browser back. Nothing listens
/// there: the test reads the redirect's `Location` instead of following it.
pub(crate) const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

async fn inspect_token(token: AccessToken) -> Value {
    Value::Object(token.claims().clone())
}

/// The dev authorization server and a protected MCP server, on loopback ports.
struct DevServers {
    mcp_url: String,
    auth: DevAuthServerHandle,
    stop_mcp: oneshot::Sender<()>,
    mcp_task: JoinHandle<Result<(), mcpgate::ServeError>>,
}

impl DevServers {
    async fn start() -> anyhow::Result<Self> {
        let mcp_listener = TcpListener::bind("127.0.0.1:0").await?;
        let auth_listener = TcpListener::bind("127.0.0.1:0").await?;
        let mcp_url = format!("http://{}/mcp", mcp_listener.local_addr()?);
        let config = DevAuthServerConfig::new(Url::parse(&mcp_url)?).with_storage(Storage::Memory);
        let auth = DevAuthServer::start(auth_listener, config).await?;
        // As `mcpgate dev` does: the ordinary Scalekit provider, pointed at the local environment.
        let provider = ScalekitProvider::new(auth.env_url(), auth.resource_id(), mcp_url.as_str())
            .scopes_supported(DEFAULT_SCOPES.iter().copied());
        let app = McpServer::new("rmcp oauth e2e")
            .auth(provider)
            .tool(
                "inspect_token",
                "Return the caller's JWT claims",
                inspect_token,
            )
            .into_http(None)?;
        let (stop_mcp, stopped) = oneshot::channel::<()>();
        let mcp_task = tokio::spawn(app.serve(mcp_listener, async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            mcp_url,
            auth,
            stop_mcp,
            mcp_task,
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop_mcp.send(());
        self.mcp_task.await??;
        self.auth.shutdown().await?;
        Ok(())
    }
}

/// HTML-unescapes what the consent page escapes.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of `name="…"` in one tag's text (double-quoted, as the page writes them).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(unescape(&tag[start..start + len]))
}

/// Every `<{element} …>` tag in `html`, attributes included.
fn tags<'a>(html: &'a str, element: &str) -> Vec<&'a str> {
    let open = format!("<{element} ");
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find(&open) {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        found.push(&rest[start..start + len + 1]);
        rest = &rest[start + len + 1..];
    }
    found
}

/// The consent form: where it posts, and the fields a browser would send with
/// the button whose value is `decision`.
struct ConsentForm {
    action: Url,
    fields: Vec<(String, String)>,
}

fn parse_consent_form(page_url: &Url, html: &str, decision: &str) -> anyhow::Result<ConsentForm> {
    let form = *tags(html, "form")
        .first()
        .context("the consent page has no <form>")?;
    ensure!(
        attribute(form, "method").as_deref() == Some("post"),
        "the consent form does not POST: {form}"
    );
    let action =
        page_url.join(&attribute(form, "action").context("the consent form has no action")?)?;
    let mut fields: Vec<(String, String)> = tags(html, "input")
        .into_iter()
        .filter_map(|input| {
            Some((
                attribute(input, "name")?,
                attribute(input, "value").unwrap_or_default(),
            ))
        })
        .collect();
    ensure!(
        fields.iter().any(|(name, _)| name == "csrf_token"),
        "the consent form carries no csrf_token: {html}"
    );
    let button = tags(html, "button")
        .into_iter()
        .find(|b| attribute(b, "value").as_deref() == Some(decision))
        .with_context(|| format!("no {decision} button on the consent page"))?;
    fields.push((
        attribute(button, "name").context("the decision button has no name")?,
        decision.to_owned(),
    ));
    Ok(ConsentForm { action, fields })
}

/// Plays the user: opens the authorization URL, submits the consent form with
/// Approve, and returns the redirect URL the server answers with.
pub(crate) async fn approve_consent(
    http: &reqwest::Client,
    authorization_url: &str,
) -> anyhow::Result<String> {
    let page_url = Url::parse(authorization_url)?;
    let page = http.get(page_url.clone()).send().await?;
    let status = page.status();
    let html = page.text().await?;
    ensure!(
        status == reqwest::StatusCode::OK,
        "the consent page answered {status}: {html}"
    );
    ensure!(
        html.contains("mcpgate e2e (rmcp)"),
        "the consent page does not name the client"
    );

    let form = parse_consent_form(&page_url, &html, "approve")?;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form.fields)
        .finish();
    let origin = form.action.origin().ascii_serialization();
    let decision = http
        .post(form.action.clone())
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ORIGIN, origin)
        .body(body)
        .send()
        .await?;
    let status = decision.status();
    let location = decision
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|l| l.to_str().map(str::to_owned));
    match location {
        Some(Ok(location)) if status.is_redirection() => Ok(location),
        _ => bail!(
            "the consent decision answered {status} without a redirect: {}",
            decision.text().await?
        ),
    }
}

pub(crate) fn token_fields(token: &OAuthTokenResponse) -> anyhow::Result<HashMap<String, Value>> {
    match serde_json::to_value(token)? {
        Value::Object(map) => Ok(map.into_iter().collect()),
        other => Err(anyhow!("token response is not an object: {other}")),
    }
}

pub(crate) fn string_field(fields: &HashMap<String, Value>, name: &str) -> anyhow::Result<String> {
    fields
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("token response has no {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_oauth_client_completes_the_flow_against_the_dev_server() -> anyhow::Result<()> {
    let servers = DevServers::start().await?;
    let mcp_url = servers.mcp_url.clone();
    let env_url = servers.auth.env_url().to_owned();
    let resource_id = servers.auth.resource_id().to_owned();
    let resource_issuer = servers.auth.resource_issuer();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;

    // 1. Without a token the MCP server answers 401 and points at its metadata.
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}
    });
    let unauthorized = browser
        .post(&mcp_url)
        .header(
            reqwest::header::ACCEPT,
            "application/json, text/event-stream",
        )
        .json(&initialize)
        .send()
        .await?;
    ensure!(
        unauthorized.status() == reqwest::StatusCode::UNAUTHORIZED,
        "expected 401, got {}",
        unauthorized.status()
    );
    let challenge = unauthorized
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .context("401 without WWW-Authenticate")?
        .to_str()?
        .to_owned();
    ensure!(
        challenge.contains("resource_metadata="),
        "challenge names no resource metadata: {challenge}"
    );

    // 2. rmcp discovers the authorization server, registers, builds the PKCE URL.
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
    let (client_id, no_tokens_yet) = oauth.get_credentials().await?;
    assert!(no_tokens_yet.is_none());
    assert!(
        client_id.starts_with("m2m_"),
        "dynamic registration gave client id {client_id}"
    );

    let parsed = Url::parse(&authorization_url)?;
    assert_eq!(
        format!("{}{}", parsed.origin().ascii_serialization(), parsed.path()),
        format!("{env_url}/oauth/authorize")
    );
    let query: HashMap<String, String> = parsed.query_pairs().into_owned().collect();
    assert_eq!(query.get("client_id"), Some(&client_id));
    assert_eq!(query.get("response_type").map(String::as_str), Some("code"));
    assert_eq!(
        query.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    assert_eq!(
        query.get("redirect_uri").map(String::as_str),
        Some(REDIRECT_URI)
    );
    assert_eq!(
        query.get("resource"),
        Some(&mcp_url),
        "RFC 8707 resource must be the MCP URL"
    );
    let requested: Vec<&str> = query
        .get("scope")
        .map(|s| s.split(' ').collect())
        .unwrap_or_default();
    for scope in ["openid", "mcp:tools", "offline_access"] {
        // rmcp adds offline_access itself when the server offers it.
        assert!(
            requested.contains(&scope),
            "scope {scope} not requested: {requested:?}"
        );
    }

    // 3. The user approves; the redirect carries code, state and iss.
    let callback_url = approve_consent(&browser, &authorization_url).await?;
    let callback = AuthorizationCallback::from_redirect_url(&callback_url)?;
    assert_eq!(
        Some(&callback.csrf_token),
        query.get("state"),
        "state must come back unchanged"
    );
    assert_eq!(
        callback.issuer.as_deref(),
        Some(resource_issuer.as_str()),
        "RFC 9207 iss"
    );
    assert!(
        callback_url.starts_with(&format!("{REDIRECT_URI}?")),
        "redirected to {callback_url}"
    );

    // 4. rmcp checks state and iss and redeems the code with its PKCE verifier.
    oauth.handle_callback_url(&callback_url).await?;
    let (_, tokens) = oauth.get_credentials().await?;
    let first = token_fields(&tokens.context("no tokens after the code exchange")?)?;
    let first_access = string_field(&first, "access_token")?;
    let first_refresh = string_field(&first, "refresh_token")?;
    let manager = oauth
        .into_authorization_manager()
        .context("OAuthState is not authorized after the callback")?;

    // 5. A refresh through rmcp rotates the refresh token.
    let refreshed = token_fields(&manager.refresh_token().await?)?;
    let access = string_field(&refreshed, "access_token")?;
    assert_ne!(
        access, first_access,
        "refresh returned the same access token"
    );
    assert_ne!(
        string_field(&refreshed, "refresh_token")?,
        first_refresh,
        "the refresh token was not rotated"
    );
    assert_eq!(
        manager.get_access_token().await?,
        access,
        "rmcp must use the refreshed token"
    );

    // 6. rmcp's authorized Streamable HTTP transport talks to the MCP server.
    let transport = StreamableHttpClientTransport::with_client(
        AuthClient::new(reqwest::Client::new(), manager),
        StreamableHttpClientTransportConfig::with_uri(mcp_url.as_str()),
    );
    let client = ().serve(transport).await?;
    let server_name = client
        .peer_info()
        .and_then(|info| info.server_info.as_ref().map(|i| i.name.clone()));
    assert_eq!(server_name.as_deref(), Some("rmcp oauth e2e"));
    let result = client
        .call_tool(CallToolRequestParams::new("inspect_token"))
        .await?;
    assert_ne!(
        result.is_error,
        Some(true),
        "inspect_token failed: {result:?}"
    );
    let claims = result
        .structured_content
        .clone()
        .context("inspect_token returned no structured content")?;
    client.cancel().await?;

    assert_eq!(
        claims["client_id"],
        json!(client_id),
        "client_id claim: {claims}"
    );
    let sub = claims["sub"].as_str().context("no sub")?;
    assert!(sub.starts_with("usr_"), "sub {sub}");
    assert_eq!(sub, servers.auth.dev_user_id());
    let aud = claims["aud"].as_array().context("aud is not an array")?;
    assert!(
        aud.contains(&json!(mcp_url)) && aud.contains(&json!(resource_id)),
        "aud {aud:?}"
    );
    let iss = claims["iss"].as_str().context("no iss")?;
    assert!(iss == env_url || iss == resource_issuer, "iss {iss}");
    let scope: Vec<&str> = claims["scope"]
        .as_str()
        .context("no scope")?
        .split(' ')
        .collect();
    assert!(
        scope.contains(&"mcp:tools") && scope.contains(&"offline_access"),
        "scope {scope:?}"
    );
    // The claims are those of the refreshed token the transport sent.
    let payload = access
        .split('.')
        .nth(1)
        .context("access token is not a JWT")?;
    let decoded: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?)?;
    assert_eq!(decoded, claims);

    servers.stop().await
}
