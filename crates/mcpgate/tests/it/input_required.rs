//! Input from the client (elicitation, sampling, roots) in both eras, with
//! one handler: over a session the server asks the client (rmcp's client
//! answers through its `ClientHandler`); in 2026-07-28 the call is answered
//! with an input-required result and completed when the client retries with
//! the answers and the sealed `requestState` (SEP-2322). Also: a tampered,
//! foreign or misused `requestState` is refused, and a request that needs a
//! capability the client did not declare fails with `-32021` and HTTP 400.
//!
//! Sampling and roots are deprecated after 2026-07-28 (rmcp marks them so)
//! but current in the revisions tested here.
#![allow(deprecated)]

use http::StatusCode;
use mcpgate::model::{ElicitationAction, Resource};
use mcpgate::{CallError, Context, InputKind, InputRequest, McpServer, ScalekitProvider};
use rmcp::ClientHandler;
use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, CreateMessageRequestParams,
    CreateMessageResult, ElicitRequestParams, ElicitResult, GetPromptRequestParams, Implementation,
    ListRootsResult, ProtocolVersion, Role, Root, SamplingMessage, SamplingMessageContentBlock,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RequestContext, RoleClient};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::support::*;

const STATELESS: &str = "2026-07-28";

fn form(property: &str) -> Value {
    json!({"type": "object", "properties": {property: {"type": "string"}}, "required": [property]})
}

fn accepted(result: &ElicitResult, property: &str) -> String {
    match (&result.action, &result.content) {
        (ElicitationAction::Accept, Some(content)) => content[property]
            .as_str()
            .map_or_else(|| content[property].to_string(), str::to_owned),
        _ => "(declined)".to_owned(),
    }
}

/// Handlers written once against `Context`, as an application would.
fn with_input_tools(server: McpServer) -> McpServer {
    server
        .tool("greet", "Asks the user's name", |ctx: Context| async move {
            let answer = ctx.elicit("What is your name?", form("name")).await?;
            Ok::<_, CallError>(format!("Hello, {}!", accepted(&answer, "name")))
        })
        .tool(
            "capital",
            "Asks the client's model",
            |ctx: Context| async move {
                let text = ctx.sample("What is the capital of France?", 50).await?;
                Ok::<_, CallError>(format!("model said: {text}"))
            },
        )
        .tool(
            "roots",
            "Lists the client's roots",
            |ctx: Context| async move {
                let roots = ctx.list_roots().await?;
                let uris: Vec<String> = roots.into_iter().map(|r| r.uri).collect();
                Ok::<_, CallError>(format!("roots: {}", uris.join(",")))
            },
        )
        .tool("two_rounds", "Asks twice", |ctx: Context| async move {
            let name = ctx.elicit("Step 1: name?", form("name")).await?;
            let color = ctx.elicit("Step 2: color?", form("color")).await?;
            Ok::<_, CallError>(format!(
                "{} likes {}",
                accepted(&name, "name"),
                accepted(&color, "color")
            ))
        })
        .tool(
            "all_at_once",
            "Asks three things at once",
            |ctx: Context| async move {
                let answers = ctx
                    .ask([
                        ("who", InputRequest::elicit("Name?", form("name"))),
                        ("model", InputRequest::sample("Say hi", 10)),
                        ("where", InputRequest::list_roots()),
                    ])
                    .await?;
                Ok::<_, CallError>(format!(
                    "{} / {} / {}",
                    accepted(&answers["who"].elicitation()?, "name"),
                    answers["model"].sampled_text()?,
                    answers["where"].roots()?.len()
                ))
            },
        )
        .tool(
            "supports",
            "Reports the declared capabilities",
            |ctx: Context| async move {
                format!(
                    "elicitation={} sampling={} roots={}",
                    ctx.client_supports(InputKind::Elicitation),
                    ctx.client_supports(InputKind::Sampling),
                    ctx.client_supports(InputKind::Roots)
                )
            },
        )
        .resource(
            Resource::new("notes://private", "A note behind a question"),
            |ctx: Context| async move {
                let answer = ctx.elicit("Password?", form("password")).await?;
                Ok::<_, CallError>(format!("note for {}", accepted(&answer, "password")))
            },
        )
        .prompt(
            "contextual",
            "A prompt that asks first",
            |ctx: Context| async move {
                let answer = ctx.elicit("Context?", form("context")).await?;
                Ok::<_, CallError>(format!("Use {}", accepted(&answer, "context")))
            },
        )
}

async fn open_server() -> Running {
    Running::start(|url| {
        with_input_tools(McpServer::new("input").mcp_url(url).allow_unauthenticated())
    })
    .await
}

/// A client that answers every kind of input request, as a real one would
/// after asking its user and model.
#[derive(Clone)]
struct Answering;

impl ClientHandler for Answering {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder()
                .enable_elicitation()
                .enable_sampling()
                .enable_roots()
                .build(),
            Implementation::new("answering-client", "0.0.0"),
        )
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let ElicitRequestParams::FormElicitationParams { message, .. } = request else {
            return Err(ErrorData::invalid_params("form mode only", None));
        };
        let content = if message.contains("color") {
            json!({"color": "blue"})
        } else if message.contains("Context") {
            json!({"context": "tests"})
        } else {
            json!({"name": "Alice"})
        };
        Ok(ElicitResult::new(ElicitationAction::Accept).with_content(content))
    }

    async fn create_message(
        &self,
        _params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        Ok(CreateMessageResult::new(
            SamplingMessage::new(Role::Assistant, SamplingMessageContentBlock::text("Paris")),
            "test-model".to_owned(),
        ))
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        Ok(ListRootsResult::new(vec![Root::new(
            "file:///work/project",
        )]))
    }
}

fn call_params(name: &'static str) -> CallToolRequestParams {
    CallToolRequestParams::new(name)
}

/// The same tools, called by rmcp's client in one lifecycle, give the same answers.
async fn every_tool_answers(lifecycle: ClientLifecycleMode) {
    let server = open_server().await;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(server.mcp_url.as_str()),
    );
    let client = Answering
        .serve_with_lifecycle(transport, lifecycle)
        .await
        .expect("connect");
    for (tool, expected) in [
        ("greet", "Hello, Alice!"),
        ("capital", "model said: Paris"),
        ("roots", "roots: file:///work/project"),
        ("two_rounds", "Alice likes blue"),
        ("all_at_once", "Alice / Paris / 1"),
        ("supports", "elicitation=true sampling=true roots=true"),
    ] {
        let result = client.call_tool(call_params(tool)).await.expect(tool);
        assert_eq!(text_of(&result), expected, "{tool}");
        assert_ne!(result.is_error, Some(true), "{tool}");
    }
    let prompt = client
        .get_prompt(GetPromptRequestParams::new("contextual"))
        .await
        .expect("prompt");
    let text = serde_json::to_value(&prompt.messages[0]).unwrap()["content"]["text"].clone();
    assert_eq!(text, "Use tests");
    client.cancel().await.ok();
}

#[tokio::test]
async fn context_input_works_over_a_session() {
    every_tool_answers(ClientLifecycleMode::Initialize).await;
}

#[tokio::test]
async fn context_input_works_stateless_through_input_required_results() {
    every_tool_answers(ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    })
    .await;
}

/// A raw 2026-07-28 request, declaring `capabilities`.
fn stateless(
    server: &Running,
    token: Option<&str>,
    method: &str,
    name: &str,
    params: Value,
    capabilities: Value,
) -> reqwest::RequestBuilder {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS,
        "io.modelcontextprotocol/clientInfo": {"name": "mcpgate-tests", "version": "0.0.0"},
        "io.modelcontextprotocol/clientCapabilities": capabilities,
    });
    server
        .post(token)
        .header("mcp-protocol-version", STATELESS)
        .header("mcp-method", method)
        .header("mcp-name", name)
        .json(&json!({"jsonrpc": "2.0", "id": 3, "method": method, "params": params}))
}

fn all_capabilities() -> Value {
    json!({"elicitation": {}, "sampling": {}, "roots": {}})
}

async fn call_tool(server: &Running, token: Option<&str>, params: Value) -> (StatusCode, Value) {
    let name = params["name"].as_str().unwrap().to_owned();
    let response = stateless(
        server,
        token,
        "tools/call",
        &name,
        params,
        all_capabilities(),
    )
    .send()
    .await
    .unwrap();
    assert!(
        response.headers().get("mcp-session-id").is_none(),
        "a 2026-07-28 request never gets a session"
    );
    (response.status(), read_jsonrpc(response).await)
}

fn accept(content: Value) -> Value {
    json!({"action": "accept", "content": content})
}

#[tokio::test]
async fn input_required_rounds_on_the_wire() {
    let server = open_server().await;
    // Round 1: the handler's first question, under its numbered key.
    let (status, first) = call_tool(
        &server,
        None,
        json!({"name": "two_rounds", "arguments": {}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let result = &first["result"];
    assert_eq!(result["resultType"], "input_required", "{first}");
    let request = &result["inputRequests"]["elicitation-1"];
    assert_eq!(request["method"], "elicitation/create", "{first}");
    assert_eq!(request["params"]["message"], "Step 1: name?");
    assert_eq!(result["inputRequests"].as_object().unwrap().len(), 1);
    let state1 = result["requestState"]
        .as_str()
        .expect("requestState")
        .to_owned();

    // Round 2: the first answer arrives; the handler asks its second question.
    let (_, second) = call_tool(
        &server,
        None,
        json!({"name": "two_rounds", "arguments": {},
               "inputResponses": {"elicitation-1": accept(json!({"name": "Bob"}))},
               "requestState": state1}),
    )
    .await;
    let result = &second["result"];
    assert_eq!(result["resultType"], "input_required", "{second}");
    assert_eq!(
        result["inputRequests"]["elicitation-2"]["params"]["message"],
        "Step 2: color?"
    );
    let state2 = result["requestState"].as_str().unwrap().to_owned();
    assert_ne!(state1, state2, "the state carries the first answer now");

    // Round 3: only the new answer is sent; the first comes from the state.
    let (_, third) = call_tool(
        &server,
        None,
        json!({"name": "two_rounds", "arguments": {},
               "inputResponses": {"elicitation-2": accept(json!({"color": "green"}))},
               "requestState": state2}),
    )
    .await;
    assert_eq!(
        third["result"]["content"][0]["text"], "Bob likes green",
        "{third}"
    );
    assert_ne!(third["result"]["resultType"], "input_required");

    // Without the state, the first answer is unknown again: asked again.
    let (_, again) = call_tool(
        &server,
        None,
        json!({"name": "two_rounds", "arguments": {},
               "inputResponses": {"elicitation-2": accept(json!({"color": "green"}))}}),
    )
    .await;
    assert!(
        again["result"]["inputRequests"]["elicitation-1"].is_object(),
        "{again}"
    );
}

#[tokio::test]
async fn several_inputs_are_requested_at_once() {
    let server = open_server().await;
    let (_, first) = call_tool(
        &server,
        None,
        json!({"name": "all_at_once", "arguments": {}}),
    )
    .await;
    let requests = first["result"]["inputRequests"]
        .as_object()
        .expect("inputRequests");
    let methods: Vec<(&str, &str)> = requests
        .iter()
        .map(|(k, v)| (k.as_str(), v["method"].as_str().unwrap()))
        .collect();
    assert_eq!(
        methods,
        [
            ("model", "sampling/createMessage"),
            ("where", "roots/list"),
            ("who", "elicitation/create")
        ]
    );
    let (_, done) = call_tool(
        &server,
        None,
        json!({"name": "all_at_once", "arguments": {},
               "inputResponses": {
                   "who": accept(json!({"name": "Carol"})),
                   "model": {"role": "assistant", "content": {"type": "text", "text": "hi"}, "model": "m"},
                   "where": {"roots": [{"uri": "file:///a"}, {"uri": "file:///b"}]}
               },
               "requestState": first["result"]["requestState"]}),
    )
    .await;
    assert_eq!(
        done["result"]["content"][0]["text"], "Carol / hi / 2",
        "{done}"
    );
}

fn error_code(message: &Value) -> i64 {
    message["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no error: {message}"))
}

#[tokio::test]
async fn tampered_or_misused_request_state_is_refused() {
    let server = open_server().await;
    let (_, first) = call_tool(&server, None, json!({"name": "greet", "arguments": {}})).await;
    let state = first["result"]["requestState"].as_str().unwrap().to_owned();
    let answers = json!({"elicitation-1": accept(json!({"name": "Mallory"}))});

    // Tampered: the suite's own probe.
    let (status, tampered) = call_tool(
        &server,
        None,
        json!({"name": "greet", "arguments": {}, "inputResponses": answers,
               "requestState": format!("{state}-TAMPERED")}),
    )
    .await;
    assert_eq!(error_code(&tampered), -32602, "{tampered}");
    assert_eq!(
        status,
        StatusCode::OK,
        "a JSON-RPC error on a normal response"
    );
    assert!(
        tampered["error"]["message"]
            .as_str()
            .unwrap()
            .contains("requestState")
    );

    // Replayed against another tool, or the same tool with other arguments.
    for params in [
        json!({"name": "capital", "arguments": {}, "requestState": state}),
        json!({"name": "greet", "arguments": {"x": 1}, "requestState": state}),
    ] {
        let (_, replayed) = call_tool(&server, None, params).await;
        assert_eq!(error_code(&replayed), -32602, "{replayed}");
    }

    // Issued by another server (another key).
    let other = open_server().await;
    let (_, foreign) = call_tool(
        &other,
        None,
        json!({"name": "greet", "arguments": {}, "inputResponses": answers, "requestState": state}),
    )
    .await;
    assert_eq!(error_code(&foreign), -32602, "{foreign}");

    // The genuine state still works.
    let (_, genuine) = call_tool(
        &server,
        None,
        json!({"name": "greet", "arguments": {}, "inputResponses": answers, "requestState": state}),
    )
    .await;
    assert_eq!(
        genuine["result"]["content"][0]["text"], "Hello, Mallory!",
        "{genuine}"
    );
}

#[tokio::test]
async fn request_state_is_bound_to_the_caller() {
    let idp = StandIn::start().await;
    let server = TestServer::start_server(idp, |p: ScalekitProvider| p, with_input_tools).await;
    let alice = server.claims();
    let mut bob = alice.clone();
    bob["sub"] = json!("usr_bob");
    let (alice, bob) = (server.mint(&alice), server.mint(&bob));

    let (_, first) = call_tool(
        &server,
        Some(&alice),
        json!({"name": "two_rounds", "arguments": {}}),
    )
    .await;
    let state = first["result"]["requestState"]
        .as_str()
        .expect("state")
        .to_owned();
    let retry = json!({"name": "two_rounds", "arguments": {},
        "inputResponses": {"elicitation-1": accept(json!({"name": "Alice"}))},
        "requestState": state});

    let (_, stolen) = call_tool(&server, Some(&bob), retry.clone()).await;
    assert_eq!(error_code(&stolen), -32602, "{stolen}");
    let (_, own) = call_tool(&server, Some(&alice), retry).await;
    assert_eq!(own["result"]["resultType"], "input_required", "{own}");
    assert!(
        own["result"]["inputRequests"]["elicitation-2"].is_object(),
        "{own}"
    );
}

#[tokio::test]
async fn malformed_input_responses_are_invalid_params() {
    let server = open_server().await;
    let (_, response) = call_tool(
        &server,
        None,
        json!({"name": "greet", "arguments": {}, "inputResponses": {"elicitation-1": 12345}}),
    )
    .await;
    assert_eq!(error_code(&response), -32602, "{response}");
}

#[tokio::test]
async fn an_undeclared_capability_is_error_32021_with_http_400() {
    let server = open_server().await;
    let response = stateless(
        &server,
        None,
        "tools/call",
        "capital",
        json!({"name": "capital", "arguments": {}}),
        json!({"elicitation": {}}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let message = read_jsonrpc(response).await;
    assert_eq!(error_code(&message), -32021, "{message}");
    assert_eq!(message["id"], 3);
    assert_eq!(
        message["error"]["data"]["requiredCapabilities"],
        json!({"sampling": {}}),
        "{message}"
    );

    // Declared capabilities are what `client_supports` reports.
    let response = stateless(
        &server,
        None,
        "tools/call",
        "supports",
        json!({"name": "supports", "arguments": {}}),
        json!({"sampling": {}}),
    )
    .send()
    .await
    .unwrap();
    let message = read_jsonrpc(response).await;
    assert_eq!(
        message["result"]["content"][0]["text"],
        "elicitation=false sampling=true roots=false"
    );
}

#[tokio::test]
async fn prompts_get_can_require_input() {
    let server = open_server().await;
    let get = |params: Value| {
        stateless(
            &server,
            None,
            "prompts/get",
            "contextual",
            params,
            all_capabilities(),
        )
        .send()
    };
    let first = read_jsonrpc(get(json!({"name": "contextual"})).await.unwrap()).await;
    assert_eq!(first["result"]["resultType"], "input_required", "{first}");
    let done = read_jsonrpc(
        get(json!({"name": "contextual",
                   "inputResponses": {"elicitation-1": accept(json!({"context": "docs"}))},
                   "requestState": first["result"]["requestState"]}))
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        done["result"]["messages"][0]["content"]["text"], "Use docs",
        "{done}"
    );
}

#[tokio::test]
async fn resources_read_can_require_input() {
    let server = open_server().await;
    let read = |params: Value| {
        stateless(
            &server,
            None,
            "resources/read",
            "notes://private",
            params,
            all_capabilities(),
        )
        .send()
    };
    let first = read_jsonrpc(read(json!({"uri": "notes://private"})).await.unwrap()).await;
    assert_eq!(first["result"]["resultType"], "input_required", "{first}");
    assert_eq!(
        first["result"]["inputRequests"]["elicitation-1"]["params"]["message"],
        "Password?"
    );
    let done = read_jsonrpc(
        read(json!({"uri": "notes://private",
                    "inputResponses": {"elicitation-1": accept(json!({"password": "open"}))},
                    "requestState": first["result"]["requestState"]}))
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        done["result"]["contents"][0]["text"], "note for open",
        "{done}"
    );
}
