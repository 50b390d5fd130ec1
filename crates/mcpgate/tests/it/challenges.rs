//! How authentication outcomes become HTTP answers at `POST /mcp`: the exact
//! status, `WWW-Authenticate` challenge and body for each kind of failure, and
//! that every request of a session is checked. The token rules themselves are
//! tested at the verifier, in `token_validation`.

use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::support::*;

/// Asserts status and exact `WWW-Authenticate`.
#[track_caller]
fn assert_challenge(response: &reqwest::Response, status: StatusCode, expected: &str) {
    assert_eq!(response.status(), status, "status");
    assert_eq!(www_authenticate(response), expected, "WWW-Authenticate");
}

// --- accepted ------------------------------------------------------------------------

#[tokio::test]
async fn valid_scalekit_token_is_accepted_over_http() {
    let server = TestServer::start().await;
    let response = server.initialize(Some(&server.token())).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    assert!(response.headers().contains_key("mcp-session-id"));
    let message = read_jsonrpc(response).await;
    assert_eq!(message["id"], 1);
    assert_eq!(
        message["result"]["serverInfo"]["name"],
        "My Scalekit Protected Server"
    );
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

// --- 401 without an error: no credentials ---------------------------------------------

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

// --- 401 invalid_token ------------------------------------------------------------------

#[tokio::test]
async fn rejected_token_gets_invalid_token_challenge_and_json_body() {
    let server = TestServer::start().await;
    let now = now();
    let claims = with(server.claims(), "exp", json!(now - 3600));
    let claims = with(claims, "iat", json!(now - 7200));
    let claims = with(claims, "nbf", json!(now - 7200));
    let response = server.initialize(Some(&server.mint(&claims))).await;
    assert_challenge(
        &response,
        StatusCode::UNAUTHORIZED,
        &server.invalid_token("token expired"),
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(body["error_description"], "token expired");
}

/// Rejections decided before any key lookup (size, structure, header) and
/// after it (signature, claims) answer alike.
#[tokio::test]
async fn every_kind_of_rejection_is_answered_with_its_description() {
    let server = TestServer::start().await;
    let claims = server.claims();
    let padded = with(claims.clone(), "padding", json!("x".repeat(8 * 1024)));
    let mut jku = scalekit_header(server.idp.signer().kid());
    jku["jku"] = json!("https://attacker.example/keys");
    for (token, description) in [
        (server.mint(&padded), "token too large"),
        ("a".repeat(8 * 1024), "malformed token"),
        (
            forge(&server.idp.signer(), &jku, &claims),
            "token header parameter `jku` not allowed",
        ),
        (
            server.mint(&with(claims.clone(), "aud", json!(["res_999"]))),
            "wrong audience",
        ),
    ] {
        let response = server.initialize(Some(&token)).await;
        assert_challenge(
            &response,
            StatusCode::UNAUTHORIZED,
            &server.invalid_token(description),
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
        assert_eq!(body["error_description"], description);
    }
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

// --- 400 invalid_request --------------------------------------------------------------------

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

// --- 403 insufficient_scope ----------------------------------------------------------------

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

// --- every request ----------------------------------------------------------------------

#[tokio::test]
async fn every_request_in_a_session_is_validated() {
    let server = TestServer::start().await;
    let claims = server.claims();
    let token = server.mint(&claims);
    let session = server.open_session(Some(&token)).await;

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

#[tokio::test]
async fn a_refused_request_with_an_unread_body_closes_its_connection_openly() {
    // A 401 is sent before the body is read; the connection cannot be reused
    // after that, and a client must be told so rather than find it dropped.
    let server = TestServer::start().await;
    let refused = server
        .post(None)
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused
            .headers()
            .get(header::CONNECTION)
            .map(|v| v.to_str().unwrap()),
        Some("close")
    );
    // An accepted request keeps its connection.
    let accepted = server.initialize(Some(&server.token())).await;
    assert_eq!(accepted.status(), StatusCode::OK);
    assert!(accepted.headers().get(header::CONNECTION).is_none());
}
