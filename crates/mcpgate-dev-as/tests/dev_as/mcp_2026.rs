//! What MCP 2026-07-28 asks of an authorization server: RFC 9207 `iss` in
//! every authorization response and advertised in both discovery documents,
//! `application_type` in registration (SEP-837), and Client ID Metadata
//! Documents advertised as the recommended way in (with registration kept).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cimd::{serve_document, start_allowing};
use crate::common::{
    Fixture, REDIRECT, config, csrf_token, location_params, param, pkce, start, start_with,
};

#[tokio::test]
async fn both_discovery_documents_advertise_iss_and_metadata_documents() {
    let f = start().await;
    let res = f.server.resource_id();
    for path in [
        format!("/.well-known/oauth-authorization-server/resources/{res}"),
        "/.well-known/openid-configuration".to_owned(),
    ] {
        let doc: Value = f
            .http
            .get(f.url(&path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            doc["authorization_response_iss_parameter_supported"], true,
            "{path}"
        );
        assert_eq!(doc["client_id_metadata_document_supported"], true, "{path}");
    }
    // Registration stays available next to metadata documents.
    assert!(f.server.metadata()["registration_endpoint"].is_string());

    let off = start_with(config().with_client_id_metadata_documents(false)).await;
    let doc: Value = off
        .http
        .get(off.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc.get("client_id_metadata_document_supported").is_none());
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
}

#[tokio::test]
async fn every_authorization_response_carries_iss() {
    let f = start().await;
    let issuer = f.server.resource_issuer();
    let client = f.register_public().await;
    let (_, challenge) = pkce();

    // Success.
    let html = f
        .authorize(&Fixture::auth_params(&client, &challenge, "openid"))
        .await
        .text()
        .await
        .unwrap();
    let response = f.decide(&csrf_token(&html), "approve", None).await;
    let (_, q) = location_params(&response);
    assert!(param(&q, "code").is_some());
    assert_eq!(param(&q, "iss"), Some(issuer.as_str()));

    // The user says no.
    let html = f
        .authorize(&Fixture::auth_params(&client, &challenge, "openid"))
        .await
        .text()
        .await
        .unwrap();
    let response = f.decide(&csrf_token(&html), "deny", None).await;
    let (_, q) = location_params(&response);
    assert_eq!(param(&q, "error"), Some("access_denied"));
    assert_eq!(param(&q, "iss"), Some(issuer.as_str()));

    // Errors redirected straight from the authorization request.
    let base = Fixture::auth_params(&client, &challenge, "openid");
    let with = |name: &'static str, value: &'static str| {
        let mut p: Vec<(&str, &str)> = base.iter().filter(|(k, _)| *k != name).copied().collect();
        p.push((name, value));
        p
    };
    for (params, error) in [
        (with("response_type", "token"), "unsupported_response_type"),
        (with("scope", "admin"), "invalid_scope"),
        (
            with("resource", "https://other.example/mcp"),
            "invalid_target",
        ),
        (with("code_challenge_method", "plain"), "invalid_request"),
    ] {
        let response = f.authorize(&params).await;
        assert_eq!(response.status(), StatusCode::FOUND, "{error}");
        let (_, q) = location_params(&response);
        assert_eq!(param(&q, "error"), Some(error));
        assert_eq!(param(&q, "state"), Some("xyz-state"));
        assert_eq!(param(&q, "iss"), Some(issuer.as_str()), "{error}");
    }
}

#[tokio::test]
async fn application_type_is_validated_and_echoed() {
    let f = start().await;
    let register = |metadata: Value| {
        let f = &f;
        async move {
            let response = f.register(metadata).await;
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let public = |extra: Value| {
        let mut m = json!({"token_endpoint_auth_method": "none", "redirect_uris": [REDIRECT]});
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    };

    // Native apps: loopback http and private-use schemes.
    let (status, body) = register(public(json!({
        "application_type": "native",
        "redirect_uris": [REDIRECT, "http://[::1]/cb", "cursor://anysphere.cursor-retrieval/oauth/callback"],
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["application_type"], "native");

    // Web apps: https, and (no implicit grant here) loopback too.
    let (status, body) = register(public(json!({
        "application_type": "web",
        "redirect_uris": ["https://app.example/callback", REDIRECT],
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["application_type"], "web");

    // Omitted: OpenID Connect's default, "web", is what was registered.
    let (status, body) = register(public(json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["application_type"], "web");

    // A native app cannot register an https redirect URI.
    let (status, body) = register(public(json!({
        "application_type": "native",
        "redirect_uris": ["https://app.example/callback"],
    })))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_redirect_uri");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("application_type"),
        "{body}"
    );

    for bad in [
        json!("desktop"),
        json!("Native"),
        json!(5),
        json!(["native"]),
    ] {
        let (status, body) = register(public(json!({"application_type": bad}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["error"], "invalid_client_metadata", "{bad}");
    }

    // The registered type is kept: the client works as registered.
    let (_, body) = register(public(json!({"application_type": "native"}))).await;
    let client = body["client_id"].as_str().unwrap();
    let (verifier, challenge) = pkce();
    let code = f.code_for(client, &challenge, "openid").await;
    let (status, body) = f.exchange_code(client, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn metadata_documents_may_declare_application_type() {
    let native = serve_document(|url| {
        json!({
            "client_id": url,
            "client_name": "Native Doc",
            "application_type": "native",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
        })
    })
    .await;
    let f = start_allowing(&native).await;
    let (_, challenge) = pkce();
    let page = f
        .authorize(&Fixture::auth_params(&native, &challenge, "openid"))
        .await;
    assert_eq!(page.status(), StatusCode::OK);

    let bogus = serve_document(|url| {
        json!({
            "client_id": url,
            "application_type": "desktop",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
        })
    })
    .await;
    let f = start_allowing(&bogus).await;
    let page = f
        .authorize(&Fixture::auth_params(&bogus, &challenge, "openid"))
        .await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
}
