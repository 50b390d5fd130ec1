//! Which web pages may use the registration, token and revocation endpoints:
//! MCP Inspector's origins, configured ones and the server's own get a CORS
//! grant naming them; any other origin is refused before the endpoint runs.

use mcpgate_dev_as::{DevAuthServer, Error};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{REDIRECT, config, start, start_with};

const FOREIGN: &str = "https://evil.example";

fn public_registration() -> Value {
    json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"})
}

#[tokio::test]
async fn a_foreign_origin_gets_no_cors_grant_and_cannot_cause_effects() {
    // Room for exactly one client: a registration that got through would use it.
    let f = start_with(config().with_max_registered_clients(1)).await;
    let register = f.register_url().replace(f.server.env_url(), "");
    for path in ["/oauth/token", "/oauth/revoke", register.as_str()] {
        for origin in [FOREIGN, "null", "http://localhost:6275"] {
            let preflight = f
                .http
                .request(reqwest::Method::OPTIONS, f.url(path))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .send()
                .await
                .unwrap();
            assert_eq!(preflight.status(), StatusCode::FORBIDDEN, "{path} {origin}");
            assert!(
                preflight
                    .headers()
                    .get("access-control-allow-origin")
                    .is_none(),
                "{path} {origin}"
            );
        }
    }

    // A "simple" request needs no preflight: it must be refused outright.
    let response = f
        .http
        .post(f.register_url())
        .header("origin", FOREIGN)
        .header("content-type", "text/plain")
        .body(public_registration().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "access_denied");
    assert!(body.get("client_id").is_none());

    let response = f
        .http
        .post(f.url("/oauth/token"))
        .header("origin", FOREIGN)
        .form(&[("grant_type", "client_credentials"), ("client_id", "m2m_1")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // The one free slot is still free: the refused registration stored nothing.
    let response = f.register(public_registration()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn allowed_origins_get_a_grant_naming_them() {
    let f = start_with(config().with_allowed_origins(["https://App.Example:8443"])).await;
    let own = f.server.env_url().to_owned();
    for origin in [
        "http://localhost:6274",
        "http://127.0.0.1:6274",
        "https://app.example:8443",
        own.as_str(),
    ] {
        let response = f
            .http
            .post(f.register_url())
            .header("origin", origin)
            .json(&public_registration())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{origin}");
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], origin);
        assert!(
            headers
                .get_all("vary")
                .iter()
                .any(|v| v.to_str().unwrap().contains("Origin")),
            "{origin}: the grant depends on Origin"
        );
        assert!(
            headers["access-control-expose-headers"]
                .to_str()
                .unwrap()
                .contains("Retry-After")
        );
    }
    // Requests without Origin (native clients) are served as before, without a grant.
    let response = f.register(public_registration()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn public_documents_stay_readable_from_any_origin() {
    let f = start().await;
    let res = f.server.resource_id();
    for path in [
        format!("/.well-known/oauth-authorization-server/resources/{res}"),
        format!("/resources/{res}/.well-known/oauth-authorization-server"),
        "/.well-known/openid-configuration".to_owned(),
        "/keys".to_owned(),
    ] {
        let response = f
            .http
            .get(f.url(&path))
            .header("origin", FOREIGN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
    }
}

#[tokio::test]
async fn an_allowed_origin_must_be_an_origin() {
    for bad in [
        "https://app.example/path",
        "app.example",
        "ftp://app.example",
        "*",
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let result = DevAuthServer::start(listener, config().with_allowed_origins([bad])).await;
        assert!(matches!(result, Err(Error::Config(_))), "{bad}");
    }
}
