//! The token endpoint: code exchange, refresh rotation, client credentials, errors.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mcpgate_dev_as::{IssuerForm, TokenRequest};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{
    Fixture, MCP_URL, REDIRECT, csrf_token, location_params, param, pkce, start, start_with,
};

#[tokio::test]
async fn code_flow_issues_a_scalekit_shaped_token_that_verifies_against_the_jwks() {
    let f = start().await;
    let client = f.register_public().await;
    let (verifier, challenge) = pkce();
    let html = f
        .authorize(&Fixture::auth_params(
            &client,
            &challenge,
            "openid mcp:tools",
        ))
        .await
        .text()
        .await
        .unwrap();
    let response = f
        .decide(&csrf_token(&html), "approve", Some("alice@example.com"))
        .await;
    let (_, q) = location_params(&response);
    let code = param(&q, "code").unwrap().to_owned();

    // From MCP Inspector's (allowed) origin, as its web UI redeems codes.
    let response = f
        .http
        .post(f.url("/oauth/token"))
        .header("origin", "http://localhost:6274")
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &client),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", REDIRECT),
            ("resource", MCP_URL),
        ])
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://localhost:6274"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "openid mcp:tools");
    assert!(
        body.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );

    let token = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(header.kid.as_deref(), Some(f.server.current_kid().as_str()));
    let claims = f.verify(token).await;
    assert_eq!(claims["iss"], f.server.resource_issuer());
    assert_eq!(claims["aud"], json!([MCP_URL, f.server.resource_id()]));
    assert_eq!(claims["sub"], "alice@example.com");
    assert_eq!(claims["client_id"], client);
    assert_eq!(claims["scope"], "openid mcp:tools");
    assert!(claims.get("scopes").is_none());
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["nbf"].as_i64(), Some(iat));
    assert_eq!(claims["exp"].as_i64(), Some(iat + 3600));
    for (claim, prefix) in [("jti", "tkn_"), ("sid", "ses_"), ("oid", "org_")] {
        assert!(
            claims[claim].as_str().unwrap().starts_with(prefix),
            "{claim}: {}",
            claims[claim]
        );
    }
}

#[tokio::test]
async fn default_subject_is_the_stable_dev_user() {
    let f = start().await;
    let client = f.register_public().await;
    let (verifier, challenge) = pkce();
    let code = f.code_for(&client, &challenge, "openid").await;
    let (_, body) = f.exchange_code(&client, &code, &verifier).await;
    let claims = f.verify(body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], f.server.dev_user_id());
    assert!(f.server.dev_user_id().starts_with("usr_"));
}

#[tokio::test]
async fn a_code_works_once_and_its_replay_revokes_what_it_issued() {
    let f = start().await;
    let client = f.register_public().await;
    let (verifier, challenge) = pkce();
    let code = f
        .code_for(&client, &challenge, "openid offline_access")
        .await;
    let (status, first) = f.exchange_code(&client, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK);
    let refresh = first["refresh_token"].as_str().unwrap();

    let (status, replay) = f.exchange_code(&client, &code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(replay["error"], "invalid_grant");

    let (status, body, _) = f
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client),
            ("refresh_token", refresh),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"], "invalid_grant",
        "refresh family revoked by the replay"
    );
}

#[tokio::test]
async fn wrong_pkce_verifier_is_rejected_and_spends_the_code() {
    let f = start().await;
    let client = f.register_public().await;
    let (verifier, challenge) = pkce();
    let (other_verifier, _) = pkce();
    let code = f.code_for(&client, &challenge, "openid").await;
    let (status, body) = f.exchange_code(&client, &code, &other_verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let (status, _) = f.exchange_code(&client, &code, &verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "one guess per code");

    let code = f.code_for(&client, &challenge, "openid").await;
    let (status, body, _) = f
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &client),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request", "missing verifier");
}

#[tokio::test]
async fn code_is_bound_to_client_and_redirect_uri() {
    let f = start().await;
    let client = f.register_public().await;
    let other = f.register_public().await;
    let (verifier, challenge) = pkce();
    let code = f.code_for(&client, &challenge, "openid").await;
    let (status, body) = f.exchange_code(&other, &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let code = f.code_for(&client, &challenge, "openid").await;
    let (status, body, _) = f
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &client),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", "http://127.0.0.1:7777/other"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn refresh_token_is_issued_only_with_offline_access() {
    let f = start().await;
    let client = f.register_public().await;
    let (verifier, challenge) = pkce();
    let code = f.code_for(&client, &challenge, "openid mcp:tools").await;
    let (_, body) = f.exchange_code(&client, &code, &verifier).await;
    assert!(body.get("refresh_token").is_none());
    let code = f
        .code_for(&client, &challenge, "openid offline_access")
        .await;
    let (_, body) = f.exchange_code(&client, &code, &verifier).await;
    assert!(body["refresh_token"].as_str().unwrap().len() >= 43);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let f = start().await;
    let client = f.register_public().await;
    let (verifier, challenge) = pkce();
    let code = f
        .code_for(&client, &challenge, "openid offline_access mcp:tools")
        .await;
    let (_, body) = f.exchange_code(&client, &code, &verifier).await;
    let first_access = body["access_token"].as_str().unwrap().to_owned();
    let r1 = body["refresh_token"].as_str().unwrap().to_owned();

    let refresh = |token: String, scope: Option<&'static str>| {
        let f = &f;
        let client = client.clone();
        async move {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("client_id", client.as_str()),
                ("refresh_token", token.as_str()),
            ];
            if let Some(s) = scope {
                form.push(("scope", s));
            }
            let (status, body, _) = f.token(&form).await;
            (status, body)
        }
    };

    let (status, body) = refresh(r1.clone(), Some("mcp:tools")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r2 = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2, "rotated");
    assert_eq!(body["scope"], "mcp:tools", "narrowed on request");
    let first = f.verify(&first_access).await;
    let refreshed = f.verify(body["access_token"].as_str().unwrap()).await;
    assert_eq!(refreshed["sid"], first["sid"], "same session");
    assert_eq!(refreshed["sub"], first["sub"]);

    let (status, body) = refresh(r2.clone(), Some("openid email")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope")),
        "no widening"
    );

    let (status, body) = refresh(r2.clone(), None).await;
    assert_eq!(status, StatusCode::OK);
    let r3 = body["refresh_token"].as_str().unwrap().to_owned();

    // r1 is spent: presenting it again revokes the family, r3 included.
    let (status, body) = refresh(r1, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, body) = refresh(r3, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

async fn register_machine(f: &Fixture, method: &str) -> (String, String) {
    let body: Value = f
        .register(json!({
            "client_name": "Backend job",
            "token_endpoint_auth_method": method,
            "grant_types": ["client_credentials"],
            "scope": "mcp:tools email",
        }))
        .await
        .json()
        .await
        .unwrap();
    (
        body["client_id"].as_str().unwrap().to_owned(),
        body["client_secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn client_credentials_yields_scopes_array_with_client_as_subject() {
    let f = start().await;
    let (id, secret) = register_machine(&f, "client_secret_basic").await;
    let response = f
        .http
        .post(f.url("/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "mcp:tools")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
    let claims = f.verify(body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["client_id"], id);
    assert_eq!(claims["scopes"], json!(["mcp:tools"]));
    assert!(claims.get("scope").is_none());
    assert!(claims.get("sid").is_none());

    // client_secret_post works too; without a scope the registered ones apply.
    let (status, body, _) = f
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .await;
    assert_eq!(status, StatusCode::OK);
    let claims = f.verify(body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["scopes"], json!(["mcp:tools", "email"]));

    let (status, body, _) = f
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", "openid"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
}

#[tokio::test]
async fn bad_client_credentials_get_invalid_client() {
    let f = start().await;
    let (id, _) = register_machine(&f, "client_secret_basic").await;
    let response = f
        .http
        .post(f.url("/oauth/token"))
        .basic_auth(&id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    let (status, body, headers) = f
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", "wrong"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    assert!(headers.get("www-authenticate").is_none());

    let (status, body, _) = f
        .token(&[("grant_type", "client_credentials"), ("client_id", &id)])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "no secret"
    );

    let garbage = f
        .http
        .post(f.url("/oauth/token"))
        .header(
            "authorization",
            format!("Basic {}", STANDARD.encode("no-colon")),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn client_credentials_is_refused_to_public_and_unregistered_grants() {
    let f = start().await;
    let public = f.register_public().await;
    let (status, body, _) = f
        .token(&[("grant_type", "client_credentials"), ("client_id", &public)])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );

    let web: Value = f
        .register(json!({"redirect_uris": [REDIRECT]}))
        .await
        .json()
        .await
        .unwrap();
    let (status, body, _) = f
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", web["client_id"].as_str().unwrap()),
            ("client_secret", web["client_secret"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
}

#[tokio::test]
async fn malformed_token_requests_get_rfc6749_errors() {
    let f = start().await;
    let client = f.register_public().await;
    type Case<'a> = (Vec<(&'a str, &'a str)>, StatusCode, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (vec![], StatusCode::BAD_REQUEST, "invalid_request"),
        (
            vec![("grant_type", "password"), ("client_id", &client)],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            vec![("grant_type", "authorization_code"), ("client_id", &client)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", &client),
                ("code", "nope"),
                ("code_verifier", "x"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            vec![("grant_type", "authorization_code"), ("code", "nope")],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", "m2m_404"),
                ("code", "x"),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", &client),
                ("resource", "https://other.example/"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_target",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", &client),
                ("refresh_token", "bogus"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
    ];
    for (form, status, error) in cases {
        let (got_status, body, headers) = f.token(&form).await;
        assert_eq!(
            (got_status, body["error"].as_str()),
            (status, Some(error)),
            "{form:?}: {body}"
        );
        assert_eq!(headers["cache-control"], "no-store");
        assert!(body["error_description"].is_string());
    }
    // Repeated parameters are malformed (RFC 6749 §3.2).
    let response = f
        .http
        .post(f.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=refresh_token")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    // Binary junk is not a panic.
    let response = f
        .http
        .post(f.url("/oauth/token"))
        .body(vec![0xff, 0xfe, 0x00, b'=', b'&', 0x80])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn issuer_forms_env_resource_and_alternate() {
    let env = start_with(crate::common::config().with_issuer_form(IssuerForm::Env)).await;
    let token = env.server.mint_token(TokenRequest::new()).unwrap();
    assert_eq!(env.verify(&token).await["iss"], env.server.env_url());

    let alt = start_with(crate::common::config().with_issuer_form(IssuerForm::Alternate)).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let token = alt.server.mint_token(TokenRequest::new()).unwrap();
        seen.push(alt.verify(&token).await["iss"].as_str().unwrap().to_owned());
    }
    let [env_iss, res_iss] = alt.server.issuers();
    assert_eq!(seen, [env_iss.clone(), res_iss.clone(), env_iss, res_iss]);
}

#[tokio::test]
async fn mint_token_api_honours_request_and_overrides() {
    let f = start().await;
    let token = f
        .server
        .mint_token(
            TokenRequest::user("usr_42")
                .with_scopes(["mcp:tools"])
                .with_lifetime(std::time::Duration::from_secs(60))
                .with_client_id("m2m_7")
                .with_claim("roles", json!(["admin"])),
        )
        .unwrap();
    let claims = f.verify(&token).await;
    assert_eq!(claims["sub"], "usr_42");
    assert_eq!(claims["scope"], "mcp:tools");
    assert_eq!(claims["client_id"], "m2m_7");
    assert_eq!(claims["roles"], json!(["admin"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );

    let machine = f
        .server
        .mint_token(TokenRequest::machine("m2m_9").with_scopes(["a", "b"]))
        .unwrap();
    let claims = f.verify(&machine).await;
    assert_eq!(
        (claims["sub"].as_str(), claims["scopes"].clone()),
        (Some("m2m_9"), json!(["a", "b"]))
    );

    // Extra claims override standard ones, so faulty tokens can be forged.
    let forged = f
        .server
        .mint_token(TokenRequest::new().with_claim("aud", "res_other"))
        .unwrap();
    let payload = forged.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], "res_other");
}
