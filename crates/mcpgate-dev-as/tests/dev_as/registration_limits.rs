//! Dynamic registration cannot be used to fill the disk: unknown metadata is
//! dropped, requests and fields are size-capped, the number of clients is
//! capped, and registrations are rate-limited per IP.

use mcpgate_dev_as::{
    DEFAULT_MAX_REGISTERED_CLIENTS, Error, MAX_REGISTRATION_BYTES, RateLimits, Storage,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Fixture, REDIRECT, TempDir, config, csrf_token, pkce, start, start_with};

fn unlimited() -> mcpgate_dev_as::DevAuthServerConfig {
    config().with_rate_limits(RateLimits::unlimited())
}

#[tokio::test]
async fn unknown_metadata_is_neither_stored_nor_echoed() {
    let dir = TempDir::new();
    let f = start_with(unlimited().with_data_dir(dir.path())).await;
    let junk = "j".repeat(4000);
    let response = f
        .register(json!({
            "client_name": "Junk Carrier",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
            "x_junk": junk,
            "logo_uri": "https://client.example/logo.png",
            "software_statement": "eyJ...",
            "jwks": {"keys": [{"kty": "oct", "k": junk}]},
            "client_id": "m2m_chosen_by_client",
            "client_secret": "chosen-by-client",
        }))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let mut fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "application_type",
            "client_id",
            "client_id_issued_at",
            "client_name",
            "grant_types",
            "redirect_uris",
            "response_types",
            "token_endpoint_auth_method",
        ]
    );
    let client_id = body["client_id"].as_str().unwrap();
    assert_ne!(client_id, "m2m_chosen_by_client");

    // What is on disk is just as lean.
    let db = rusqlite::Connection::open(dir.path().join("dev-as.sqlite3")).unwrap();
    let stored: String = db
        .query_row(
            "SELECT metadata FROM clients WHERE client_id = ?1",
            [client_id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(stored.len() < 400, "{stored}");
    for dropped in ["x_junk", "logo_uri", "software_statement", "jwks", "jjjj"] {
        assert!(!stored.contains(dropped), "{dropped} was stored: {stored}");
    }

    // The lean client still works.
    let (_, challenge) = pkce();
    let page = f
        .authorize(&Fixture::auth_params(client_id, &challenge, "openid"))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(!csrf_token(&page.text().await.unwrap()).is_empty());
}

#[tokio::test]
async fn oversized_registration_requests_are_refused() {
    let f = start_with(unlimited()).await;
    let padding = "p".repeat(MAX_REGISTRATION_BYTES);
    let response = f
        .register(json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "padding": padding}))
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Well under the cap, the same registration is fine.
    let response = f
        .register(json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "padding": "p"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn redirect_uris_and_lists_are_capped() {
    let f = start_with(unlimited()).await;
    let uris = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| format!("http://127.0.0.1:{}/cb", 7000 + i))
            .collect()
    };
    let ten = f
        .register(json!({"redirect_uris": uris(10), "token_endpoint_auth_method": "none"}))
        .await;
    assert_eq!(ten.status(), StatusCode::CREATED);

    let cases = [
        (
            json!({"redirect_uris": uris(11), "token_endpoint_auth_method": "none"}),
            "invalid_redirect_uri",
        ),
        (
            json!({
                "redirect_uris": [format!("https://client.example/{}", "a".repeat(1024))],
                "token_endpoint_auth_method": "none",
            }),
            "invalid_redirect_uri",
        ),
        (
            json!({
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none",
                "grant_types": vec!["authorization_code"; 9],
            }),
            "invalid_client_metadata",
        ),
        (
            json!({
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none",
                "client_name": "n".repeat(257),
            }),
            "invalid_client_metadata",
        ),
    ];
    for (metadata, code) in cases {
        let response = f.register(metadata).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], code, "{body}");
        // The refused value is not echoed back at length.
        assert!(body.to_string().len() < 600, "{body}");
    }

    // Repeated grant types are stored once.
    let body: Value = f
        .register(json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "authorization_code", "refresh_token"],
        }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
}

#[tokio::test]
async fn the_number_of_registered_clients_is_capped_with_a_clear_error() {
    let f = start_with(unlimited().with_max_registered_clients(3)).await;
    let metadata = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"});
    for _ in 0..3 {
        assert_eq!(
            f.register(metadata.clone()).await.status(),
            StatusCode::CREATED
        );
    }
    let response = f.register(metadata.clone()).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "access_denied");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains("3 registered clients") && description.contains("limit"),
        "{description}"
    );
    assert!(matches!(
        f.server.register_client(metadata),
        Err(Error::TooManyClients { limit: 3 })
    ));
}

#[tokio::test]
async fn the_default_client_cap_holds() {
    let f = start_with(config().with_storage(Storage::Memory)).await;
    let metadata = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"});
    for i in 0..DEFAULT_MAX_REGISTERED_CLIENTS {
        f.server
            .register_client(metadata.clone())
            .unwrap_or_else(|e| panic!("client {i}: {e}"));
    }
    let refused = f.server.register_client(metadata);
    assert!(
        matches!(refused, Err(Error::TooManyClients { limit }) if limit == DEFAULT_MAX_REGISTERED_CLIENTS),
        "{refused:?}"
    );
}

#[tokio::test]
async fn registration_is_rate_limited_per_ip() {
    let f = start().await;
    let metadata = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"});
    let mut created = 0;
    let mut limited = None;
    for _ in 0..100 {
        let response = f.register(metadata.clone()).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::CREATED);
        created += 1;
    }
    let limited = limited.expect("registration must be rate-limited");
    assert!(created >= 20, "the burst allows 20, got {created}");
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
}
