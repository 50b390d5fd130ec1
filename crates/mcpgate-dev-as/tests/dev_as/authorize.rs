//! The authorization endpoint and the consent page.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Fixture, MCP_URL, REDIRECT, csrf_token, location_params, param, pkce, start};

#[tokio::test]
async fn missing_or_plain_pkce_is_redirected_as_invalid_request() {
    let f = start().await;
    let client = f.register_public().await;
    let (verifier, challenge) = pkce();
    let mut no_challenge = Fixture::auth_params(&client, &challenge, "openid");
    no_challenge.retain(|(k, _)| !k.starts_with("code_challenge"));
    let mut plain = Fixture::auth_params(&client, &verifier, "openid");
    plain.retain(|(k, _)| *k != "code_challenge_method");
    plain.push(("code_challenge_method", "plain"));
    let mut no_method = Fixture::auth_params(&client, &challenge, "openid");
    no_method.retain(|(k, _)| *k != "code_challenge_method");
    for params in [no_challenge, plain, no_method] {
        let response = f.authorize(&params).await;
        assert_eq!(response.status(), StatusCode::FOUND, "{params:?}");
        let (url, q) = location_params(&response);
        assert!(url.as_str().starts_with(REDIRECT));
        assert_eq!(param(&q, "error"), Some("invalid_request"));
        assert_eq!(param(&q, "state"), Some("xyz-state"));
        assert_eq!(param(&q, "iss"), Some(f.server.resource_issuer().as_str()));
        assert_eq!(param(&q, "code"), None);
    }
}

#[tokio::test]
async fn unknown_client_or_unregistered_redirect_shows_an_error_page_and_never_redirects() {
    let f = start().await;
    let client = f.register_public().await;
    let (_, challenge) = pkce();
    let mut wrong_redirect = Fixture::auth_params(&client, &challenge, "openid");
    wrong_redirect.retain(|(k, _)| *k != "redirect_uri");
    wrong_redirect.push(("redirect_uri", "https://attacker.example/steal"));
    let unknown_client = Fixture::auth_params("m2m_123", &challenge, "openid");
    let mut no_client = Fixture::auth_params(&client, &challenge, "openid");
    no_client.retain(|(k, _)| *k != "client_id");
    for params in [wrong_redirect, unknown_client, no_client] {
        let response = f.authorize(&params).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(response.headers().get("location").is_none());
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = response.text().await.unwrap();
        assert!(
            !html.contains("attacker.example/steal?"),
            "no redirect link built"
        );
        assert!(!html.contains("csrf_token"));
    }
}

#[tokio::test]
async fn loopback_redirect_matches_on_any_port() {
    let f = start().await;
    let body: serde_json::Value = f
        .register(
            json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let client = body["client_id"].as_str().unwrap();
    let (_, challenge) = pkce();
    let mut params = Fixture::auth_params(client, &challenge, "openid");
    params.retain(|(k, _)| *k != "redirect_uri");
    params.push(("redirect_uri", "http://127.0.0.1:54321/cb"));
    assert_eq!(f.authorize(&params).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn foreign_resource_is_redirected_as_invalid_target() {
    let f = start().await;
    let client = f.register_public().await;
    let (_, challenge) = pkce();
    let mut params = Fixture::auth_params(&client, &challenge, "openid");
    params.retain(|(k, _)| *k != "resource");
    params.push(("resource", "https://other.example/mcp"));
    let response = f.authorize(&params).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let (_, q) = location_params(&response);
    assert_eq!(param(&q, "error"), Some("invalid_target"));
    assert_eq!(param(&q, "state"), Some("xyz-state"));
}

#[tokio::test]
async fn unsupported_scope_is_redirected_as_invalid_scope() {
    let f = start().await;
    let client = f.register_public().await;
    let (_, challenge) = pkce();
    let response = f
        .authorize(&Fixture::auth_params(
            &client,
            &challenge,
            "openid admin:all",
        ))
        .await;
    let (_, q) = location_params(&response);
    assert_eq!(param(&q, "error"), Some("invalid_scope"));
}

#[tokio::test]
async fn consent_page_names_client_redirect_scopes_resource_and_carries_csrf_token() {
    let f = start().await;
    let body: serde_json::Value = f
        .register(json!({
            "client_name": "<b>Evil</b> & Co",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
        }))
        .await
        .json()
        .await
        .unwrap();
    let client = body["client_id"].as_str().unwrap();
    let (_, challenge) = pkce();
    let response = f
        .authorize(&Fixture::auth_params(
            client,
            &challenge,
            "openid offline_access mcp:tools",
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(headers["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    assert!(
        html.contains("&lt;b&gt;Evil&lt;/b&gt; &amp; Co"),
        "client name, escaped"
    );
    assert!(!html.contains("<b>Evil</b>"));
    assert!(html.contains(client));
    assert!(html.contains("127.0.0.1:7777"), "redirect host");
    for scope in ["openid", "offline_access", "mcp:tools"] {
        assert!(html.contains(scope), "{scope}");
    }
    assert!(html.contains(MCP_URL));
    assert!(html.contains(f.server.dev_user_id()), "default subject");
    assert!(csrf_token(&html).len() >= 43);
    assert!(html.contains("value=\"approve\"") && html.contains("value=\"deny\""));
    assert!(!html.contains("<script"), "no script needed");
}

#[tokio::test]
async fn deny_redirects_access_denied_with_state() {
    let f = start().await;
    let client = f.register_public().await;
    let (_, challenge) = pkce();
    let html = f
        .authorize(&Fixture::auth_params(&client, &challenge, "openid"))
        .await
        .text()
        .await
        .unwrap();
    let response = f.decide(&csrf_token(&html), "deny", None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (url, q) = location_params(&response);
    assert!(url.as_str().starts_with(REDIRECT));
    assert_eq!(param(&q, "error"), Some("access_denied"));
    assert_eq!(param(&q, "state"), Some("xyz-state"));
    assert_eq!(param(&q, "code"), None);
}

#[tokio::test]
async fn csrf_token_is_single_use_and_must_be_genuine() {
    let f = start().await;
    let client = f.register_public().await;
    let (_, challenge) = pkce();
    let html = f
        .authorize(&Fixture::auth_params(&client, &challenge, "openid"))
        .await
        .text()
        .await
        .unwrap();
    let csrf = csrf_token(&html);
    assert_eq!(
        f.decide("forged-token", "approve", None).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        f.decide(&csrf, "approve", None).await.status(),
        StatusCode::SEE_OTHER
    );
    let again = f.decide(&csrf, "approve", None).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(again.headers().get("location").is_none());
}

#[tokio::test]
async fn cross_site_decision_post_is_refused() {
    let f = start().await;
    let client = f.register_public().await;
    let (_, challenge) = pkce();
    let html = f
        .authorize(&Fixture::auth_params(&client, &challenge, "openid"))
        .await
        .text()
        .await
        .unwrap();
    let csrf = csrf_token(&html);
    let response = f
        .http
        .post(f.url("/oauth/authorize/decision"))
        .header("origin", "https://attacker.example")
        .form(&[("csrf_token", csrf.as_str()), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // A same-origin post (what a browser sends from the consent page) works.
    let origin = f.server.env_url().to_owned();
    let response = f
        .http
        .post(f.url("/oauth/authorize/decision"))
        .header("origin", origin)
        .form(&[("csrf_token", csrf.as_str()), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn approval_redirects_with_code_state_and_iss() {
    let f = start().await;
    let client = f.register_public().await;
    let (_, challenge) = pkce();
    let html = f
        .authorize(&Fixture::auth_params(&client, &challenge, "openid"))
        .await
        .text()
        .await
        .unwrap();
    let response = f.decide(&csrf_token(&html), "approve", None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (url, q) = location_params(&response);
    assert_eq!(
        format!("{}://{}{}", url.scheme(), url.authority(), url.path()),
        REDIRECT
    );
    assert!(param(&q, "code").unwrap().len() >= 43);
    assert_eq!(param(&q, "state"), Some("xyz-state"));
    assert_eq!(param(&q, "iss"), Some(f.server.resource_issuer().as_str()));
}
