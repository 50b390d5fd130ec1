//! A 2026-07-28 caller in front of an upstream that serves 2026-07-28 itself
//! (the stdio fixture, `UpstreamProtocol::Auto`): the upstream's own
//! `input_required` rounds reach the caller unchanged — its keys, all of a
//! round's requests at once, chosen from this caller's declared capabilities
//! — and its `requestState` is sealed to the caller: replayed by another
//! principal, altered, or sent without the seal, it is refused before the
//! upstream sees it.

use mcpgate_gateway::{GatewayConfig, UpstreamProtocol};
use serde_json::json;

use crate::support::{Running, call_text, guard, raw_call, stdio_upstream};

const SAMPLING_AND_ROOTS: fn() -> serde_json::Value = || json!({"sampling": {}, "roots": {}});

/// The answers to `ask_two`'s round.
fn answers() -> serde_json::Value {
    json!({
        "model_says": {
            "role": "assistant",
            "content": {"type": "text", "text": "hello"},
            "model": "test-model",
        },
        "where": {"roots": [{"uri": "file:///work", "name": "work"}]},
    })
}

/// The first round of `ask_two` for `subject`: the requests and the state.
async fn first_round(gw: &Running, subject: &str) -> (serde_json::Value, String) {
    let (status, message) = raw_call(gw, subject, "ask_two", SAMPLING_AND_ROOTS(), None).await;
    assert_eq!(status, 200, "{message}");
    let result = &message["result"];
    assert_eq!(result["resultType"], "input_required", "{message}");
    let state = result["requestState"].as_str().expect("requestState");
    (result["inputRequests"].clone(), state.to_owned())
}

#[tokio::test]
async fn the_upstreams_own_round_reaches_the_caller_with_its_keys_all_at_once() {
    let gw = Running::start(GatewayConfig::new(stdio_upstream())).await;
    let (requests, state) = first_round(&gw, "alice").await;
    // The upstream's keys and both requests in one round (a bridged session
    // would ask one at a time, under keys the gateway makes up).
    let requests = requests.as_object().expect("inputRequests");
    let mut keys: Vec<&str> = requests.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["model_says", "where"], "{requests:?}");
    assert_eq!(requests["model_says"]["method"], "sampling/createMessage");
    assert_eq!(requests["where"]["method"], "roots/list");
    assert!(state.starts_with("mcpgate-up."), "{state}");

    let (status, message) = raw_call(
        &gw,
        "alice",
        "ask_two",
        SAMPLING_AND_ROOTS(),
        Some((answers(), &state)),
    )
    .await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(message["result"]["resultType"], "complete", "{message}");
    assert_eq!(
        message["result"]["content"][0]["text"], "model: hello; roots: 1",
        "{message}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn the_upstreams_state_resumes_only_for_the_caller_it_was_issued_to() {
    let gw = Running::start(GatewayConfig::new(stdio_upstream())).await;
    let (_, state) = first_round(&gw, "alice").await;
    // `subject` retries `tool` with the answers and `state`.
    let retry = |subject: &'static str, tool: &'static str, state: String| {
        let gw = &gw;
        async move {
            raw_call(
                gw,
                subject,
                tool,
                SAMPLING_AND_ROOTS(),
                Some((answers(), &state)),
            )
            .await
            .1
        }
    };
    let unsealed = state
        .strip_prefix("mcpgate-up.")
        .and_then(|rest| rest.split_once('.'))
        .map(|(_, inner)| inner.to_owned())
        .expect("sealed form");
    for (what, subject, tool, state) in [
        (
            "replayed by another principal",
            "bob",
            "ask_two",
            state.clone(),
        ),
        ("altered", "alice", "ask_two", format!("{state}x")),
        ("without the seal", "alice", "ask_two", unsealed),
        ("for another tool", "alice", "declared", state.clone()),
    ] {
        let message = retry(subject, tool, state).await;
        assert_eq!(message["error"]["code"], -32602, "{what}: {message}");
    }

    // Its own caller still completes the call with it.
    let message = retry("alice", "ask_two", state).await;
    assert_eq!(message["result"]["resultType"], "complete", "{message}");
    gw.stop().await;
}

#[tokio::test]
async fn the_upstream_sees_each_callers_own_capabilities() {
    // Served in 2026-07-28, the upstream sees what this caller declared.
    let gw = Running::start(GatewayConfig::new(stdio_upstream())).await;
    let (_, message) = raw_call(&gw, "alice", "declared", json!({"sampling": {}}), None).await;
    assert_eq!(
        message["result"]["content"][0]["text"], "sampling",
        "{message}"
    );
    let (_, message) = raw_call(&gw, "alice", "declared", json!({}), None).await;
    assert_eq!(message["result"]["content"][0]["text"], "", "{message}");
    // A session-era client of the same principal has its own connection
    // (for a stdio upstream: its own child).
    let session = gw.client("alice").await;
    let session_pid = call_text(&session, "pid").await.unwrap();
    let (_, message) = raw_call(&gw, "alice", "pid", json!({}), None).await;
    let stateless_pid = message["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or("");
    assert!(!stateless_pid.is_empty(), "{message}");
    assert_ne!(session_pid, stateless_pid);
    session.cancel().await.ok();
    gw.stop().await;

    // Bridged over a session, the upstream sees the gateway's capabilities
    // (what it declared once for every caller) — why `Auto` is the default.
    let gw = Running::start(
        GatewayConfig::new(stdio_upstream()).upstream_protocol(UpstreamProtocol::Session),
    )
    .await;
    let (_, message) = raw_call(&gw, "alice", "declared", json!({"sampling": {}}), None).await;
    assert_eq!(
        message["result"]["content"][0]["text"], "sampling,elicitation,roots",
        "{message}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_listen_stream_ends_when_its_upstream_exits_and_can_be_opened_again() {
    use rmcp::model::{CallToolRequestParams, SubscriptionFilter};

    let gw = Running::start(GatewayConfig::new(stdio_upstream())).await;
    let client = gw.stateless_client("alice").await;
    let filter = || SubscriptionFilter::builder().tools_list_changed().build();
    let mut stream = guard("subscriptions/listen", client.listen(filter()))
        .await
        .expect("acknowledged");

    // The upstream child (alice's 2026-07-28 one) exits mid-call.
    let crashed = guard(
        "crash",
        client.call_tool(CallToolRequestParams::new("crash")),
    )
    .await;
    assert!(crashed.is_err(), "{crashed:?}");
    let ended = guard("the stream's end", stream.next()).await;
    assert!(
        matches!(ended, Ok(None)),
        "the caller's stream ends with its upstream's: {ended:?}"
    );

    // Listening again starts a new upstream and a new stream.
    let again = guard("subscriptions/listen again", client.listen(filter())).await;
    assert!(again.is_ok(), "{again:?}");
    drop(again);
    client.cancel().await.ok();
    gw.stop().await;
}
