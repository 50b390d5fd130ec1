//! Token revocation (RFC 7009).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{REDIRECT, pkce, start};

#[tokio::test]
async fn public_clients_cannot_revoke() {
    let f = start().await;
    let client = f.register_public().await;
    let (verifier, challenge) = pkce();
    let code = f
        .code_for(&client, &challenge, "openid offline_access")
        .await;
    let (_, body) = f.exchange_code(&client, &code, &verifier).await;
    let refresh = body["refresh_token"].as_str().unwrap();
    let response = f
        .http
        .post(f.url("/oauth/revoke"))
        .header("origin", "http://127.0.0.1:6274")
        .form(&[("token", refresh), ("client_id", client.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://127.0.0.1:6274"
    );
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let response = f
        .http
        .post(f.url("/oauth/revoke"))
        .form(&[("token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn confidential_client_revokes_its_refresh_token_family() {
    let f = start().await;
    let body: Value = f
        .register(json!({
            "client_name": "Web app",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["authorization_code", "refresh_token"],
        }))
        .await
        .json()
        .await
        .unwrap();
    let id = body["client_id"].as_str().unwrap();
    let secret = body["client_secret"].as_str().unwrap();
    let (verifier, challenge) = pkce();
    let code = f.code_for(id, &challenge, "openid offline_access").await;
    let (status, body, _) = f
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", id),
            ("client_secret", secret),
            ("code", &code),
            ("code_verifier", &verifier),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r1 = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, body, _) = f
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", id),
            ("client_secret", secret),
            ("refresh_token", &r1),
        ])
        .await;
    assert_eq!(status, StatusCode::OK);
    let r2 = body["refresh_token"].as_str().unwrap().to_owned();

    // Wrong secret: refused. Another confidential client: refused, nothing revoked.
    let response = f
        .http
        .post(f.url("/oauth/revoke"))
        .basic_auth(id, Some("wrong"))
        .form(&[("token", &r2)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let other = f
        .server
        .register_client(json!({"grant_types": ["client_credentials"]}))
        .unwrap();
    let response = f
        .http
        .post(f.url("/oauth/revoke"))
        .basic_auth(&other.client_id, other.client_secret.as_deref())
        .form(&[("token", &r2)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Revoking the spent r1 kills the family, so the live r2 dies with it.
    let response = f
        .http
        .post(f.url("/oauth/revoke"))
        .basic_auth(id, Some(secret))
        .form(&[("token", &r1)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body, _) = f
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", id),
            ("client_secret", secret),
            ("refresh_token", &r2),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // Unknown tokens (and access tokens, which are JWTs) are a silent success.
    let response = f
        .http
        .post(f.url("/oauth/revoke"))
        .form(&[
            ("token", "not-a-token"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = f
        .http
        .post(f.url("/oauth/revoke"))
        .form(&[("client_id", id), ("client_secret", secret)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
}
