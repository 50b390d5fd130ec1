//! The HTTP surface around the MCP endpoint: RFC 9728 metadata, the RFC 8414
//! forwarder, path spellings, Origin and Host checks, CORS, unknown paths.

use std::time::Duration;

use http::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::support::*;

const PRM_ROOT: &str = "/.well-known/oauth-protected-resource";
const PRM_MCP: &str = "/.well-known/oauth-protected-resource/mcp";
const AS_ROOT: &str = "/.well-known/oauth-authorization-server";
const AS_MCP: &str = "/.well-known/oauth-authorization-server/mcp";

async fn get(server: &TestServer, path: &str) -> reqwest::Response {
    server
        .http
        .get(format!("{}{path}", server.base))
        .send()
        .await
        .unwrap()
}

fn header_str<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

// --- protected resource metadata ----------------------------------------------------

#[tokio::test]
async fn protected_resource_metadata_is_served_at_path_and_root_identically() {
    let server = TestServer::start().await;
    let at_path = get(&server, PRM_MCP).await;
    let at_root = get(&server, PRM_ROOT).await;
    for response in [&at_path, &at_root] {
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header_str(response, "content-type"),
            Some("application/json")
        );
        assert_eq!(
            header_str(response, "cache-control"),
            Some("public, max-age=3600")
        );
        assert_eq!(
            header_str(response, "access-control-allow-origin"),
            Some("*")
        );
    }
    let (path_body, root_body) = (
        at_path.bytes().await.unwrap(),
        at_root.bytes().await.unwrap(),
    );
    assert_eq!(path_body, root_body, "identical documents");
    let document: Value = serde_json::from_slice(&path_body).unwrap();
    assert_eq!(
        document,
        json!({
            "resource": server.mcp_url,
            "authorization_servers": [server.idp.resource_issuer()],
            "bearer_methods_supported": ["header"],
        }),
        "no empty scopes_supported, no unset optional fields"
    );
}

#[tokio::test]
async fn resource_matches_the_mcp_url_and_the_challenge_metadata_url() {
    let server = TestServer::start().await;
    let challenge = www_authenticate(&server.initialize(None).await);
    let params = parse_bearer_challenge(&challenge).unwrap();
    let (name, metadata_url) = params.last().unwrap();
    assert_eq!(name, "resource_metadata");
    assert_eq!(
        metadata_url,
        &server.metadata_url(),
        "RFC 9728 path insertion"
    );

    // Follow the challenge the way a client does.
    let response = server.http.get(metadata_url).send().await.unwrap();
    let raw = response.text().await.unwrap();
    assert!(
        raw.contains(&format!(r#""resource":"{}""#, server.mcp_url)),
        "byte-identical resource in {raw}"
    );
    let document: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(document["resource"], server.mcp_url);
}

#[tokio::test]
async fn metadata_lists_scopes_name_and_documentation_when_set() {
    let server = TestServer::start_with(StandIn::start().await, |p| {
        p.required_scopes(["todo:read"])
            .resource_name("Todo MCP")
            .resource_documentation("https://docs.example.com/todo-mcp")
    })
    .await;
    let document: Value = get(&server, PRM_MCP).await.json().await.unwrap();
    assert_eq!(
        document["scopes_supported"],
        json!(["todo:read"]),
        "defaults to the required scopes"
    );
    assert_eq!(document["resource_name"], "Todo MCP");
    assert_eq!(
        document["resource_documentation"],
        "https://docs.example.com/todo-mcp"
    );

    let server = TestServer::start_with(StandIn::start().await, |p| {
        p.scopes_supported(["todo:read", "todo:write"])
    })
    .await;
    let document: Value = get(&server, PRM_ROOT).await.json().await.unwrap();
    assert_eq!(
        document["scopes_supported"],
        json!(["todo:read", "todo:write"])
    );
    assert!(document.get("resource_name").is_none());
}

#[tokio::test]
async fn metadata_preflight_is_204_with_cors() {
    let server = TestServer::start().await;
    for path in [PRM_MCP, PRM_ROOT, AS_ROOT, AS_MCP] {
        let response = server
            .http
            .request(Method::OPTIONS, format!("{}{path}", server.base))
            .header(header::ORIGIN, "https://inspector.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{path}");
        assert_eq!(
            header_str(&response, "access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
        assert!(
            header_str(&response, "access-control-allow-methods")
                .unwrap()
                .contains("GET"),
            "{path}"
        );
    }
}

// --- authorization server metadata forwarder -------------------------------------------

#[tokio::test]
async fn authorization_server_metadata_is_forwarded_and_cached() {
    let server = TestServer::start().await;
    for path in [AS_ROOT, AS_MCP, AS_ROOT] {
        let response = get(&server, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header_str(&response, "content-type"),
            Some("application/json")
        );
        assert_eq!(
            header_str(&response, "access-control-allow-origin"),
            Some("*")
        );
        assert_eq!(
            response.text().await.unwrap(),
            server.idp.metadata_body(),
            "forwarded verbatim"
        );
    }
    assert_eq!(
        server.idp.metadata_hits(),
        1,
        "later requests are served from the cache"
    );
}

/// Single flight: the lock around the cache is held across the upstream
/// fetch, so a burst of cold requests costs the authorization server one hit.
/// The stand-in answers after 500 ms, so the burst arrives while the first
/// fetch is still running; were the requests to trickle in after it instead,
/// they would be served from the cache and the test would still pass, so
/// the delay only gives it the chance to fail, never a cause to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cold_requests_share_one_upstream_fetch() {
    let idp = StandIn::start().await;
    idp.set_metadata_delay(Duration::from_millis(500));
    let server = TestServer::start_with(idp, |p| p).await;
    assert_eq!(server.idp.metadata_hits(), 0, "cold: nothing fetched yet");
    let answers = futures::future::join_all((0..20).map(|i| {
        let server = &server;
        async move {
            let path = if i % 2 == 0 { AS_ROOT } else { AS_MCP };
            let response = get(server, path).await;
            (response.status(), response.text().await.unwrap())
        }
    }))
    .await;
    assert_eq!(
        server.idp.metadata_hits(),
        1,
        "20 concurrent cold requests, one upstream fetch"
    );
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK);
        assert_eq!(body, server.idp.metadata_body(), "forwarded verbatim");
    }
    assert!(
        answers.windows(2).all(|pair| pair[0] == pair[1]),
        "all 20 answers identical"
    );
}

#[tokio::test]
async fn forwarder_serves_the_stale_copy_when_the_upstream_fails() {
    let server = TestServer::start().await;
    assert_eq!(get(&server, AS_ROOT).await.status(), StatusCode::OK);
    assert_eq!(server.idp.metadata_hits(), 1);

    // Move past the freshness lifetime (minutes) without waiting for it.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(301)).await;
    tokio::time::resume();

    server.idp.set_metadata_failing(true);
    let response = get(&server, AS_MCP).await;
    assert_eq!(
        server.idp.metadata_hits(),
        2,
        "the copy was due for a refresh"
    );
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "stale copy while upstream fails"
    );
    assert_eq!(response.text().await.unwrap(), server.idp.metadata_body());
}

#[tokio::test]
async fn forwarder_without_a_copy_answers_502_without_upstream_details() {
    let idp = StandIn::start().await;
    idp.set_metadata_failing(true);
    let server = TestServer::start_with(idp, |p| p).await;
    let response = get(&server, AS_ROOT).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        header_str(&response, "access-control-allow-origin"),
        Some("*")
    );
    let body = response.text().await.unwrap();
    assert!(
        !body.contains("upstream-diagnostic"),
        "upstream error text leaked: {body}"
    );
    assert!(
        !body.contains(server.idp.url()),
        "upstream URL leaked: {body}"
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
}

// --- the MCP endpoint --------------------------------------------------------------------

#[tokio::test]
async fn mcp_endpoint_is_served_with_and_without_trailing_slash() {
    let server = TestServer::start().await;
    for url in [server.mcp_url.clone(), format!("{}/", server.mcp_url)] {
        let response = server
            .http
            .post(&url)
            .bearer_auth(server.token())
            .header(header::ACCEPT, "application/json, text/event-stream")
            .json(&initialize_request())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url} (no redirect)");
        assert_eq!(read_jsonrpc(response).await["id"], 1);
    }
}

#[tokio::test]
async fn foreign_origin_is_refused_before_authentication() {
    let server = TestServer::start().await;
    for token in [None, Some(server.token())] {
        let response = server
            .post(token.as_deref())
            .header(header::ORIGIN, "https://evil.example")
            .json(&initialize_request())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(
            response.headers().get(header::WWW_AUTHENTICATE).is_none(),
            "refused before auth"
        );
        assert!(
            response
                .headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["jsonrpc"], "2.0");
        assert_eq!(body["id"], Value::Null);
    }
    // `null` (sandboxed frames, file://) and a look-alike port are foreign too.
    for origin in [
        "null",
        &format!("http://127.0.0.1:{}", server.port + 1),
        &format!("https://127.0.0.1:{}", server.port),
    ] {
        let response = server
            .post(None)
            .header(header::ORIGIN, origin)
            .json(&initialize_request())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{origin}");
    }
}

#[tokio::test]
async fn own_origin_passes_and_is_echoed_with_exposed_headers() {
    let server = TestServer::start().await;
    let origin = server.base.clone();

    let ok = server
        .post(Some(&server.token()))
        .header(header::ORIGIN, &origin)
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        header_str(&ok, "access-control-allow-origin"),
        Some(origin.as_str())
    );
    let exposed = header_str(&ok, "access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("mcp-session-id"), "{exposed}");

    // A browser must be able to read the challenge of a 401.
    let challenged = server
        .post(None)
        .header(header::ORIGIN, &origin)
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(challenged.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header_str(&challenged, "access-control-allow-origin"),
        Some(origin.as_str())
    );
    let exposed = header_str(&challenged, "access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.split(',').any(|h| h.trim() == "www-authenticate"),
        "{exposed}"
    );
    assert_eq!(www_authenticate(&challenged), server.bare_challenge());

    // Every loopback spelling of the MCP URL's origin is the same server.
    let localhost = format!("http://localhost:{}", server.port);
    let ok = server
        .post(Some(&server.token()))
        .header(header::ORIGIN, &localhost)
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn extra_allowed_origin_passes() {
    let server = TestServer::start_server(
        StandIn::start().await,
        |p| p,
        |s| s.allow_origin("http://localhost:6274"),
    )
    .await;
    let response = server
        .post(Some(&server.token()))
        .header(header::ORIGIN, "http://localhost:6274")
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_str(&response, "access-control-allow-origin"),
        Some("http://localhost:6274")
    );
}

#[tokio::test]
async fn preflight_passes_without_a_token() {
    let server = TestServer::start().await;
    let response = server
        .http
        .request(Method::OPTIONS, &server.mcp_url)
        .header(header::ORIGIN, &server.base)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization, content-type, mcp-session-id",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    assert_eq!(
        header_str(&response, "access-control-allow-origin"),
        Some(server.base.as_str())
    );
    let methods = header_str(&response, "access-control-allow-methods").unwrap();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let allowed = header_str(&response, "access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "authorization",
        "content-type",
        "mcp-session-id",
        "mcp-protocol-version",
    ] {
        assert!(allowed.contains(name), "{name} not in {allowed}");
    }

    let foreign = server
        .http
        .request(Method::OPTIONS, &server.mcp_url)
        .header(header::ORIGIN, "https://evil.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn foreign_host_is_misdirected_on_every_route() {
    let server = TestServer::start().await;
    let token = server.token();
    let response = server
        .post(Some(&token))
        .header(header::HOST, "evil.example")
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST);
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());

    for path in [PRM_MCP, AS_ROOT, "/nope"] {
        let response = server
            .http
            .get(format!("{}{path}", server.base))
            .header(header::HOST, format!("evil.example:{}", server.port))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST, "{path}");
    }
    // The same request with our own Host is fine.
    let response = server
        .post(Some(&token))
        .header(header::HOST, format!("localhost:{}", server.port))
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_path_is_404_not_401() {
    let server = TestServer::start().await;
    for path in [
        "/",
        "/nope",
        "/mcp/extra",
        "/.well-known/openid-configuration",
    ] {
        let response = get(&server, path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            response.headers().get(header::WWW_AUTHENTICATE).is_none(),
            "{path}"
        );
    }
    let response = server
        .http
        .post(format!("{}/mcp-admin", server.base))
        .header(header::ORIGIN, "https://evil.example")
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "no MCP guard on unknown paths"
    );
}
