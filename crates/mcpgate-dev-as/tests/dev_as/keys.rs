//! Key rotation, persistence across restarts, and refusing to paper over a broken key.

use std::time::{Duration, Instant};

use mcpgate_dev_as::{DevAuthServer, Error, TokenRequest};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TempDir, config, start_with};

#[tokio::test]
async fn rotation_keeps_the_old_key_published_for_the_grace_period_then_drops_it() {
    // The grace runs on the server's wall clock (`SystemTime`), which a paused
    // tokio clock cannot move. So the JWKS is polled until the old key is gone,
    // and each observation is judged by a bound that load can only loosen: the
    // rotation happened after `rotating`, so a JWKS fetched less than GRACE
    // after `rotating` must still hold the old key, and one without it must
    // have been fetched at least GRACE after `rotating`. A slow machine makes
    // the observations later, never wrong.
    const GRACE: Duration = Duration::from_secs(2);
    // `retired_at` is stored in whole milliseconds.
    const ROUNDING: Duration = Duration::from_millis(1);
    let f = start_with(config().with_key_rotation_grace(GRACE)).await;
    let old_kid = f.server.current_kid();
    let old_token = f.server.mint_token(TokenRequest::new()).unwrap();

    let rotating = Instant::now();
    let new_kid = f.server.rotate_keys().await.unwrap();
    assert_ne!(new_kid, old_kid);
    assert!(new_kid.starts_with("snk_"));
    let new_token = f.server.mint_token(TokenRequest::new()).unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&new_token)
            .unwrap()
            .kid
            .as_deref(),
        Some(new_kid.as_str())
    );

    let deadline = rotating + Duration::from_secs(30);
    let mut seen_during_grace = 0;
    loop {
        let jwks = f.jwks().await;
        let fetched_by = rotating.elapsed();
        let kids: Vec<String> = jwks
            .keys
            .iter()
            .filter_map(|k| k.common.key_id.clone())
            .collect();
        f.verify_with(&jwks, &new_token);
        if kids.contains(&old_kid) {
            assert_eq!(
                kids,
                [new_kid.clone(), old_kid.clone()],
                "new signer first, old one still published"
            );
            // Tokens the old key signed keep verifying while it is published.
            f.verify_with(&jwks, &old_token);
            seen_during_grace += 1;
        } else {
            assert!(
                fetched_by + ROUNDING >= GRACE,
                "the old key was dropped {fetched_by:?} after the rotation, before its {GRACE:?} grace ended"
            );
            assert_eq!(kids, std::slice::from_ref(&new_kid));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the old key is still published {:?} after a rotation with a {GRACE:?} grace",
            rotating.elapsed()
        );
        // Polling interval, not synchronisation: each fetch is judged on its own.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Only a machine stalled for the whole grace sees no fetch inside it; the
    // bounds above still held for every fetch it made.
    if seen_during_grace == 0 {
        eprintln!("note: no JWKS fetch completed within the {GRACE:?} grace");
    }
}

#[tokio::test]
async fn admin_rotation_endpoint_answers_loopback_only_and_not_to_web_pages() {
    let f = start_with(config()).await;
    let before = f.server.current_kid();
    let response = f
        .http
        .post(f.url("/admin/rotate-keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let kid = response.json::<Value>().await.unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(kid, before);
    assert_eq!(f.server.current_kid(), kid);
    let response = f
        .http
        .post(f.url("/admin/rotate-keys"))
        .header("origin", "https://any.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn clients_keys_and_ids_survive_a_restart_on_the_same_data_dir() {
    let dir = TempDir::new();
    let first = start_with(config().with_data_dir(dir.path())).await;
    let registered: Value = first
        .register(json!({"token_endpoint_auth_method": "client_secret_post", "grant_types": ["client_credentials"]}))
        .await
        .json()
        .await
        .unwrap();
    let (id, secret) = (
        registered["client_id"].as_str().unwrap(),
        registered["client_secret"].as_str().unwrap(),
    );
    let kid = first.server.current_kid();
    let resource_id = first.server.resource_id().to_owned();
    let user = first.server.dev_user_id().to_owned();
    first.server.shutdown().await.unwrap();
    assert!(dir.path().join("dev-as.sqlite3").is_file());

    let second = start_with(config().with_data_dir(dir.path())).await;
    assert_eq!(
        second.server.current_kid(),
        kid,
        "same key, not regenerated"
    );
    assert_eq!(second.server.resource_id(), resource_id);
    assert_eq!(second.server.dev_user_id(), user);
    let (status, body, _) = second
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = second.verify(body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], id);

    // A rotation is persisted too: both keys come back after another restart.
    let rotated = second.server.rotate_keys().await.unwrap();
    second.server.shutdown().await.unwrap();
    let third = start_with(config().with_data_dir(dir.path())).await;
    assert_eq!(third.server.current_kid(), rotated);
    let kids: Vec<String> = third
        .jwks()
        .await
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    assert_eq!(kids, [rotated, kid]);
    third.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_corrupt_stored_key_is_an_error_naming_the_file_not_a_new_key() {
    let dir = TempDir::new();
    let f = start_with(config().with_data_dir(dir.path())).await;
    f.server.shutdown().await.unwrap();
    let db = dir.path().join("dev-as.sqlite3");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute("UPDATE signing_keys SET pkcs8 = x'00010203'", [])
            .unwrap();
    }
    let err = DevAuthServer::new(config().with_data_dir(dir.path()), "http://127.0.0.1:1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LoadKey { .. }), "{err}");
    assert!(err.to_string().contains(&db.display().to_string()), "{err}");
}

#[tokio::test]
async fn a_requested_signing_algorithm_rotates_a_stored_key_of_another_kind() {
    use mcpgate_dev_as::KeyAlgorithm;
    let alg_of = |token: &str| -> Value {
        use base64::Engine;
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap();
        serde_json::from_slice::<Value>(&header).unwrap()["alg"].clone()
    };
    let dir = TempDir::new();
    let first = start_with(config().with_data_dir(dir.path())).await;
    let rsa_kid = first.server.current_kid();
    assert_eq!(
        alg_of(&first.server.mint_token(TokenRequest::new()).unwrap()),
        "RS256"
    );
    first.server.shutdown().await.unwrap();

    // Asked for ES256: a new P-256 key signs; the RSA key stays published.
    let second = start_with(
        config()
            .with_data_dir(dir.path())
            .with_signing_algorithm(KeyAlgorithm::Es256),
    )
    .await;
    let ec_kid = second.server.current_kid();
    assert_ne!(ec_kid, rsa_kid);
    assert_eq!(
        alg_of(&second.server.mint_token(TokenRequest::new()).unwrap()),
        "ES256"
    );
    let jwks = second.server.jwks();
    let published: Vec<(&str, &str)> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap(), k["alg"].as_str().unwrap()))
        .collect();
    assert!(published.contains(&(rsa_kid.as_str(), "RS256")), "{jwks}");
    assert!(published.contains(&(ec_kid.as_str(), "ES256")), "{jwks}");
    // Rotation keeps the kind; a restart without a request keeps the key.
    let rotated = second.server.rotate_keys().await.unwrap();
    assert_eq!(
        alg_of(&second.server.mint_token(TokenRequest::new()).unwrap()),
        "ES256"
    );
    second.server.shutdown().await.unwrap();
    let third = start_with(config().with_data_dir(dir.path())).await;
    assert_eq!(third.server.current_kid(), rotated);
}
