//! "Tokens are never logged": the binary at `RUST_LOG=trace` (and at the
//! README's `RUST_LOG=mcpgate=debug`) sees accepted, expired, badly signed,
//! foreign-key, wrong-audience and malformed requests carrying real tokens,
//! logs why each refused one was refused, and nothing it prints contains a
//! token or a piece of one.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use mcpgate_dev_as::{SigningKey, TokenRequest};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{
    Mcp, Running, TempDir, auth_status_message, command, dev_auth_server, free_port,
    initialize_request,
};

/// Asserts that `log` holds none of `secrets`: not whole, not as `Bearer …`,
/// not any `.`-separated segment of 10 characters or more, and not any
/// 24-character window (a truncated or re-wrapped token).
fn assert_no_secret_in(log: &str, secrets: &[String]) {
    const WINDOW: usize = 24;
    let context = |at: usize, len: usize| {
        let end = (at + len + 200).min(log.len());
        String::from_utf8_lossy(&log.as_bytes()[at.saturating_sub(200)..end]).into_owned()
    };
    for secret in secrets {
        assert!(
            !log.contains(&format!("Bearer {secret}")),
            "an Authorization header value was logged"
        );
        assert!(
            !log.contains(secret.as_str()),
            "a token was logged: {secret}"
        );
        for segment in secret.split('.').filter(|s| s.len() >= 10) {
            if let Some(at) = log.find(segment) {
                panic!(
                    "a token segment was logged: {segment}\n…{}…",
                    context(at, segment.len())
                );
            }
        }
        let bytes = secret.as_bytes();
        if bytes.len() >= WINDOW {
            for window in bytes.windows(WINDOW) {
                let window = std::str::from_utf8(window).unwrap();
                if let Some(at) = log.find(window) {
                    panic!(
                        "part of a token was logged: {window}\n…{}…",
                        context(at, WINDOW)
                    );
                }
            }
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

/// Runs the binary with `RUST_LOG={filter}`, sends it accepted and refused
/// requests carrying real tokens, stops it; returns its whole output and the
/// tokens it saw.
async fn log_of_requests_with_tokens(filter: &str) -> (String, Vec<String>) {
    let port = free_port();
    let mcp_url = format!("http://127.0.0.1:{port}/mcp");
    let auth = dev_auth_server(&mcp_url).await;
    let cwd = TempDir::new();
    let mut server = Running::spawn(command(
        cwd.path(),
        &[
            ("SCALEKIT_ENVIRONMENT_URL", auth.env_url()),
            ("SCALEKIT_RESOURCE_ID", auth.resource_id()),
            ("MCP_URL", &mcp_url),
            ("RUST_LOG", filter),
        ],
    ));
    server
        .wait_accepting(SocketAddr::from(([127, 0, 0, 1], port)))
        .await;
    let mcp = Mcp::new(&mcp_url);
    let now = unix_now();

    let good = auth
        .mint_token(TokenRequest::user("usr_logged").with_scopes(["mcp:tools"]))
        .unwrap();
    let expired = auth
        .mint_token(
            TokenRequest::user("usr_logged")
                .with_claim("iat", now - 7200)
                .with_claim("nbf", now - 7200)
                .with_claim("exp", now - 3600),
        )
        .unwrap();
    // A real header and payload under another real token's signature.
    let other = auth.mint_token(TokenRequest::user("usr_other")).unwrap();
    let mut parts: Vec<&str> = good.split('.').collect();
    parts[2] = other.split('.').nth(2).unwrap();
    let bad_signature = parts.join(".");
    // Well formed, but signed by a key the environment never published
    // (this also makes the server refetch its JWKS).
    let unknown_key = SigningKey::generate()
        .unwrap()
        .sign(&json!({
            "iss": auth.resource_issuer(), "aud": [mcp_url, auth.resource_id()],
            "sub": "usr_forged", "iat": now, "nbf": now, "exp": now + 600,
        }))
        .unwrap();
    let wrong_audience = auth
        .mint_token(TokenRequest::user("usr_logged").with_claim("aud", json!(["res_someone_else"])))
        .unwrap();

    // Accepted: a whole session with tool calls.
    let (session, _) = mcp.open_session(&good).await;
    assert_eq!(mcp.tool_names(&good, &session).await.len(), 3);
    let status = mcp.call_tool(&good, &session, "auth_status").await;
    assert_eq!(auth_status_message(&status), "Authenticated as usr_logged");
    mcp.call_tool(&good, &session, "inspect_token").await;

    // Refused, each for its own reason.
    for (token, what) in [
        (&expired, "expired"),
        (&bad_signature, "bad signature"),
        (&unknown_key, "unknown signing key"),
        (&wrong_audience, "wrong audience"),
    ] {
        let answer = mcp.post(Some(token), None, &initialize_request()).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{what}");
        assert!(
            answer
                .www_authenticate()
                .contains(r#"error="invalid_token""#),
            "{what}: {}",
            answer.www_authenticate()
        );
    }
    // Odd Authorization headers that carry a real token: a malformed bearer
    // is 400, another scheme is no bearer at all (401), and two spaces after
    // `Bearer` are allowed (RFC 6750: `1*SP`).
    for (header, expected) in [
        (format!("Bearer {good} trailing"), StatusCode::BAD_REQUEST),
        (format!("Token {good}"), StatusCode::UNAUTHORIZED),
        (format!("Bearer  {good}"), StatusCode::OK),
    ] {
        let answer = mcp
            .post_with(Some(&header), None, &initialize_request())
            .await;
        assert_eq!(answer.status, expected, "{header:?}");
    }
    drop(mcp);

    let log = server.stop();
    let secrets = vec![
        good,
        expired,
        other,
        bad_signature,
        unknown_key,
        wrong_audience,
    ];
    (log, secrets)
}

/// The reasons the README promises in the debug log, one per refused token above.
const REASONS: [&str; 4] = [
    "token expired",
    "invalid signature",
    "unknown signing key",
    "wrong audience",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_reaches_the_log_even_at_trace_level() {
    let (log, secrets) = log_of_requests_with_tokens("trace").await;
    // Not vacuous: trace logging was on and covered the requests.
    assert!(log.contains(" TRACE ") && log.contains(" DEBUG "), "{log}");
    for reason in REASONS {
        assert!(log.contains(reason), "no `{reason}` in the log:\n{log}");
    }
    assert_no_secret_in(&log, &secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcpgate_debug_logs_key_fetches_and_each_rejection_reason_but_no_token() {
    // The README's `RUST_LOG=mcpgate=debug` (the directive also covers the
    // `mcpgate_auth` crate, where validation lives).
    let (log, secrets) = log_of_requests_with_tokens("mcpgate=debug").await;
    assert!(log.contains("fetched JWKS"), "no JWKS fetch logged:\n{log}");
    for reason in REASONS {
        assert!(log.contains(reason), "no `{reason}` in the log:\n{log}");
    }
    assert!(!log.contains(" TRACE "), "{log}");
    assert_no_secret_in(&log, &secrets);
}

#[test]
fn the_leak_check_catches_a_token_a_segment_or_a_truncated_token() {
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c3JfMSJ9.c2lnbmF0dXJlLWJ5dGVzLWhlcmUtYW5kLW1vcmU"
        .to_owned();
    let secrets = [token.clone()];
    let leaks = [
        format!("authorization: Bearer {token}"),
        format!("token={token}"),
        "payload eyJzdWIiOiJ1c3JfMSJ9 logged".to_owned(),
        format!("prefix {}…", &token[..30]),
    ];
    for log in leaks {
        let caught = std::panic::catch_unwind(|| assert_no_secret_in(&log, &secrets)).is_err();
        assert!(caught, "not caught: {log}");
    }
    assert_no_secret_in("token accepted sub=\"usr_1\"", &secrets);
}
