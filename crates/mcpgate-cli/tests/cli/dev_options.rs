//! `mcpgate dev`'s flags do what the README says: `--resource-id`, `--scopes`,
//! `--required-scopes`, `--token-lifetime`, `--issuer-form env|resource|both`,
//! `--signing-alg ES256|EdDSA`, the default `./.mcpgate/` data directory,
//! `--port 0`/`--auth-port 0`, and the printed client instructions.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::{
    BIN, Dev, TempDir, claims, client_credentials, free_port, get_json, initialize,
    register_machine_client, run_ok,
};

/// `mcpgate dev --ephemeral --port 0 --auth-port 0 {extra}`.
fn ephemeral(extra: &[&str]) -> Dev {
    let mut args = vec!["--ephemeral", "--port", "0", "--auth-port", "0"];
    args.extend_from_slice(extra);
    Dev::start(&args)
}

/// The MCP server's protected resource metadata (RFC 9728, path-inserted).
async fn prm(dev: &Dev) -> Value {
    let mcp = url::Url::parse(dev.get("MCP URL")).unwrap();
    get_json(&format!(
        "{}/.well-known/oauth-protected-resource{}",
        mcp.origin().ascii_serialization(),
        mcp.path()
    ))
    .await
}

/// The authorization server's RFC 8414 metadata, found as a client finds it:
/// from the PRM's `authorization_servers` (Scalekit's path-inserted form).
async fn as_metadata(dev: &Dev) -> Value {
    let prm = prm(dev).await;
    let issuer = url::Url::parse(prm["authorization_servers"][0].as_str().unwrap()).unwrap();
    get_json(&format!(
        "{}/.well-known/oauth-authorization-server{}",
        issuer.origin().ascii_serialization(),
        issuer.path()
    ))
    .await
}

/// `WWW-Authenticate` of a request without a token (asserting 401).
async fn bare_challenge(dev: &Dev) -> String {
    let response = initialize(dev.get("MCP URL"), None).await;
    assert_eq!(response.status(), 401);
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_id_flag_names_the_resource_in_banner_tokens_and_metadata() {
    let dev = ephemeral(&["--resource-id", "res_custom"]);
    let env_url = dev.get("Environment URL").to_owned();
    assert_eq!(dev.get("Resource ID"), "res_custom");
    let resource_issuer = format!("{env_url}/resources/res_custom");
    assert_eq!(dev.get("Authorization server"), resource_issuer);

    let token = dev.get("Token");
    let aud = claims(token)["aud"].clone();
    assert!(
        aud.as_array().unwrap().contains(&json!("res_custom")),
        "aud {aud}"
    );
    assert_eq!(
        initialize(dev.get("MCP URL"), Some(token)).await.status(),
        200
    );

    assert_eq!(
        prm(&dev).await["authorization_servers"],
        json!([resource_issuer])
    );
    assert_eq!(as_metadata(&dev).await["issuer"], json!(resource_issuer));
    // Without --required-scopes the challenge asks for no scope.
    let challenge = bare_challenge(&dev).await;
    assert!(!challenge.contains("scope="), "{challenge}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_flags_shape_the_metadata_the_challenge_and_enforcement() {
    let dev = ephemeral(&["--scopes", "a,b", "--required-scopes", "b"]);
    let mcp_url = dev.get("MCP URL").to_owned();
    let env_url = dev.get("Environment URL").to_owned();

    assert_eq!(prm(&dev).await["scopes_supported"], json!(["a", "b"]));
    assert_eq!(
        as_metadata(&dev).await["scopes_supported"],
        json!(["a", "b"])
    );
    let challenge = bare_challenge(&dev).await;
    assert!(challenge.contains(r#"scope="b""#), "{challenge}");

    // The printed token carries the offered scopes, so it passes.
    let token = dev.get("Token");
    assert_eq!(claims(token)["scope"], "a b");
    assert_eq!(initialize(&mcp_url, Some(token)).await.status(), 200);

    // A token without the required scope is refused with 403 naming it (with
    // the scope the token holds: a step-up must not cost the client `a`).
    let client = register_machine_client(&env_url, dev.get("Resource ID"), Some("a b")).await;
    let only_a = client_credentials(&env_url, &client, Some("a")).await;
    let response = initialize(&mcp_url, only_a["access_token"].as_str()).await;
    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#) && challenge.contains(r#"scope="a b""#),
        "{challenge}"
    );
    let both = client_credentials(&env_url, &client, Some("a b")).await;
    assert_eq!(
        initialize(&mcp_url, both["access_token"].as_str())
            .await
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_lifetime_flag_sets_exp_of_printed_and_issued_tokens() {
    let dev = ephemeral(&["--token-lifetime", "120"]);
    let printed = claims(dev.get("Token"));
    assert_eq!(
        printed["exp"].as_i64().unwrap() - printed["iat"].as_i64().unwrap(),
        120,
        "{printed}"
    );

    let env_url = dev.get("Environment URL").to_owned();
    let client = register_machine_client(&env_url, dev.get("Resource ID"), None).await;
    let response = client_credentials(&env_url, &client, None).await;
    assert_eq!(response["expires_in"], 120, "{response}");
    let issued = claims(response["access_token"].as_str().unwrap());
    assert_eq!(
        issued["exp"].as_i64().unwrap() - issued["iat"].as_i64().unwrap(),
        120,
        "{issued}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_form_flag_selects_the_iss_of_tokens_while_metadata_names_the_resource_issuer() {
    for form in ["env", "resource", "both"] {
        let dev = ephemeral(&["--issuer-form", form]);
        let mcp_url = dev.get("MCP URL").to_owned();
        let env_url = dev.get("Environment URL").to_owned();
        let resource_issuer = format!("{env_url}/resources/{}", dev.get("Resource ID"));

        // Scalekit's metadata names the resource issuer whatever `iss` tokens carry.
        assert_eq!(dev.get("Authorization server"), resource_issuer, "{form}");
        assert_eq!(
            prm(&dev).await["authorization_servers"],
            json!([resource_issuer]),
            "{form}"
        );
        assert_eq!(
            as_metadata(&dev).await["issuer"],
            json!(resource_issuer),
            "{form}"
        );

        // The printed token, then two issued over HTTP, in minting order.
        let client = register_machine_client(&env_url, dev.get("Resource ID"), None).await;
        let mut tokens = vec![dev.get("Token").to_owned()];
        for _ in 0..2 {
            let response = client_credentials(&env_url, &client, None).await;
            tokens.push(response["access_token"].as_str().unwrap().to_owned());
        }
        let issuers: Vec<String> = tokens
            .iter()
            .map(|t| claims(t)["iss"].as_str().unwrap().to_owned())
            .collect();
        let expected = match form {
            "env" => [env_url.as_str(); 3],
            "resource" => [resource_issuer.as_str(); 3],
            // Alternating, starting with the environment form.
            _ => [env_url.as_str(), resource_issuer.as_str(), env_url.as_str()],
        };
        assert_eq!(issuers, expected, "--issuer-form {form}");
        // The MCP server accepts every form.
        for token in &tokens {
            assert_eq!(
                initialize(&mcp_url, Some(token)).await.status(),
                200,
                "--issuer-form {form}: iss {}",
                claims(token)["iss"]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_data_dir_is_dot_mcpgate_in_the_working_directory_and_is_reused() {
    let cwd = TempDir::new("default-data-dir");
    // Fixed ports: the issuer and audience of a token name them, so a token
    // outlives a restart only on the same ports (as with the defaults).
    let (port, auth_port) = (free_port().to_string(), free_port().to_string());
    let start = || {
        let mut cmd = Dev::command(&["--port", &port, "--auth-port", &auth_port]);
        cmd.current_dir(cwd.path());
        Dev::spawn(cmd)
    };

    let dev = start();
    assert_eq!(dev.get("State"), ".mcpgate");
    assert!(
        cwd.path().join(".mcpgate").join("dev-as.sqlite3").is_file(),
        "no .mcpgate/dev-as.sqlite3 in the working directory"
    );
    let resource_id = dev.get("Resource ID").to_owned();

    // `mcpgate dev token` finds the same default directory.
    let mut mint = Command::new(BIN);
    mint.current_dir(cwd.path()).args([
        "dev",
        "token",
        "--port",
        &dev.port_of("MCP URL"),
        "--auth-port",
        &dev.port_of("Environment URL"),
    ]);
    let minted = run_ok(mint);
    assert!(
        claims(&minted)["aud"]
            .as_array()
            .unwrap()
            .contains(&json!(resource_id))
    );
    assert_eq!(
        initialize(dev.get("MCP URL"), Some(&minted)).await.status(),
        200
    );
    drop(dev);

    // A second start in the same directory: same resource id, same keys.
    let dev = start();
    assert_eq!(dev.get("Resource ID"), resource_id);
    assert_eq!(
        initialize(dev.get("MCP URL"), Some(&minted)).await.status(),
        200,
        "a token minted before the restart"
    );
}

#[test]
fn the_banner_tells_how_to_try_it_and_how_to_connect_each_client() {
    let dev = ephemeral(&[]);
    let mcp = dev.get("MCP URL").to_owned();
    let url = url::Url::parse(&mcp).unwrap();
    assert_eq!(url.host_str(), Some("127.0.0.1"));
    assert_ne!(
        url.port(),
        Some(0),
        "--port 0 is replaced by the chosen port"
    );
    assert_eq!(url.path(), "/mcp");
    for key in ["Environment URL", "Resource ID", "Token"] {
        assert!(!dev.get(key).is_empty(), "{key}");
    }
    let line_with = |needle: &str| {
        dev.banner()
            .iter()
            .find(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no line mentions {needle}: {:#?}", dev.banner()))
            .clone()
    };
    let curl = line_with("curl");
    assert!(
        curl.contains(&mcp) && curl.contains("Authorization: Bearer $TOKEN"),
        "{curl}"
    );
    let inspector = line_with("MCP Inspector");
    assert!(inspector.contains(&mcp), "{inspector}");
    let claude = line_with("Claude Code");
    assert!(
        claude.contains(&format!(
            "claude mcp add --transport http mcpgate-dev {mcp}"
        )),
        "{claude}"
    );
    let vscode = line_with("VS Code");
    assert!(vscode.contains(&format!(r#""url": "{mcp}""#)), "{vscode}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_alg_flag_signs_with_es256_or_eddsa_and_the_server_accepts_it() {
    use base64::Engine;
    for alg in ["ES256", "EdDSA"] {
        let dev = ephemeral(&["--signing-alg", alg]);
        let token = dev.get("Token").to_owned();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap();
        let header: Value = serde_json::from_slice(&header).unwrap();
        assert_eq!(header["alg"], alg, "--signing-alg {alg}");
        let jwks = get_json(&format!("{}/keys", dev.get("Environment URL"))).await;
        assert_eq!(jwks["keys"][0]["alg"], alg, "--signing-alg {alg}: {jwks}");
        let response = initialize(dev.get("MCP URL"), Some(&token)).await;
        assert_eq!(response.status(), 200, "--signing-alg {alg}");
    }
}
