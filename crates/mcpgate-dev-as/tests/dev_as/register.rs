//! Dynamic client registration (RFC 7591) and body limits.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{REDIRECT, start};

#[tokio::test]
async fn public_client_registration_returns_m2m_id_and_no_secret() {
    let f = start().await;
    // As MCP Inspector's web UI registers: from its (allowed) origin.
    let response = f
        .http
        .post(f.register_url())
        .header("origin", "http://localhost:6274")
        .json(&json!({
            "client_name": "VS Code",
            "redirect_uris": [REDIRECT, "https://vscode.dev/redirect"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "scope": "openid mcp:tools",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:6274"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert!(body["client_id"].as_str().unwrap().starts_with("m2m_"));
    assert!(body["client_id_issued_at"].as_i64().unwrap() > 1_700_000_000);
    assert!(body.get("client_secret").is_none());
    assert_eq!(body["client_name"], "VS Code");
    assert_eq!(
        body["redirect_uris"],
        json!([REDIRECT, "https://vscode.dev/redirect"])
    );
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert_eq!(
        body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(body["scope"], "openid mcp:tools");
}

#[tokio::test]
async fn confidential_client_registration_returns_a_secret() {
    let f = start().await;
    for method in ["client_secret_post", "client_secret_basic"] {
        let response =
            f.register(json!({"token_endpoint_auth_method": method, "grant_types": ["client_credentials"]})).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        assert!(body["client_secret"].as_str().unwrap().len() >= 32);
        assert_eq!(body["client_secret_expires_at"], 0);
        assert_eq!(body["token_endpoint_auth_method"], method);
    }
    // RFC 7591's default method is client_secret_basic.
    let body: Value = f
        .register(json!({"redirect_uris": [REDIRECT]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert!(body["client_secret"].is_string());
}

#[tokio::test]
async fn bad_redirect_uris_are_refused_with_invalid_redirect_uri() {
    let f = start().await;
    for uri in [
        "http://evil.example/cb",
        "https://app.example/cb#frag",
        "javascript:alert(1)",
        "not a url",
    ] {
        let response = f
            .register(json!({"redirect_uris": [uri], "token_endpoint_auth_method": "none"}))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_redirect_uri", "{uri}");
        assert!(body["error_description"].is_string());
    }
    let missing = f
        .register(json!({"token_endpoint_auth_method": "none"}))
        .await;
    assert_eq!(
        missing.json::<Value>().await.unwrap()["error"],
        "invalid_redirect_uri"
    );
    // Loopback http, localhost and native-app schemes are fine.
    for uri in [
        "http://[::1]:5000/cb",
        "http://localhost:5000/cb",
        "cursor://anysphere.cursor-retrieval/oauth/cb",
    ] {
        let response = f
            .register(json!({"redirect_uris": [uri], "token_endpoint_auth_method": "none"}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "{uri}");
    }
}

#[tokio::test]
async fn malformed_metadata_is_refused_with_invalid_client_metadata() {
    let f = start().await;
    let not_json = f
        .http
        .post(f.register_url())
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        not_json.json::<Value>().await.unwrap()["error"],
        "invalid_client_metadata"
    );

    for bad in [
        json!(["an", "array"]),
        json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt"}),
        json!({"redirect_uris": [REDIRECT], "grant_types": ["password"]}),
        json!({"redirect_uris": [REDIRECT], "scope": "admin:everything"}),
        json!({"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]}),
        json!({"redirect_uris": [REDIRECT], "client_name": 42}),
    ] {
        let response = f.register(bad.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "invalid_client_metadata",
            "{bad}"
        );
    }
}

#[tokio::test]
async fn registration_for_an_unknown_resource_is_404() {
    let f = start().await;
    let response = f
        .http
        .post(f.url("/api/v1/resources/res_1/clients:register"))
        .json(&json!({"redirect_uris": [REDIRECT]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let f = start().await;
    let huge = "x".repeat(mcpgate_dev_as::MAX_BODY_BYTES + 1);
    let body = json!({"redirect_uris": [REDIRECT], "client_name": huge}).to_string();
    let response = f
        .http
        .post(f.register_url())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = f
        .http
        .post(f.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&pad={huge}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn register_client_api_matches_the_endpoint() {
    let f = start().await;
    let client = f
        .server
        .register_client(json!({"grant_types": ["client_credentials"]}))
        .unwrap();
    assert!(client.client_id.starts_with("m2m_"));
    assert!(client.client_secret.is_some());
    assert!(!format!("{client:?}").contains(client.client_secret.as_deref().unwrap()));
    let err = f
        .server
        .register_client(json!({"redirect_uris": ["http://evil.example/cb"]}))
        .unwrap_err();
    assert!(
        matches!(
            err,
            mcpgate_dev_as::Error::ClientMetadata {
                code: "invalid_redirect_uri",
                ..
            }
        ),
        "{err}"
    );
}
