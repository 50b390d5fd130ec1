//! The fast path (`fast_forward`): a plain 2026-07-28 `tools/call` to a
//! 2026-07-28 HTTP upstream is forwarded as one HTTP request. It answers as
//! the rmcp path does, sends the gateway's headers and never the caller's
//! token, seals an `input_required` result's state, and leaves everything
//! else (a retry, a call with a progress token) to rmcp.

use mcpgate_gateway::{GatewayConfig, HttpUpstream, Identity, Upstream};
use serde_json::json;

use crate::http_upstream::upstream;
use crate::support::{Running, raw_call};

/// The gateway in front of the recording HTTP upstream, with a static and
/// an identity header.
async fn gateway() -> (Running, crate::http_upstream::Seen) {
    let (url, seen) = upstream().await;
    let target = HttpUpstream::new(&url)
        .unwrap()
        .header("x-api-key", "gateway-key")
        .unwrap()
        .identity_header(Identity::Subject, "x-mcp-subject")
        .unwrap();
    (
        Running::start(GatewayConfig::new(Upstream::Http(target))).await,
        seen,
    )
}

#[tokio::test]
async fn a_plain_call_is_one_request_with_the_gateways_headers_only() {
    let (gw, seen) = gateway().await;
    // The first 2026-07-28 call opens the 2026-07-28 link (rmcp's path);
    // from then on the upstream is known to serve the revision.
    let (_, first) = raw_call(&gw, "alice", "hello", json!({}), None).await;
    assert_eq!(
        first["result"]["content"][0]["text"], "hello from upstream",
        "{first}"
    );
    assert_eq!(gw.monitor.fast_forwards(), 0);

    let before = seen.lock().unwrap().len();
    let (status, second) = raw_call(&gw, "alice", "hello", json!({}), None).await;
    assert_eq!(status, 200);
    assert_eq!(gw.monitor.fast_forwards(), 1);
    // The same answer as rmcp's path gave (the caller's id, a complete result).
    assert_eq!(second["id"], 7, "{second}");
    assert_eq!(second["result"]["resultType"], "complete", "{second}");
    assert_eq!(second["result"]["content"], first["result"]["content"]);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), before + 1, "one upstream request per call");
    let sent = seen.last().unwrap();
    assert_eq!(sent["mcp-method"], "tools/call");
    assert_eq!(sent["mcp-name"], "hello");
    assert_eq!(sent["mcp-protocol-version"], "2026-07-28");
    assert_eq!(sent["x-api-key"], "gateway-key");
    assert_eq!(sent["x-mcp-subject"], "alice");
    assert!(sent.get("authorization").is_none(), "{sent:?}");
    let token = gw.token("alice");
    for value in sent.values() {
        assert!(
            !value.to_str().unwrap_or_default().contains(&token[..20]),
            "the caller's token reached the upstream"
        );
    }
    gw.stop().await;
}

#[tokio::test]
async fn an_input_required_answer_is_sealed_and_the_retry_completes_through_rmcp() {
    let (gw, _) = gateway().await;
    let sampling = || json!({"sampling": {}});
    raw_call(&gw, "alice", "hello", json!({}), None).await;

    let (_, asked) = raw_call(&gw, "alice", "sample", sampling(), None).await;
    assert_eq!(
        gw.monitor.fast_forwards(),
        1,
        "the first round is forwarded fast"
    );
    let result = &asked["result"];
    assert_eq!(result["resultType"], "input_required", "{asked}");
    let state = result["requestState"].as_str().expect("requestState");
    assert!(state.starts_with("mcpgate-up."), "{state}");
    let (key, request) = result["inputRequests"]
        .as_object()
        .and_then(|r| r.iter().next())
        .expect("one input request");
    assert_eq!(request["method"], "sampling/createMessage", "{asked}");

    let answer = json!({
        key.clone(): {
            "role": "assistant",
            "content": {"type": "text", "text": "hi"},
            "model": "test-model",
        }
    });
    // Another principal cannot use the state.
    let (_, refused) = raw_call(
        &gw,
        "bob",
        "sample",
        sampling(),
        Some((answer.clone(), state)),
    )
    .await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    // Its caller can: the retry carries a state, so rmcp's path unseals it.
    let (_, done) = raw_call(&gw, "alice", "sample", sampling(), Some((answer, state))).await;
    assert_eq!(
        done["result"]["content"][0]["text"], "sampled: hi",
        "{done}"
    );
    assert_eq!(gw.monitor.fast_forwards(), 1);
    gw.stop().await;
}

#[tokio::test]
async fn an_unknown_tool_gets_the_upstreams_own_error() {
    let (gw, _) = gateway().await;
    raw_call(&gw, "alice", "hello", json!({}), None).await;
    let (status, message) = raw_call(&gw, "alice", "no_such_tool", json!({}), None).await;
    assert_eq!(gw.monitor.fast_forwards(), 1);
    assert_eq!(status, 200, "{message}");
    assert!(message["error"]["code"].is_i64(), "{message}");
    assert_eq!(message["id"], 7);
    gw.stop().await;
}
