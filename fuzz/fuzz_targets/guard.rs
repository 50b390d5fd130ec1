//! JSON-RPC requests through the whole protected endpoint:
//! `ProtectedEndpoint::new(resource).into_router(stub)`, driven in process.
//!
//! Input: up to 4 requests separated by a line `---`. Each is made of lines:
//! `M method`, `P path`, `A authorization`, `O origin`, `H host`,
//! `S session-id`, `C content-type`, `X name: value`, and `B` followed by the
//! body (every later line of the request). Header lines may repeat. In `A`
//! lines, `$alice`, `$carol`, `$alice_app2` (valid, with the required scope),
//! `$noscope`, `$expired`, `$wrong_aud`, `$wrong_iss` and `$unpublished` stand
//! for tokens minted at start; in `S` lines `$last` is the session id the stub
//! last issued. Without `M`/`P` a request is `POST /mcp`.
//!
//! The stub MCP service answers like an MCP server: `initialize` without a
//! session opens one (`Mcp-Session-Id`), an unknown session gets rmcp's bare
//! 404, `DELETE` of a session ends it with 202, anything else is echoed.
//!
//! Asserts: every answer is an HTTP response with a status from the guard's
//! or the stub's repertoire (never 5xx); the stub is reached only with a
//! valid token carrying the required scope, an allowed Host and Origin, no
//! `Authorization` header left, the verified caller attached and the body
//! unchanged; a session is only ever used by the principal that opened it;
//! every 401 carries a challenge pointing at the metadata; the metadata
//! document names the resource.

#![no_main]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, ORIGIN, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use mcpgate_auth::http::ProtectedEndpoint;
use mcpgate_auth::{AccessToken, McpUrl, ProtectedResource};
use mcpgate_fuzz::{ISSUER, MCP_URL, Signer, now, runtime, sign_claims, sign_raw, verifier};
use serde_json::{Value, json};
use tower::ServiceExt;

const SESSION: &str = "mcp-session-id";
const REQUIRED_SCOPE: &str = "mcp:tools";
const PRM_URL: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

/// Tokens by placeholder; the first three may reach the stub.
fn tokens() -> &'static Vec<(&'static str, String)> {
    static TOKENS: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let t = now();
        let claims = |sub: &str, client: &str, scope: &str| {
            json!({"iss": ISSUER, "aud": [MCP_URL, "res_1"], "sub": sub, "client_id": client,
                   "scope": scope, "exp": t + 30 * 86400, "iat": t, "jti": format!("{sub}-{client}")})
        };
        let good = claims("alice", "app1", "mcp:tools mcp:read");
        let mut expired = good.clone();
        expired["exp"] = json!(t - 3600);
        expired["iat"] = json!(t - 7200);
        let mut wrong_aud = good.clone();
        wrong_aud["aud"] = json!("https://other.example.com/mcp");
        let mut wrong_iss = good.clone();
        wrong_iss["iss"] = json!("https://evil.example.com");
        vec![
            ("$alice_app2", sign_claims(&claims("alice", "app2", "mcp:tools"))),
            ("$alice", sign_claims(&good)),
            ("$carol", sign_claims(&claims("carol", "app1", "mcp:tools"))),
            ("$noscope", sign_claims(&claims("bob", "app1", "mcp:read"))),
            ("$expired", sign_claims(&expired)),
            ("$wrong_aud", sign_claims(&wrong_aud)),
            ("$wrong_iss", sign_claims(&wrong_iss)),
            (
                "$unpublished",
                sign_raw(
                    Signer::Unpublished,
                    br#"{"alg":"RS256","typ":"JWT","kid":"snk_fuzz_a"}"#,
                    &serde_json::to_vec(&good).expect("JSON"),
                ),
            ),
        ]
    })
}

fn resource() -> &'static ProtectedResource {
    static RESOURCE: OnceLock<ProtectedResource> = OnceLock::new();
    RESOURCE.get_or_init(|| {
        ProtectedResource::builder(McpUrl::parse(MCP_URL).expect("URL"), verifier().clone())
            .authorization_server(ISSUER)
            .required_scopes([REQUIRED_SCOPE])
            .build()
            .expect("valid resource")
    })
}

#[derive(Default)]
struct Stub {
    /// Session id → (sub, client_id) of the principal that opened it.
    sessions: HashMap<String, (String, Option<String>)>,
    next: u32,
    /// What the stub saw of the last request that reached it.
    reached: Option<(Option<Vec<u8>>, Bytes)>,
    last_issued: Option<String>,
}

fn rpc(status: StatusCode, id: Value, result: Value) -> Response {
    (
        status,
        axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})),
    )
        .into_response()
}

async fn serve(stub: Arc<Mutex<Stub>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    assert!(
        !parts.headers.contains_key(AUTHORIZATION),
        "Authorization reached the MCP service"
    );
    let access = parts
        .extensions
        .get::<Arc<AccessToken>>()
        .expect("the verified caller reaches the MCP service")
        .clone();
    assert!(
        access.scopes().contains(REQUIRED_SCOPE),
        "a caller without the required scope"
    );
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("an in-memory body");
    let session = parts.headers.get(SESSION).map(|v| v.as_bytes().to_vec());
    let mut stub = stub.lock().unwrap();
    stub.reached = Some((session.clone(), body.clone()));
    let me = (
        access.subject().to_owned(),
        access.client_id().map(str::to_owned),
    );
    let message: Option<Value> = serde_json::from_slice(&body).ok();
    let id = message
        .as_ref()
        .and_then(|m| m.get("id"))
        .cloned()
        .unwrap_or(Value::Null);

    if let Some(session) = session {
        let session = String::from_utf8_lossy(&session).into_owned();
        match stub.sessions.get(&session) {
            None => return (StatusCode::NOT_FOUND, "Session not found").into_response(),
            Some(owner) => assert_eq!(owner, &me, "session {session:?} used by another principal"),
        }
        if parts.method == Method::DELETE {
            stub.sessions.remove(&session);
            return StatusCode::ACCEPTED.into_response();
        }
        return rpc(StatusCode::OK, id, json!({}));
    }
    let Some(message) = message else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"jsonrpc": "2.0", "id": null,
                "error": {"code": -32700, "message": "Parse error"}})),
        )
            .into_response();
    };
    if message.get("method").and_then(Value::as_str) == Some("initialize") {
        stub.next += 1;
        let new = format!("sess-{}", stub.next);
        stub.sessions.insert(new.clone(), me);
        stub.last_issued = Some(new.clone());
        let mut response = rpc(StatusCode::OK, id, json!({"protocolVersion": "2025-06-18"}));
        response
            .headers_mut()
            .insert(SESSION, HeaderValue::from_str(&new).expect("ASCII"));
        return response;
    }
    rpc(StatusCode::OK, id, json!({}))
}

struct Sent {
    request: Request,
    authorizations: Vec<Vec<u8>>,
    body: Bytes,
}

fn build(block: &[u8], last_session: Option<&str>) -> Option<Sent> {
    let mut builder = Request::builder().method(Method::POST).uri("/mcp");
    let mut authorizations = Vec::new();
    let mut body = Vec::new();
    let mut lines = block.split(|b| *b == b'\n');
    while let Some(line) = lines.next() {
        let (tag, value) = match line {
            [tag, b' ', rest @ ..] => (*tag, rest),
            [tag] => (*tag, &[][..]),
            _ => continue,
        };
        if tag == b'B' {
            body.extend_from_slice(value);
            for rest in lines.by_ref() {
                body.push(b'\n');
                body.extend_from_slice(rest);
            }
            break;
        }
        let header =
            |name: HeaderName, value: &[u8]| HeaderValue::from_bytes(value).ok().map(|v| (name, v));
        let set = match tag {
            b'M' => {
                builder = builder.method(Method::from_bytes(value).ok()?);
                None
            }
            b'P' => {
                builder = builder.uri(std::str::from_utf8(value).ok()?);
                None
            }
            b'A' => {
                let text = String::from_utf8_lossy(value);
                let mut replaced = text.to_string();
                for (name, token) in tokens() {
                    replaced = replaced.replace(name, token);
                }
                let bytes = if replaced == text {
                    value.to_vec()
                } else {
                    replaced.into_bytes()
                };
                let h = header(AUTHORIZATION, &bytes);
                if h.is_some() {
                    authorizations.push(bytes);
                }
                h
            }
            b'O' => header(ORIGIN, value),
            b'H' => header(HOST, value),
            b'S' if value == b"$last" => {
                header(HeaderName::from_static(SESSION), last_session?.as_bytes())
            }
            b'S' => header(HeaderName::from_static(SESSION), value),
            b'C' => header(CONTENT_TYPE, value),
            b'X' => {
                let text = std::str::from_utf8(value).ok()?;
                let (name, v) = text.split_once(':')?;
                let name = HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
                header(name, v.trim().as_bytes())
            }
            _ => None,
        };
        if let Some((name, value)) = set {
            builder = builder.header(name, value);
        }
    }
    let body = Bytes::from(body);
    let request = builder.body(Body::from(body.clone())).ok()?;
    Some(Sent {
        request,
        authorizations,
        body,
    })
}

fn host_allowed(request: &Request) -> bool {
    let host = request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or(request.uri().authority().map(|a| a.as_str()));
    host.is_some_and(|h| {
        matches!(
            h.trim().to_ascii_lowercase().as_str(),
            "mcp.example.com" | "mcp.example.com:443"
        )
    })
}

fn origin_allowed(request: &Request) -> bool {
    let origins: Vec<_> = request.headers().get_all(ORIGIN).iter().collect();
    match origins.as_slice() {
        [] => true,
        [one] => one
            .to_str()
            .ok()
            .and_then(|o| url::Url::parse(o.trim()).ok())
            .is_some_and(|u| {
                (u.path() == "/" || u.path().is_empty())
                    && u.origin().ascii_serialization() == "https://mcp.example.com"
            }),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let stub = Arc::new(Mutex::new(Stub::default()));
    let service = {
        let stub = stub.clone();
        tower::service_fn(move |request: Request| {
            let stub = stub.clone();
            async move { Ok::<_, Infallible>(serve(stub, request).await) }
        })
    };
    let router = ProtectedEndpoint::new(resource().clone())
        .into_router(service)
        .expect("a valid endpoint");
    let good: Vec<&str> = tokens()[..3].iter().map(|(_, t)| t.as_str()).collect();

    let mut rest = data;
    for _ in 0..4 {
        let (block, tail) = match rest.windows(5).position(|w| w == b"\n---\n") {
            Some(i) => (&rest[..i], &rest[i + 5..]),
            None => (rest, &[][..]),
        };
        rest = tail;
        let last = stub.lock().unwrap().last_issued.clone();
        if let Some(sent) = build(block, last.as_deref()) {
            let host_ok = host_allowed(&sent.request);
            let origin_ok = origin_allowed(&sent.request);
            let method = sent.request.method().clone();
            let path = sent.request.uri().path().to_owned();
            stub.lock().unwrap().reached = None;
            let response = runtime()
                .block_on(router.clone().oneshot(sent.request))
                .unwrap_or_else(|never| match never {});
            let status = response.status();
            let reached = stub.lock().unwrap().reached.take();
            assert!(
                [200, 204, 400, 401, 403, 404, 405, 421].contains(&status.as_u16()),
                "status {status}"
            );
            if let Some((_, body)) = &reached {
                assert!(host_ok, "the MCP service was reached with a foreign Host");
                assert!(
                    origin_ok,
                    "the MCP service was reached from a foreign Origin"
                );
                let [authorization] = sent.authorizations.as_slice() else {
                    panic!(
                        "reached with {} Authorization headers",
                        sent.authorizations.len()
                    );
                };
                let text = String::from_utf8_lossy(authorization);
                let credential = text.trim().get(7..).unwrap_or("").trim();
                assert!(
                    good.contains(&credential),
                    "the MCP service was reached with {text:?}"
                );
                assert_eq!(body, &sent.body, "the body changed on its way through");
            }
            if status == StatusCode::UNAUTHORIZED {
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .expect("a 401 carries a challenge");
                assert!(challenge.starts_with("Bearer "), "challenge {challenge:?}");
                assert!(
                    challenge.contains(&format!("resource_metadata=\"{PRM_URL}\"")),
                    "challenge {challenge:?}"
                );
            }
            let body = runtime()
                .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
                .expect("an in-memory body");
            if status == StatusCode::OK
                && method == Method::GET
                && path.starts_with("/.well-known/oauth-protected-resource")
            {
                let doc: Value = serde_json::from_slice(&body).expect("metadata is JSON");
                assert_eq!(doc["resource"], json!(MCP_URL));
                assert_eq!(doc["authorization_servers"], json!([ISSUER]));
            }
        }
        if rest.is_empty() {
            break;
        }
    }
});
