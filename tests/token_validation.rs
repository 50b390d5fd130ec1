//! Bearer-token validation over real HTTP: one test per rule, each checking
//! the exact status and `WWW-Authenticate` answer of `POST /mcp` (initialize).

mod support;

use http::{HeaderValue, StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::*;

/// Asserts status and exact `WWW-Authenticate`.
#[track_caller]
fn assert_challenge(response: &reqwest::Response, status: StatusCode, expected: &str) {
    assert_eq!(response.status(), status, "status");
    assert_eq!(www_authenticate(response), expected, "WWW-Authenticate");
}

async fn assert_rejected(server: &TestServer, token: &str, description: &str) {
    let response = server.initialize(Some(token)).await;
    assert_challenge(
        &response,
        StatusCode::UNAUTHORIZED,
        &server.invalid_token(description),
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(body["error_description"], description);
}

async fn assert_accepted(server: &TestServer, token: &str) {
    let response = server.initialize(Some(token)).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{:?}",
        response.headers().get(header::WWW_AUTHENTICATE)
    );
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    let message = read_jsonrpc(response).await;
    assert_eq!(message["id"], 1);
    assert!(message["result"]["serverInfo"].is_object(), "{message}");
}

/// A token signed by the server's key under a custom (JSON) header.
fn forged(server: &TestServer, header: Value, claims: &Value) -> String {
    forge(&server.idp.signer(), &header, claims)
}

fn kid(server: &TestServer) -> String {
    server.idp.signer().kid().to_owned()
}

// --- the happy path and credentials -----------------------------------------

#[tokio::test]
async fn valid_scalekit_token_is_accepted() {
    let server = TestServer::start().await;
    let response = server.initialize(Some(&server.token())).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("mcp-session-id"));
    let message = read_jsonrpc(response).await;
    assert_eq!(
        message["result"]["serverInfo"]["name"],
        "My Scalekit Protected Server"
    );
}

#[tokio::test]
async fn machine_to_machine_token_with_scopes_array_is_accepted() {
    let server = TestServer::start().await;
    let claims = server.idp.machine_claims(&server.mcp_url, &["todo:read"]);
    assert_accepted(&server, &server.mint(&claims)).await;
}

#[tokio::test]
async fn missing_token_gets_bare_challenge_without_error() {
    let server = TestServer::start().await;
    let response = server.initialize(None).await;
    assert_challenge(
        &response,
        StatusCode::UNAUTHORIZED,
        &server.bare_challenge(),
    );
    assert_eq!(
        response.text().await.unwrap(),
        "",
        "no body without credentials"
    );
}

#[tokio::test]
async fn missing_token_challenge_names_required_scopes() {
    let server = TestServer::start_with(StandIn::start().await, |p| {
        p.required_scopes(["todo:read", "todo:write"])
    })
    .await;
    let response = server.initialize(None).await;
    let expected = format!(
        r#"Bearer scope="todo:read todo:write", resource_metadata="{}""#,
        server.metadata_url()
    );
    assert_challenge(&response, StatusCode::UNAUTHORIZED, &expected);
}

#[tokio::test]
async fn other_authorization_scheme_gets_bare_challenge() {
    let server = TestServer::start().await;
    let response = server
        .post(None)
        .header(header::AUTHORIZATION, "Basic dXNlcjpwYXNz")
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_challenge(
        &response,
        StatusCode::UNAUTHORIZED,
        &server.bare_challenge(),
    );
}

#[tokio::test]
async fn token_only_in_query_string_or_body_is_not_authentication() {
    let server = TestServer::start().await;
    let token = server.token();
    let in_query = server
        .http
        .post(format!("{}?access_token={token}", server.mcp_url))
        .header(header::ACCEPT, "application/json, text/event-stream")
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_challenge(
        &in_query,
        StatusCode::UNAUTHORIZED,
        &server.bare_challenge(),
    );

    let mut body = initialize_request();
    body["access_token"] = json!(token);
    body["params"]["access_token"] = json!(token);
    let in_body = server.post(None).json(&body).send().await.unwrap();
    assert_challenge(&in_body, StatusCode::UNAUTHORIZED, &server.bare_challenge());

    let in_form = server
        .http
        .post(&server.mcp_url)
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("access_token={token}"))
        .send()
        .await
        .unwrap();
    assert_challenge(&in_form, StatusCode::UNAUTHORIZED, &server.bare_challenge());
}

#[tokio::test]
async fn lowercase_bearer_scheme_is_accepted() {
    let server = TestServer::start().await;
    let response = server
        .post(None)
        .header(header::AUTHORIZATION, format!("bearer {}", server.token()))
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn malformed_authorization_header_is_invalid_request() {
    let server = TestServer::start().await;
    for (value, description) in [
        ("Bearer", "empty bearer token"),
        (
            "Bearer abc\"def",
            "bearer token has characters RFC 6750 does not allow",
        ),
    ] {
        let response = server
            .post(None)
            .header(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap())
            .json(&initialize_request())
            .send()
            .await
            .unwrap();
        assert_challenge(
            &response,
            StatusCode::BAD_REQUEST,
            &server.challenge("invalid_request", description),
        );
    }
}

#[tokio::test]
async fn two_credentials_in_one_header_are_invalid_request() {
    let server = TestServer::start().await;
    let (a, b) = (server.token(), server.token());
    for value in [format!("Bearer {a}, Bearer {b}"), format!("Bearer {a} {b}")] {
        let response = server
            .post(None)
            .header(header::AUTHORIZATION, value)
            .json(&initialize_request())
            .send()
            .await
            .unwrap();
        assert_challenge(
            &response,
            StatusCode::BAD_REQUEST,
            &server.challenge(
                "invalid_request",
                "more than one credential in Authorization",
            ),
        );
    }
}

#[tokio::test]
async fn two_authorization_headers_are_invalid_request() {
    let server = TestServer::start().await;
    let (a, b) = (server.token(), server.token());
    let mut headers = http::HeaderMap::new();
    headers.append(
        header::AUTHORIZATION,
        format!("Bearer {a}").parse().unwrap(),
    );
    headers.append(
        header::AUTHORIZATION,
        format!("Bearer {b}").parse().unwrap(),
    );
    let response = server
        .post(None)
        .headers(headers)
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_challenge(
        &response,
        StatusCode::BAD_REQUEST,
        &server.challenge("invalid_request", "multiple Authorization headers"),
    );
}

#[tokio::test]
async fn oversized_token_is_rejected_before_decoding() {
    let server = TestServer::start().await;
    server.idp.wait_for_keys_hits(1).await;
    let hits = server.idp.keys_hits();
    // A well-formed, validly signed token padded past 8 KiB, naming a kid we
    // do not have: decoding it would cost a JWKS fetch.
    let claims = with(server.claims(), "padding", json!("x".repeat(8 * 1024)));
    let token = forged(&server, scalekit_header("snk_000000000000000000"), &claims);
    assert!(token.len() > 8 * 1024);
    assert_rejected(&server, &token, "token too large").await;
    assert_eq!(
        server.idp.keys_hits(),
        hits,
        "no key lookup for an oversized token"
    );
}

#[tokio::test]
async fn token_of_exactly_eight_kib_is_not_too_large() {
    let server = TestServer::start().await;
    let token = "a".repeat(8 * 1024);
    assert_rejected(&server, &token, "malformed token").await;
}

// --- header --------------------------------------------------------------------

#[tokio::test]
async fn alg_none_is_rejected() {
    let server = TestServer::start().await;
    let header = json!({"alg": "none", "kid": kid(&server), "typ": "JWT"});
    let token = format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(server.claims().to_string().as_bytes())
    );
    assert_rejected(&server, &token, "unsupported algorithm").await;
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key_is_rejected() {
    let server = TestServer::start().await;
    let key = server.idp.signer();
    // Key confusion: HMAC keyed with the public key, in each form an attacker might try.
    let n = key.jwk()["n"].as_str().unwrap().to_owned();
    for secret in [
        n.as_bytes().to_vec(),
        server.idp.jwks().to_string().into_bytes(),
    ] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid().to_owned());
        header.typ = Some("JWT".into());
        let token = jsonwebtoken::encode(
            &header,
            &server.claims(),
            &EncodingKey::from_secret(&secret),
        )
        .unwrap();
        assert_rejected(&server, &token, "unsupported algorithm").await;
    }
}

#[tokio::test]
async fn other_rsa_algorithms_are_rejected() {
    let server = TestServer::start().await;
    let mut header = Header::new(Algorithm::RS512);
    header.kid = Some(kid(&server));
    let token = server
        .idp
        .signer()
        .sign_with_header(&header, &server.claims())
        .unwrap();
    assert_rejected(&server, &token, "unsupported algorithm").await;
}

#[tokio::test]
async fn missing_kid_is_rejected() {
    let server = TestServer::start().await;
    server.idp.wait_for_keys_hits(1).await;
    let hits = server.idp.keys_hits();
    let token = forged(
        &server,
        json!({"alg": "RS256", "typ": "JWT"}),
        &server.claims(),
    );
    assert_rejected(&server, &token, "token header has no kid").await;
    let token = forged(
        &server,
        json!({"alg": "RS256", "typ": "JWT", "kid": 7}),
        &server.claims(),
    );
    assert_rejected(&server, &token, "token header has no kid").await;
    assert_eq!(
        server.idp.keys_hits(),
        hits,
        "no JWKS fetch for a token without kid"
    );
}

#[tokio::test]
async fn unknown_kid_is_rejected_after_one_refetch() {
    let server = TestServer::start().await;
    server.idp.wait_for_keys_hits(1).await;
    let token = forged(
        &server,
        scalekit_header("snk_000000000000000000"),
        &server.claims(),
    );
    assert_rejected(&server, &token, "unknown signing key").await;
    assert_eq!(
        server.idp.keys_hits(),
        2,
        "the unknown kid caused exactly one refetch"
    );
}

#[tokio::test]
async fn key_selecting_header_parameters_are_rejected() {
    let server = TestServer::start().await;
    let jwk = server.idp.signer().jwk().clone();
    for (name, value) in [
        ("crit", json!(["exp"])),
        ("jku", json!("https://attacker.example/keys")),
        ("jwk", jwk),
        ("x5u", json!("https://attacker.example/cert.pem")),
        (
            "x5c",
            json!(["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]),
        ),
    ] {
        let mut header = scalekit_header(&kid(&server));
        header[name] = value;
        let token = forged(&server, header, &server.claims());
        assert_rejected(
            &server,
            &token,
            &format!("token header parameter `{name}` not allowed"),
        )
        .await;
    }
}

#[tokio::test]
async fn rfc9068_and_absent_typ_are_accepted() {
    let server = TestServer::start().await;
    for typ in [
        Some("at+jwt"),
        Some("application/at+jwt"),
        Some("JWT"),
        None,
    ] {
        let mut header = json!({"alg": "RS256", "kid": kid(&server)});
        if let Some(typ) = typ {
            header["typ"] = json!(typ);
        }
        assert_accepted(&server, &forged(&server, header, &server.claims())).await;
    }
}

#[tokio::test]
async fn unexpected_typ_is_rejected() {
    let server = TestServer::start().await;
    for typ in [
        json!("JOSE+foo"),
        json!("JOSE"),
        json!("id_token+jwt"),
        json!(1),
    ] {
        let header = json!({"alg": "RS256", "kid": kid(&server), "typ": typ});
        assert_rejected(
            &server,
            &forged(&server, header, &server.claims()),
            "unexpected token type",
        )
        .await;
    }
}

// --- time claims ---------------------------------------------------------------

#[tokio::test]
async fn expired_token_is_rejected_with_invalid_token() {
    let server = TestServer::start().await;
    let now = now();
    let claims = server.claims();
    let claims = with(
        with(
            with(claims, "exp", json!(now - 3600)),
            "iat",
            json!(now - 7200),
        ),
        "nbf",
        json!(now - 7200),
    );
    assert_rejected(&server, &server.mint(&claims), "token expired").await;
}

#[tokio::test]
async fn expired_token_within_leeway_is_accepted() {
    let server = TestServer::start().await;
    let claims = with(server.claims(), "exp", json!(now() - 30));
    assert_accepted(&server, &server.mint(&claims)).await;
}

#[tokio::test]
async fn configured_leeway_is_honoured() {
    let server = TestServer::start_with(StandIn::start().await, |p| {
        p.leeway(std::time::Duration::from_secs(0))
    })
    .await;
    let claims = with(server.claims(), "exp", json!(now() - 5));
    assert_rejected(&server, &server.mint(&claims), "token expired").await;
}

#[tokio::test]
async fn future_nbf_is_rejected() {
    let server = TestServer::start().await;
    let claims = with(server.claims(), "nbf", json!(now() + 3600));
    assert_rejected(&server, &server.mint(&claims), "token not yet valid").await;
}

#[tokio::test]
async fn future_iat_is_rejected() {
    let server = TestServer::start().await;
    let claims = with(server.claims(), "iat", json!(now() + 3600));
    assert_rejected(&server, &server.mint(&claims), "token issued in the future").await;
}

#[tokio::test]
async fn string_exp_is_rejected() {
    let server = TestServer::start().await;
    let claims = with(server.claims(), "exp", json!((now() + 3600).to_string()));
    assert_rejected(
        &server,
        &server.mint(&claims),
        "token claim `exp` is invalid",
    )
    .await;
    let claims = with(server.claims(), "exp", json!(now() as f64 + 3600.5));
    assert_rejected(
        &server,
        &server.mint(&claims),
        "token claim `exp` is invalid",
    )
    .await;
}

#[tokio::test]
async fn non_integer_nbf_and_iat_are_rejected() {
    let server = TestServer::start().await;
    let claims = with(server.claims(), "nbf", json!(now().to_string()));
    assert_rejected(
        &server,
        &server.mint(&claims),
        "token claim `nbf` is invalid",
    )
    .await;
    let claims = with(server.claims(), "iat", json!(now() as f64 + 0.5));
    assert_rejected(
        &server,
        &server.mint(&claims),
        "token claim `iat` is invalid",
    )
    .await;
}

#[tokio::test]
async fn missing_exp_is_rejected() {
    let server = TestServer::start().await;
    let claims = without(server.claims(), "exp");
    assert_rejected(
        &server,
        &server.mint(&claims),
        "token lacks the `exp` claim",
    )
    .await;
}

// --- issuer, audience, subject ----------------------------------------------------

#[tokio::test]
async fn missing_iss_is_rejected() {
    let server = TestServer::start().await;
    let claims = without(server.claims(), "iss");
    assert_rejected(
        &server,
        &server.mint(&claims),
        "token lacks the `iss` claim",
    )
    .await;
}

#[tokio::test]
async fn wrong_iss_is_rejected() {
    let server = TestServer::start().await;
    let env = server.idp.url().to_owned();
    for iss in [
        "https://attacker.scalekit.com".to_owned(),
        format!("{env}/"),
        format!("{env}/resources/res_999"),
        format!("{env}/resources/{}/", server.idp.res_id()),
    ] {
        let claims = with(server.claims(), "iss", json!(iss));
        assert_rejected(&server, &server.mint(&claims), "wrong issuer").await;
    }
}

#[tokio::test]
async fn both_scalekit_issuer_forms_are_accepted() {
    let server = TestServer::start().await;
    for iss in [server.idp.url().to_owned(), server.idp.resource_issuer()] {
        let claims = with(server.claims(), "iss", json!(iss));
        assert_accepted(&server, &server.mint(&claims)).await;
    }
}

#[tokio::test]
async fn missing_aud_is_rejected() {
    let server = TestServer::start().await;
    let claims = without(server.claims(), "aud");
    assert_rejected(
        &server,
        &server.mint(&claims),
        "token lacks the `aud` claim",
    )
    .await;
}

#[tokio::test]
async fn wrong_aud_is_rejected() {
    let server = TestServer::start().await;
    for aud in [
        json!(["res_999"]),
        json!(["http://127.0.0.1:1/mcp", "res_1"]),
        json!("https://other.example/mcp"),
        json!([format!("{}/", server.mcp_url)]),
        json!([]),
    ] {
        let claims = with(server.claims(), "aud", aud);
        assert_rejected(&server, &server.mint(&claims), "wrong audience").await;
    }
}

#[tokio::test]
async fn aud_with_only_the_resource_id_is_accepted() {
    let server = TestServer::start().await;
    let claims = with(server.claims(), "aud", json!([server.idp.res_id()]));
    assert_accepted(&server, &server.mint(&claims)).await;
}

#[tokio::test]
async fn aud_with_only_the_mcp_url_is_accepted() {
    let server = TestServer::start().await;
    let claims = with(server.claims(), "aud", json!([server.mcp_url]));
    assert_accepted(&server, &server.mint(&claims)).await;
}

#[tokio::test]
async fn aud_as_a_string_is_accepted() {
    let server = TestServer::start().await;
    let claims = with(server.claims(), "aud", json!(server.idp.res_id()));
    assert_accepted(&server, &server.mint(&claims)).await;
}

#[tokio::test]
async fn missing_sub_is_rejected() {
    let server = TestServer::start().await;
    let claims = without(server.claims(), "sub");
    assert_rejected(
        &server,
        &server.mint(&claims),
        "token lacks the `sub` claim",
    )
    .await;
}

#[tokio::test]
async fn empty_or_non_string_sub_is_rejected() {
    let server = TestServer::start().await;
    for sub in [json!(""), json!(42)] {
        let claims = with(server.claims(), "sub", sub);
        assert_rejected(
            &server,
            &server.mint(&claims),
            "token claim `sub` is invalid",
        )
        .await;
    }
}

// --- structure -------------------------------------------------------------------

#[tokio::test]
async fn token_without_three_segments_is_malformed() {
    let server = TestServer::start().await;
    let valid = server.token();
    let parts: Vec<&str> = valid.split('.').collect();
    for token in [
        parts[0].to_owned(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{valid}.{}", parts[2]),
    ] {
        assert_rejected(&server, &token, "malformed token").await;
    }
}

#[tokio::test]
async fn jwe_with_five_segments_is_malformed() {
    let server = TestServer::start().await;
    let header = b64(br#"{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"snk_1"}"#);
    let token = format!(
        "{header}.{}.{}.{}.{}",
        b64(b"key"),
        b64(b"iv"),
        b64(b"ciphertext"),
        b64(b"tag")
    );
    assert_rejected(&server, &token, "malformed token").await;
}

#[tokio::test]
async fn bad_base64_is_malformed() {
    let server = TestServer::start().await;
    let key = server.idp.signer();
    let header = b64(scalekit_header(key.kid()).to_string().as_bytes());
    let claims = b64(server.claims().to_string().as_bytes());
    // `+`, `/` and `~` are legal in an RFC 6750 b64token but not in base64url.
    for token in [
        forge_raw(&key, &format!("{header}~"), &claims),
        forge_raw(&key, &header, &format!("{claims}+/")),
        forge_raw(&key, "e", &claims),
    ] {
        assert_rejected(&server, &token, "malformed token").await;
    }
}

#[tokio::test]
async fn bad_json_is_malformed() {
    let server = TestServer::start().await;
    let key = server.idp.signer();
    let header = b64(scalekit_header(key.kid()).to_string().as_bytes());
    let claims = b64(server.claims().to_string().as_bytes());
    for token in [
        forge_raw(&key, &b64(b"{\"alg\":\"RS256\","), &claims),
        forge_raw(&key, &b64(b"[\"RS256\"]"), &claims),
        forge_raw(&key, &header, &b64(b"not json at all")),
        forge_raw(&key, &header, &b64(b"[1,2,3]")),
    ] {
        assert_rejected(&server, &token, "malformed token").await;
    }
}

#[tokio::test]
async fn tampered_claims_fail_the_signature_check() {
    let server = TestServer::start().await;
    let token = server.token();
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = server.claims();
    claims["sub"] = json!("usr_admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    );
    assert_rejected(&server, &tampered, "invalid signature").await;
}

// --- scopes --------------------------------------------------------------------

#[tokio::test]
async fn scope_scopes_and_scp_union_satisfies_required_scopes() {
    let server = TestServer::start_with(StandIn::start().await, |p| {
        p.required_scopes(["todo:read", "todo:write", "admin"])
    })
    .await;
    let claims = server.claims();
    let claims = with(claims, "scope", json!("openid todo:read"));
    let claims = with(claims, "scopes", json!(["todo:write"]));
    let claims = with(claims, "scp", json!(["admin"]));
    assert_accepted(&server, &server.mint(&claims)).await;
}

#[tokio::test]
async fn token_lacking_a_required_scope_gets_403_insufficient_scope() {
    let server = TestServer::start_with(StandIn::start().await, |p| {
        p.required_scopes(["todo:read", "todo:write"])
    })
    .await;
    let claims = with(server.claims(), "scope", json!("openid todo:read"));
    let response = server.initialize(Some(&server.mint(&claims))).await;
    let expected = format!(
        r#"Bearer error="insufficient_scope", error_description="this resource requires scope: openid todo:read todo:write", scope="openid todo:read todo:write", resource_metadata="{}""#,
        server.metadata_url()
    );
    assert_challenge(&response, StatusCode::FORBIDDEN, &expected);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
}

#[tokio::test]
async fn invalid_token_challenge_also_names_required_scopes() {
    let server =
        TestServer::start_with(StandIn::start().await, |p| p.required_scopes(["todo:read"])).await;
    let claims = with(server.claims(), "exp", json!(now() - 3600));
    let response = server.initialize(Some(&server.mint(&claims))).await;
    let expected = format!(
        r#"Bearer error="invalid_token", error_description="token expired", scope="todo:read", resource_metadata="{}""#,
        server.metadata_url()
    );
    assert_challenge(&response, StatusCode::UNAUTHORIZED, &expected);
}

// --- every request ----------------------------------------------------------------

#[tokio::test]
async fn every_request_in_a_session_is_validated() {
    let server = TestServer::start().await;
    let claims = server.claims();
    let token = server.mint(&claims);
    let session = server.open_session(&token).await;

    let ok = server.list_tools(Some(&token), &session).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        read_jsonrpc(ok).await["result"]["tools"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // The same principal, but the token has expired since.
    let expired = server.mint(&with(claims.clone(), "exp", json!(now() - 3600)));
    let response = server.list_tools(Some(&expired), &session).await;
    assert_challenge(
        &response,
        StatusCode::UNAUTHORIZED,
        &server.invalid_token("token expired"),
    );

    let response = server
        .list_tools(Some("garbage.garbage.garbage"), &session)
        .await;
    assert_challenge(
        &response,
        StatusCode::UNAUTHORIZED,
        &server.invalid_token("malformed token"),
    );

    let response = server.list_tools(None, &session).await;
    assert_challenge(
        &response,
        StatusCode::UNAUTHORIZED,
        &server.bare_challenge(),
    );

    // Notifications (202 path) are checked as well.
    let response = server
        .in_session(Some(&expired), &session)
        .json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .send()
        .await
        .unwrap();
    assert_challenge(
        &response,
        StatusCode::UNAUTHORIZED,
        &server.invalid_token("token expired"),
    );

    // The session itself is still fine for a valid token.
    assert_eq!(
        server.list_tools(Some(&token), &session).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_token_accepted_earlier_is_rejected_once_it_expires() {
    // Leeway 0 and a token that lives about two seconds: the first request
    // succeeds (and is remembered), the same token later must not.
    let server = TestServer::start_with(StandIn::start().await, |p| {
        p.leeway(std::time::Duration::ZERO)
    })
    .await;
    let exp = now() + 2;
    let token = server.mint(&with(server.claims(), "exp", json!(exp)));
    let session = server.open_session(&token).await;
    assert_eq!(
        server.list_tools(Some(&token), &session).await.status(),
        StatusCode::OK
    );
    while now() <= exp {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let response = server.list_tools(Some(&token), &session).await;
    assert_challenge(
        &response,
        StatusCode::UNAUTHORIZED,
        &server.invalid_token("token expired"),
    );
}

// --- challenge syntax ---------------------------------------------------------------

#[tokio::test]
async fn challenge_values_are_quoted_strings() {
    // Scopes may legally contain `,` `=` and `'`: unquoted they would split the header.
    let scopes = ["a,b=c", "x:y", "it's"];
    let server =
        TestServer::start_with(StandIn::start().await, |p| p.required_scopes(scopes)).await;

    let bare = server.initialize(None).await;
    let params = parse_bearer_challenge(&www_authenticate(&bare)).unwrap();
    assert_eq!(
        params,
        [
            ("scope".to_owned(), scopes.join(" ")),
            ("resource_metadata".to_owned(), server.metadata_url())
        ]
    );

    let mut header = scalekit_header(server.idp.signer().kid());
    header["jku"] = json!("https://attacker.example/keys");
    let token = forge(&server.idp.signer(), &header, &server.claims());
    let rejected = server.initialize(Some(&token)).await;
    let value = www_authenticate(&rejected);
    for param in ["error", "error_description", "scope", "resource_metadata"] {
        assert!(
            value.contains(&format!("{param}=\"")),
            "{param} is not a quoted-string in {value}"
        );
    }
    let params = parse_bearer_challenge(&value).unwrap();
    assert_eq!(
        params,
        [
            ("error".to_owned(), "invalid_token".to_owned()),
            (
                "error_description".to_owned(),
                "token header parameter `jku` not allowed".to_owned()
            ),
            ("scope".to_owned(), scopes.join(" ")),
            ("resource_metadata".to_owned(), server.metadata_url()),
        ]
    );

    let lacking = server.mint(&with(server.claims(), "scope", json!("a,b=c")));
    let forbidden = server.initialize(Some(&lacking)).await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let params = parse_bearer_challenge(&www_authenticate(&forbidden)).unwrap();
    assert_eq!(
        params[0],
        ("error".to_owned(), "insufficient_scope".to_owned())
    );
    assert_eq!(params[2], ("scope".to_owned(), scopes.join(" ")));
}
