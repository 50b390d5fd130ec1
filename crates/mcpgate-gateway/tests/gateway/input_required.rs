//! A 2026-07-28 caller in front of a session-era stdio upstream that asks for
//! sampling mid-call (the fixture serves 2026-07-28 too, so the gateway is
//! told to speak only the session era to it, `UpstreamProtocol::Session`): the gateway answers with an `input_required` result
//! (the upstream's request, a `requestState` handle), and the retry with the
//! caller's response completes the parked upstream call. The handle is the
//! caller's alone. A request for a capability the caller did not declare is
//! `-32021` with HTTP 400, and roots/list reaches the caller (an input
//! request, or a request on its session) when it declared roots.

#![allow(deprecated)] // sampling is current in the revisions used here

use std::collections::BTreeMap;

use mcpgate_gateway::{GatewayConfig, UpstreamProtocol};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientConfig,
    CreateMessageRequestParams, CreateMessageResult, Implementation, InputRequest, ListRootsResult,
    ProtocolVersion, Root, SamplingMessage,
};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt, RequestContext, RoleClient, RunningService, ServiceError,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ErrorData, ServiceExt};

use crate::support::{Running, call_text, guard, raw_call, stdio_upstream, text_of};

/// The stdio fixture, bridged over a session.
fn bridged() -> GatewayConfig {
    GatewayConfig::new(stdio_upstream()).upstream_protocol(UpstreamProtocol::Session)
}

/// A client that can sample; its "model" answers with its own name.
#[derive(Clone)]
struct Model(&'static str);

impl ClientHandler for Model {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_sampling().build(),
            Implementation::new("input-required-test", "1"),
        )
    }

    async fn create_message(
        &self,
        _params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        Ok(answer(self.0))
    }
}

fn answer(model: &str) -> CreateMessageResult {
    CreateMessageResult::new(
        SamplingMessage::assistant_text(format!("from {model}")),
        "test-model".to_owned(),
    )
}

/// A 2026-07-28 client through the gateway as `subject`.
async fn client(
    gw: &Running,
    subject: &str,
    model: &'static str,
) -> RunningService<RoleClient, Model> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(gw.mcp_url.as_str())
            .auth_header(gw.token(subject)),
    );
    guard(
        "connect (2026-07-28)",
        Model(model).serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        ),
    )
    .await
    .unwrap()
}

/// The first round of `sample`: the upstream's sampling request, by key,
/// and the handle to retry with.
async fn first_round(client: &RunningService<RoleClient, Model>) -> (String, String) {
    let response = guard(
        "tools/call sample (round 1)",
        client.call_tool_once(CallToolRequestParams::new("sample")),
    )
    .await
    .unwrap();
    let CallToolResponse::InputRequired(asked) = response else {
        panic!("expected an input_required result, got {response:?}");
    };
    let requests = asked.input_requests.expect("inputRequests");
    assert_eq!(requests.len(), 1, "{requests:?}");
    let (key, request) = requests.into_iter().next().unwrap();
    assert!(
        matches!(request, InputRequest::CreateMessage(_)),
        "{request:?}"
    );
    (key, asked.request_state.expect("requestState"))
}

fn retry(key: &str, state: &str, model: &str) -> CallToolRequestParams {
    let mut params = CallToolRequestParams::new("sample");
    params.input_responses = Some(BTreeMap::from([(
        key.to_owned(),
        serde_json::to_value(answer(model)).unwrap(),
    )]));
    params.request_state = Some(state.to_owned());
    params
}

#[tokio::test]
async fn sampling_becomes_an_input_required_round_and_the_retry_completes_the_call() {
    let gw = Running::start(bridged()).await;
    let alice = client(&gw, "alice", "alice's model").await;

    let (key, state) = first_round(&alice).await;
    let done = guard(
        "tools/call sample (round 2)",
        alice.call_tool_once(retry(&key, &state, "alice's model")),
    )
    .await
    .unwrap();
    let CallToolResponse::Complete(result) = done else {
        panic!("expected the call to complete, got {done:?}");
    };
    assert_eq!(text_of(&result), "sampled: from alice's model");

    // The SDK's own MRTR loop gets the same through the gateway.
    let result = guard(
        "tools/call sample (SDK rounds)",
        alice.call_tool(CallToolRequestParams::new("sample")),
    )
    .await
    .unwrap();
    assert_eq!(text_of(&result), "sampled: from alice's model");

    alice.cancel().await.ok();
    gw.stop().await;
}

#[tokio::test]
async fn a_request_state_resumes_only_its_own_callers_call() {
    let gw = Running::start(bridged()).await;
    let alice = client(&gw, "alice", "alice's model").await;
    let bob = client(&gw, "bob", "bob's model").await;

    let (key, state) = first_round(&alice).await;
    let refused = |result: Result<CallToolResponse, ServiceError>| match result {
        Err(ServiceError::McpError(e)) => {
            assert_eq!(e.code, rmcp::model::ErrorCode::INVALID_PARAMS, "{e:?}");
        }
        other => panic!("expected invalid_params, got {other:?}"),
    };
    // Bob cannot take over Alice's call, and a forged handle names nothing.
    refused(
        guard(
            "bob's retry",
            bob.call_tool_once(retry(&key, &state, "bob's model")),
        )
        .await,
    );
    refused(
        guard(
            "forged handle",
            alice.call_tool_once(retry(&key, "mcpgate-gw-999999", "alice's model")),
        )
        .await,
    );
    // Alice's call is still parked for her.
    let done = guard(
        "alice's retry",
        alice.call_tool_once(retry(&key, &state, "alice's model")),
    )
    .await
    .unwrap();
    let CallToolResponse::Complete(result) = done else {
        panic!("expected the call to complete, got {done:?}");
    };
    assert_eq!(text_of(&result), "sampled: from alice's model");

    alice.cancel().await.ok();
    bob.cancel().await.ok();
    gw.stop().await;
}

#[tokio::test]
async fn an_upstream_request_the_caller_did_not_declare_is_error_32021_with_http_400() {
    let gw = Running::start(bridged()).await;

    // Sampling asked of a caller that declared only elicitation.
    let (status, message) = raw_call(
        &gw,
        "alice",
        "sample",
        serde_json::json!({"elicitation": {}}),
        None,
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{message}");
    assert_eq!(message["id"], 7, "{message}");
    assert_eq!(message["error"]["code"], -32021, "{message}");
    assert_eq!(
        message["error"]["data"]["requiredCapabilities"],
        serde_json::json!({"sampling": {}}),
        "{message}"
    );

    // Roots asked of a caller that declared only sampling.
    let (status, message) = raw_call(
        &gw,
        "alice",
        "roots",
        serde_json::json!({"sampling": {}}),
        None,
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{message}");
    assert_eq!(message["error"]["code"], -32021, "{message}");
    assert_eq!(
        message["error"]["data"]["requiredCapabilities"],
        serde_json::json!({"roots": {}}),
        "{message}"
    );

    // The same upstream still serves a caller that declared sampling.
    let (status, message) = raw_call(
        &gw,
        "alice",
        "sample",
        serde_json::json!({"sampling": {}}),
        None,
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{message}");
    assert_eq!(
        message["result"]["resultType"], "input_required",
        "{message}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn roots_list_becomes_an_input_request_for_a_2026_caller() {
    let gw = Running::start(bridged()).await;
    let (status, message) = raw_call(
        &gw,
        "alice",
        "roots",
        serde_json::json!({"roots": {}}),
        None,
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{message}");
    let result = &message["result"];
    assert_eq!(result["resultType"], "input_required", "{message}");
    let requests = result["inputRequests"].as_object().expect("inputRequests");
    assert_eq!(requests.len(), 1, "{message}");
    let (key, request) = requests.iter().next().unwrap();
    assert_eq!(request["method"], "roots/list", "{message}");
    let state = result["requestState"].as_str().expect("requestState");

    let responses = serde_json::json!({
        key.as_str(): {"roots": [{"uri": "file:///home/alice/project", "name": "project"}]},
    });
    let (status, message) = raw_call(
        &gw,
        "alice",
        "roots",
        serde_json::json!({"roots": {}}),
        Some((responses, state)),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{message}");
    assert_eq!(
        message["result"]["content"][0]["text"], "roots: file:///home/alice/project",
        "{message}"
    );
    gw.stop().await;
}

/// A session-era client with roots.
#[derive(Clone)]
struct Rooted;

impl ClientHandler for Rooted {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_roots().build(),
            Implementation::new("roots-test", "1"),
        )
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        Ok(ListRootsResult::new(vec![Root::new("file:///home/bob")]))
    }
}

#[tokio::test]
async fn roots_list_reaches_a_session_callers_client_only_if_it_declared_roots() {
    let gw = Running::start(bridged()).await;
    let config = StreamableHttpClientTransportConfig::with_uri(gw.mcp_url.as_str())
        .auth_header(gw.token("bob"));
    let bob = guard(
        "connect (session)",
        Rooted.serve(StreamableHttpClientTransport::from_config(config)),
    )
    .await
    .unwrap();
    assert_eq!(
        call_text(&bob, "roots").await.unwrap(),
        "roots: file:///home/bob"
    );

    // A client without roots: the upstream's request is refused, not
    // answered with an empty list on the client's behalf.
    let carol = gw.client("carol").await;
    let text = call_text(&carol, "roots").await.unwrap();
    assert!(text.starts_with("roots failed:"), "{text}");
    assert!(text.contains("roots"), "{text}");

    bob.cancel().await.ok();
    carol.cancel().await.ok();
    gw.stop().await;
}
