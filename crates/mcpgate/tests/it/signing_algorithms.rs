//! Tokens the dev authorization server signs with ES256 or EdDSA pass end to
//! end through the rmcp client; a token whose algorithm is outside the
//! server's allow-list is refused even though the published key's type fits it.

use mcpgate::ScalekitProvider;
use mcpgate::verify::SigningAlgorithm;
use mcpgate_dev_as::{DevAuthServer, DevAuthServerConfig, KeyAlgorithm, TokenRequest, Url};
use rmcp::model::CallToolRequestParams;
use tokio::net::TcpListener;

use crate::support::*;

/// A dev authorization server signing with `alg`, and the sample server
/// trusting it with `allowed` algorithms.
async fn setup(
    alg: KeyAlgorithm,
    allowed: &[SigningAlgorithm],
) -> (mcpgate_dev_as::DevAuthServerHandle, Running) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    // Tokens name the resource id in `aud`, which is what the server checks;
    // the MCP URL here only has to be well formed.
    let config = DevAuthServerConfig::new(Url::parse("http://127.0.0.1:9/mcp").unwrap())
        .with_signing_algorithm(alg);
    let auth = DevAuthServer::start(listener, config).await.unwrap();
    let (env, res) = (auth.env_url().to_owned(), auth.resource_id().to_owned());
    let allowed = allowed.to_vec();
    let server = Running::start(move |mcp_url| {
        scalekit_server::server().auth(ScalekitProvider::new(env, res, mcp_url).algorithms(allowed))
    })
    .await;
    (auth, server)
}

fn user_token(auth: &DevAuthServer) -> String {
    auth.mint_token(TokenRequest::user("usr_alg").with_scopes(["mcp:tools"]))
        .unwrap()
}

fn header_alg(token: &str) -> String {
    use base64::Engine;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').next().unwrap())
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&header).unwrap()["alg"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn es256_and_eddsa_tokens_from_the_dev_server_pass_end_to_end() {
    for (alg, allowed) in [
        (KeyAlgorithm::Es256, SigningAlgorithm::Es256),
        (KeyAlgorithm::EdDsa, SigningAlgorithm::EdDsa),
    ] {
        let (auth, server) = setup(alg, &[allowed]).await;
        let token = user_token(&auth);
        assert_eq!(header_alg(&token), alg.as_str());
        let client = connect(&server.mcp_url, Some(&token))
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        let result = client
            .call_tool(CallToolRequestParams::new("inspect_token"))
            .await
            .expect("tools/call");
        let claims = result.structured_content.expect("claims");
        assert_eq!(claims["sub"], "usr_alg", "{alg}");
        client.cancel().await.ok();
    }
}

#[tokio::test]
async fn an_algorithm_outside_the_allow_list_is_refused_though_the_key_type_fits() {
    // The dev server signs RS256 with an RSA key; the server allows only
    // PS256, which the same RSA key could verify.
    let (auth, server) = setup(KeyAlgorithm::Rs256, &[SigningAlgorithm::Ps256]).await;
    let token = user_token(&auth);
    let refused = connect(&server.mcp_url, Some(&token)).await;
    assert!(
        refused.is_err(),
        "an RS256 token was accepted by a PS256-only server"
    );
    let response = server
        .http
        .post(&server.mcp_url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(www_authenticate(&response).contains("unsupported algorithm"));
}

/// Two authorization servers at once through the whole HTTP stack: each
/// one's tokens reach the tools (with the issuer that verified them), and the
/// protected resource metadata lists both.
#[tokio::test]
async fn one_server_trusts_two_authorization_servers() {
    use mcpgate::ProtectedResource;
    let start = |alg| async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = DevAuthServerConfig::new(Url::parse("http://127.0.0.1:9/mcp").unwrap())
            .with_signing_algorithm(alg);
        DevAuthServer::start(listener, config).await.unwrap()
    };
    let (users, machines) = (
        start(KeyAlgorithm::Rs256).await,
        start(KeyAlgorithm::EdDsa).await,
    );
    let provider = |auth: &DevAuthServer, mcp_url: &str| {
        ScalekitProvider::new(auth.env_url(), auth.resource_id(), mcp_url)
            .algorithms([SigningAlgorithm::Rs256, SigningAlgorithm::EdDsa])
            .build()
            .unwrap()
    };
    let (u, m) = (users.server().clone(), machines.server().clone());
    let server = Running::start(move |mcp_url| {
        let (first, second) = (provider(&u, mcp_url), provider(&m, mcp_url));
        let resource = ProtectedResource::builder(
            first.resource().clone(),
            first.jwt_verifier().unwrap().clone(),
        )
        .verifier(second.jwt_verifier().unwrap().clone())
        .authorization_server(&first.authorization_servers()[0])
        .authorization_server(&second.authorization_servers()[0])
        .build()
        .unwrap();
        scalekit_server::server().auth(resource)
    })
    .await;

    let prm: serde_json::Value = server
        .http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            server.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        prm["authorization_servers"],
        serde_json::json!([users.resource_issuer(), machines.resource_issuer()])
    );
    for auth in [&users, &machines] {
        let client = connect(&server.mcp_url, Some(&user_token(auth)))
            .await
            .expect("connected");
        let claims = client
            .call_tool(CallToolRequestParams::new("inspect_token"))
            .await
            .expect("tools/call")
            .structured_content
            .expect("claims");
        assert_eq!(claims["iss"], auth.resource_issuer());
        client.cancel().await.ok();
    }
}
