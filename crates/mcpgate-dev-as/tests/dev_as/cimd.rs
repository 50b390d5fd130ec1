//! Client ID Metadata Documents served by a tiny local axum server, which the
//! dev server may fetch from because its address is configured as a loopback
//! dev host (`with_cimd_loopback_hosts`).

use axum::Json;
use axum::routing::get;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{
    Fixture, REDIRECT, config, csrf_token, location_params, param, pkce, start_with,
};

/// A dev server allowed to fetch metadata documents from `client_id`'s host.
pub(crate) async fn start_allowing(client_id: &str) -> Fixture {
    let url = mcpgate_dev_as::Url::parse(client_id).unwrap();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    start_with(config().with_cimd_loopback_hosts([host])).await
}

/// Serves `/client.json` with `document(url)` on 127.0.0.1; returns the document URL.
pub(crate) async fn serve_document(document: impl Fn(&str) -> Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/client.json", listener.local_addr().unwrap());
    let body = document(&url);
    let app = axum::Router::new()
        .route("/client.json", get(move || async move { Json(body) }))
        .route(
            "/redirect.json",
            get(|| async { axum::response::Redirect::temporary("/client.json") }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn metadata_document_client_can_authorize_and_get_a_token() {
    let client_id = serve_document(|url| {
        json!({
            "client_id": url,
            "client_name": "Document Client",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
        })
    })
    .await;
    let f = start_allowing(&client_id).await;
    let (verifier, challenge) = pkce();
    let page = f
        .authorize(&Fixture::auth_params(
            &client_id,
            &challenge,
            "openid offline_access",
        ))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Document Client"));
    let response = f.decide(&csrf_token(&html), "approve", None).await;
    let (_, q) = location_params(&response);
    let code = param(&q, "code").unwrap();
    let (status, body) = f.exchange_code(&client_id, code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = f.verify(body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["client_id"], client_id);
    assert!(body["refresh_token"].is_string());
}

#[tokio::test]
async fn metadata_document_with_another_client_id_is_refused() {
    let client_id = serve_document(|_| {
        json!({
            "client_id": "https://impersonated.example/client.json",
            "client_name": "Impostor",
            "redirect_uris": [REDIRECT],
        })
    })
    .await;
    let f = start_allowing(&client_id).await;
    let (_, challenge) = pkce();
    let response = f
        .authorize(&Fixture::auth_params(&client_id, &challenge, "openid"))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
    assert!(!response.text().await.unwrap().contains("csrf_token"));
    let (status, body, _) = f
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("code", "x"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
}

#[tokio::test]
async fn metadata_documents_are_not_fetched_through_redirects_or_when_disabled() {
    let client_id =
        serve_document(|url| json!({"client_id": url, "redirect_uris": [REDIRECT]})).await;
    let f = start_allowing(&client_id).await;
    let redirecting = client_id.replace("/client.json", "/redirect.json");
    let (_, challenge) = pkce();
    let response = f
        .authorize(&Fixture::auth_params(&redirecting, &challenge, "openid"))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let url = mcpgate_dev_as::Url::parse(&client_id).unwrap();
    let off = start_with(
        config()
            .with_cimd_loopback_hosts([format!("127.0.0.1:{}", url.port().unwrap())])
            .with_client_id_metadata_documents(false),
    )
    .await;
    let response = off
        .authorize(&Fixture::auth_params(&client_id, &challenge, "openid"))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}
