//! Discovery documents, JWKS, CORS and 404s.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{MCP_URL, start};

#[tokio::test]
async fn as_metadata_is_identical_at_both_paths_and_scalekit_shaped() {
    let f = start().await;
    let res = f.server.resource_id();
    assert!(res.starts_with("res_"));
    let inserted = f
        .http
        .get(f.url(&format!(
            "/.well-known/oauth-authorization-server/resources/{res}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(inserted.status(), StatusCode::OK);
    assert_eq!(inserted.headers()["access-control-allow-origin"], "*");
    let inserted: Value = inserted.json().await.unwrap();
    let appended: Value = f
        .http
        .get(f.url(&format!(
            "/resources/{res}/.well-known/oauth-authorization-server"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inserted, appended);

    let env = f.server.env_url();
    assert_eq!(inserted["issuer"], format!("{env}/resources/{res}"));
    assert_eq!(
        inserted["authorization_endpoint"],
        format!("{env}/oauth/authorize")
    );
    assert_eq!(inserted["token_endpoint"], format!("{env}/oauth/token"));
    assert_eq!(
        inserted["registration_endpoint"],
        format!("{env}/api/v1/resources/{res}/clients:register")
    );
    assert_eq!(inserted["jwks_uri"], format!("{env}/keys"));
    assert_eq!(
        inserted["revocation_endpoint"],
        format!("{env}/oauth/revoke")
    );
    assert_eq!(
        inserted["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(inserted["client_id_metadata_document_supported"], true);
    assert_eq!(
        inserted["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        inserted["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(
        inserted["token_endpoint_auth_methods_supported"],
        serde_json::json!(["none", "client_secret_post", "client_secret_basic"])
    );
    assert!(
        inserted["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "offline_access")
    );
    assert_eq!(inserted, f.server.metadata());
    assert_eq!(
        f.server.metadata_url(),
        f.url(&format!(
            "/.well-known/oauth-authorization-server/resources/{res}"
        ))
    );
    assert!(env.starts_with("http://127.0.0.1:") && !env.ends_with('/'));
}

#[tokio::test]
async fn registration_and_cimd_fields_are_omitted_when_disabled() {
    let f = crate::common::start_with(
        crate::common::config()
            .with_dynamic_client_registration(false)
            .with_client_id_metadata_documents(false),
    )
    .await;
    let doc = f.server.metadata();
    assert!(doc.get("registration_endpoint").is_none());
    assert!(doc.get("client_id_metadata_document_supported").is_none());
    let response = f
        .register(serde_json::json!({"redirect_uris": [crate::common::REDIRECT]}))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn openid_configuration_exists_at_env_level_only() {
    let f = start().await;
    let res = f.server.resource_id();
    let env_doc: Value = f
        .http
        .get(f.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(env_doc["issuer"], f.server.env_url());
    assert_eq!(env_doc["jwks_uri"], f.url("/keys"));
    assert_eq!(env_doc["authorization_endpoint"], f.url("/oauth/authorize"));
    assert_eq!(env_doc["token_endpoint"], f.url("/oauth/token"));
    assert!(env_doc.get("registration_endpoint").is_none());

    for path in [
        format!("/resources/{res}/.well-known/openid-configuration"),
        format!("/.well-known/openid-configuration/resources/{res}"),
        format!("/resources/{res}/keys"),
        "/.well-known/oauth-authorization-server/resources/res_000".to_owned(),
        "/resources/res_000/.well-known/oauth-authorization-server".to_owned(),
        "/no/such/path".to_owned(),
    ] {
        let status = f.http.get(f.url(&path)).send().await.unwrap().status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn jwks_publishes_one_scalekit_shaped_rsa_key_with_modest_caching() {
    let f = start().await;
    let response = f.http.get(f.url("/keys")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cache.contains("max-age="), "{cache}");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["e"], "AQAB");
    assert!(key["kid"].as_str().unwrap().starts_with("snk_"));
    assert_eq!(key["kid"], f.server.current_kid());
    assert_eq!(jwks, f.server.jwks());
}

#[tokio::test]
async fn cors_preflight_is_answered_for_browser_clients() {
    let f = start().await;
    let inspector = "http://localhost:6274";
    for (path, allow_origin) in [
        // Endpoints with effects name the allowed origin…
        ("/oauth/token", inspector),
        ("/oauth/revoke", inspector),
        (
            &*f.register_url().replace(f.server.env_url(), ""),
            inspector,
        ),
        // …public documents stay readable by any origin.
        ("/keys", "*"),
    ] {
        let response = f
            .http
            .request(reqwest::Method::OPTIONS, f.url(path))
            .header("origin", inspector)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            allow_origin,
            "{path}"
        );
        assert!(
            response.headers()["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains("POST")
        );
        assert_eq!(
            response.headers()["access-control-allow-headers"],
            "content-type"
        );
    }
    // The consent page is for the browser itself, not for cross-origin scripts.
    let response = f.http.get(f.url("/oauth/authorize")).send().await.unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn canonical_mcp_url_is_used_in_audience() {
    let f = start().await;
    assert_eq!(f.server.mcp_url(), MCP_URL);
    let bare = crate::common::start_with(mcpgate_dev_as::DevAuthServerConfig::new(
        mcpgate_dev_as::Url::parse("HTTP://LOCALHOST:3000/").unwrap(),
    ))
    .await;
    assert_eq!(bare.server.mcp_url(), "http://localhost:3000");
}
