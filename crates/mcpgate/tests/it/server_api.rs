//! The server API: the explicit auth choice, shared state, configuration
//! problems reported at start, bind errors, `AccessToken::for_testing`,
//! `tool!` / `prompt!` over a real client, and `ProtectedResource::builder`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::StatusCode;
use mcpgate::jwks::{JwksCache, JwksConfig};
use mcpgate::model::ResourceTemplate;
use mcpgate::verify::{InvalidSettings, JwtVerifier, SigningAlgorithm, VerifierSettings};
use mcpgate::{
    AccessToken, Args, Call, Context, McpServer, McpUrl, ProtectedResource, ScalekitProvider,
    ServeError, State,
};
use rmcp::model::{CallToolRequestParams, CallToolResult, GetPromptRequestParams, JsonObject};
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::support::*;

fn arguments(value: Value) -> JsonObject {
    value.as_object().expect("arguments object").clone()
}

async fn call(
    client: &RunningService<RoleClient, ()>,
    name: &'static str,
    args: Option<Value>,
) -> CallToolResult {
    let mut params = CallToolRequestParams::new(name);
    if let Some(args) = args {
        params = params.with_arguments(arguments(args));
    }
    client.call_tool(params).await.expect("tools/call")
}

// --- the auth choice --------------------------------------------------------------------

#[tokio::test]
async fn http_without_an_auth_choice_is_refused_naming_auth() {
    let server =
        || McpServer::new("no auth chosen").tool("hello", "Says hello", || async { "hello" });
    let error = server().into_http(None).unwrap_err();
    let ServeError::Config(problem) = &error else {
        panic!("expected one configuration error, got {error:?}");
    };
    assert_eq!(problem.source_name, "auth");
    assert!(
        problem.problem.contains(".auth(") && problem.problem.contains("allow_unauthenticated"),
        "the message says what to do: {error}"
    );
    assert_eq!(error.config_errors(), [problem]);

    // Serving on a listener fails the same way, before accepting anything.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let served = tokio::time::timeout(
        Duration::from_secs(5),
        server().serve_with_shutdown(listener, std::future::pending()),
    )
    .await
    .expect("refused at once, not served");
    let error = served.unwrap_err();
    assert_eq!(error.config_errors()[0].source_name, "auth", "{error}");

    // The seed's sample carries no auth of its own either.
    let error = scalekit_server::server().into_http(None).unwrap_err();
    assert_eq!(error.config_errors()[0].source_name, "auth", "{error}");
}

#[tokio::test]
async fn allow_unauthenticated_serves_without_a_token() {
    let server = Running::start(|_| {
        McpServer::new("open")
            .allow_unauthenticated()
            .tool("hello", "Says hello", || async { "hello" })
            .tool(
                "whoami",
                "The caller's subject",
                |t: AccessToken| async move { t.subject().to_owned() },
            )
    })
    .await;
    let response = server.initialize(None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .is_none()
    );
    assert_eq!(
        read_jsonrpc(response).await["result"]["serverInfo"]["name"],
        "open"
    );

    let client = connect(&server.mcp_url, None).await.expect("connected");
    assert_eq!(text_of(&call(&client, "hello", None).await), "hello");
    let whoami = call(&client, "whoami", None).await;
    assert_eq!(whoami.is_error, Some(true));
    assert!(
        text_of(&whoami).starts_with("no token"),
        "{}",
        text_of(&whoami)
    );
    client.cancel().await.unwrap();

    server.shutdown().await.expect("served until shut down");
}

// --- shared state -------------------------------------------------------------------------

#[derive(Clone)]
struct Greeting(&'static str);

/// Never registered with `with_state`.
#[derive(Clone)]
struct Unregistered;

mcpgate::tool! {
    /// Greets with the configured greeting.
    async fn greet(State(greeting): State<Greeting>, token: AccessToken) -> String {
        format!("{}, {}", greeting.0, token.subject())
    }
}

#[tokio::test]
async fn state_reaches_handlers_over_http() {
    let calls = Arc::new(AtomicUsize::new(0));
    let shared = calls.clone();
    let server = TestServer::start_server(
        StandIn::start().await,
        |p| p,
        move |s| {
            s.with_state(Greeting("hello from state"))
                .with_state(shared)
                .add_tool(greet())
                .tool(
                    "count",
                    "Counts its calls",
                    |State(calls): State<Arc<AtomicUsize>>| async move {
                        (calls.fetch_add(1, Ordering::SeqCst) + 1).to_string()
                    },
                )
                .tool(
                    "needs_unregistered",
                    "Asks for state nobody registered",
                    |State(_): State<Unregistered>| async { "unreachable" },
                )
        },
    )
    .await;
    let claims = server.claims();
    let client = connect(&server.mcp_url, Some(&server.mint(&claims)))
        .await
        .expect("connected");

    let greeted = call(&client, "greet", None).await;
    assert_ne!(greeted.is_error, Some(true), "{}", text_of(&greeted));
    assert_eq!(
        text_of(&greeted),
        format!("hello from state, {}", claims["sub"].as_str().unwrap())
    );

    // One value shared by every call (each gets a clone of the Arc).
    assert_eq!(text_of(&call(&client, "count", None).await), "1");
    assert_eq!(text_of(&call(&client, "count", None).await), "2");
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let missing = call(&client, "needs_unregistered", None).await;
    assert_eq!(missing.is_error, Some(true));
    let text = text_of(&missing);
    assert!(
        text.contains(std::any::type_name::<Unregistered>()) && text.contains("with_state"),
        "names the type and the fix: {text}"
    );
    client.cancel().await.unwrap();
}

// --- what a handler sees of the HTTP request -----------------------------------------------

/// A handler can read the request's headers (a trace id, say), but never the
/// credential: the guard removes `Authorization` once the token is verified.
#[tokio::test]
async fn handlers_see_request_headers_but_not_the_authorization_header() {
    let server = TestServer::start_server(
        StandIn::start().await,
        |p| p,
        |s| {
            s.tool(
                "headers",
                "The HTTP headers this call sees",
                |ctx: Context| async move {
                    let Some(headers) = ctx.http_headers() else {
                        return "no HTTP headers".to_owned();
                    };
                    let seen: serde_json::Map<String, Value> = headers
                        .iter()
                        .map(|(name, value)| {
                            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                            (name.as_str().to_owned(), Value::String(value))
                        })
                        .collect();
                    Value::Object(seen).to_string()
                },
            )
        },
    )
    .await;
    let token = server.token();
    let session = server.open_session(Some(&token)).await;
    let response = server
        .in_session(Some(&token), &session)
        .header("x-trace", "abc")
        .json(&json!({
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "headers", "arguments": {}},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let message = read_jsonrpc(response).await;
    let text = message["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("a text result: {message}"));
    let seen: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("headers as JSON ({e}): {text}"));
    assert_eq!(
        seen["x-trace"], "abc",
        "the handler sees the request's headers"
    );
    assert_eq!(seen["mcp-session-id"], session.as_str());
    assert!(
        seen.get("authorization").is_none(),
        "Authorization reached the handler: {seen}"
    );
    assert!(!text.contains(&token), "the token reached the handler");
}

// --- configuration problems at start --------------------------------------------------------

fn misconfigured() -> McpServer {
    McpServer::new("misconfigured")
        .tool_with_schema(
            "raw",
            "A tool with a schema that is not an object",
            json!("not an object"),
            |_: Call| async { "unreachable" },
        )
        .resource_template(
            ResourceTemplate::new("users://{id", "Users"),
            |_: Call| async { "unreachable" },
        )
}

#[track_caller]
fn assert_names_schema_and_template(error: &ServeError, expected: &[&str]) {
    let ServeError::Configs(problems) = error else {
        panic!("expected all problems at once, got {error:?}");
    };
    let names: Vec<&str> = problems.iter().map(|p| p.source_name.as_str()).collect();
    assert_eq!(names, expected, "{error}");
    assert_eq!(error.config_errors().len(), expected.len());
    let message = error.to_string();
    for name in expected {
        assert!(message.contains(name), "{name} in {message}");
    }
    assert!(message.contains("not an object"), "{message}");
}

#[tokio::test]
async fn bad_schema_and_bad_template_stop_the_server_naming_both() {
    let both = ["tool `raw` input schema", "resource template `users://{id`"];

    let error = misconfigured()
        .allow_unauthenticated()
        .into_http(None)
        .unwrap_err();
    assert_names_schema_and_template(&error, &both);

    // Without an auth choice that is reported too, first.
    let error = misconfigured().into_http(None).unwrap_err();
    assert_names_schema_and_template(&error, &["auth", both[0], both[1]]);

    // stdio (any byte stream) reports them before reading anything.
    let (_client, server_io) = tokio::io::duplex(1024);
    let (read, write) = tokio::io::split(server_io);
    let error = tokio::time::timeout(
        Duration::from_secs(5),
        misconfigured().serve_io(read, write),
    )
    .await
    .expect("refused at once")
    .unwrap_err();
    assert_names_schema_and_template(&error, &both);
}

#[tokio::test]
async fn serving_at_an_address_in_use_names_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mcp_url = format!("http://{addr}/mcp");
    let servers = [
        McpServer::new("unauthenticated")
            .allow_unauthenticated()
            .mcp_url(&mcp_url),
        scalekit_server::server().auth(ScalekitProvider::new(
            "https://acme.scalekit.com",
            "res_123",
            &mcp_url,
        )),
    ];
    for server in servers {
        let result = tokio::time::timeout(Duration::from_secs(5), server.serve_http_at_mcp_url())
            .await
            .expect("the bind fails at once instead of serving");
        let error = result.unwrap_err();
        let ServeError::Bind {
            addr: reported,
            source,
        } = &error
        else {
            panic!("expected a bind error, got {error:?}");
        };
        assert!(reported.contains(&addr), "{reported}");
        assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        assert!(error.to_string().contains(&addr), "{error}");
    }
    drop(taken);
}

// --- unit-testing handlers -------------------------------------------------------------------

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct DeleteTodo {
    /// Whose todo it is.
    owner: String,
}

/// A handler with a policy worth unit-testing: writers may delete their own todos.
async fn delete_todo(token: AccessToken, Args(todo): Args<DeleteTodo>) -> Result<String, String> {
    if !token.scopes().contains("todo:write") {
        return Err("todo:write required".to_owned());
    }
    if todo.owner != token.subject() {
        return Err(format!(
            "{} may not delete {}'s todo",
            token.subject(),
            todo.owner
        ));
    }
    Ok("deleted".to_owned())
}

#[tokio::test]
async fn for_testing_tokens_unit_test_a_handler() {
    let writer = AccessToken::for_testing(json!({"sub": "usr_1", "scope": "openid todo:write"}));
    let reader = AccessToken::for_testing(json!({"sub": "usr_1", "scopes": ["todo:read"]}));
    let todo = |owner: &str| {
        Args(DeleteTodo {
            owner: owner.to_owned(),
        })
    };
    assert_eq!(
        delete_todo(writer.clone(), todo("usr_1")).await,
        Ok("deleted".into())
    );
    assert_eq!(
        delete_todo(writer, todo("usr_2")).await,
        Err("usr_1 may not delete usr_2's todo".into())
    );
    assert_eq!(
        delete_todo(reader, todo("usr_1")).await,
        Err("todo:write required".into())
    );

    // Unset registered claims get test values.
    let defaults = AccessToken::for_testing(json!({}));
    assert_eq!(defaults.subject(), "test-user");
    assert_eq!(defaults.issuer(), "https://issuer.test");
    assert!(defaults.expires_at_unix() > now());

    // The same function is a handler as it stands.
    let _server = McpServer::new("todos").tool("delete_todo", "Deletes a todo", delete_todo);
}

// --- tool! and prompt! through a real client -------------------------------------------------

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Topic {
    /// What it is about.
    topic: String,
}

mcpgate::tool! {
    /// Says who asks about what.
    ///
    /// Uses the caller's subject.
    async fn ask(token: AccessToken, Args(t): Args<Topic>) -> String {
        format!("{} asks about {}", token.subject(), t.topic)
    }
}

mcpgate::prompt! {
    /// Asks for a haiku.
    async fn haiku(Args(t): Args<Topic>) -> String {
        format!("Write a haiku about {}.", t.topic)
    }
}

#[tokio::test]
async fn macro_defined_tool_and_prompt_work_through_a_real_client() {
    let server = TestServer::start_server(
        StandIn::start().await,
        |p| p,
        |s| s.add_tool(ask()).add_prompt(haiku()),
    )
    .await;
    let claims = server.claims();
    let client = connect(&server.mcp_url, Some(&server.mint(&claims)))
        .await
        .expect("connected");

    let tools = client.list_all_tools().await.unwrap();
    let listed = tools.iter().find(|t| t.name == "ask").expect("ask listed");
    assert_eq!(
        listed.description.as_deref(),
        Some("Says who asks about what.\n\nUses the caller's subject.")
    );
    let asked = call(&client, "ask", Some(json!({"topic": "keys"}))).await;
    assert_ne!(asked.is_error, Some(true), "{}", text_of(&asked));
    assert_eq!(
        text_of(&asked),
        format!("{} asks about keys", claims["sub"].as_str().unwrap())
    );

    let prompts = client.list_all_prompts().await.unwrap();
    let listed = prompts
        .iter()
        .find(|p| p.name == "haiku")
        .expect("haiku listed");
    assert_eq!(listed.description.as_deref(), Some("Asks for a haiku."));
    let prompt = client
        .get_prompt(
            GetPromptRequestParams::new("haiku")
                .with_arguments(arguments(json!({"topic": "rust"}))),
        )
        .await
        .expect("prompts/get");
    let prompt = serde_json::to_value(prompt).unwrap();
    assert_eq!(prompt["messages"][0]["role"], "user", "{prompt}");
    assert_eq!(
        prompt["messages"][0]["content"]["text"], "Write a haiku about rust.",
        "{prompt}"
    );
    client.cancel().await.unwrap();
}

// --- ProtectedResource::builder ---------------------------------------------------------------

fn verifier(issuer: &str, jwks_uri: &str, audience: &str) -> JwtVerifier {
    JwtVerifier::new(
        JwksCache::new(jwks_uri, test_jwks_config()),
        VerifierSettings::new([issuer], [audience], [SigningAlgorithm::Rs256]),
    )
    .expect("valid settings")
}

#[test]
fn resource_builder_without_an_authorization_server_is_a_config_error() {
    let mcp_url = "https://mcp.example.com/mcp";
    let error = ProtectedResource::builder(
        McpUrl::parse(mcp_url).unwrap(),
        verifier(
            "https://id.example.com",
            "https://id.example.com/keys",
            mcp_url,
        ),
    )
    .build()
    .unwrap_err();
    assert_eq!(error.source_name, "authorization_servers");
    assert!(!error.problem.is_empty());

    let error = ProtectedResource::builder(
        McpUrl::parse(mcp_url).unwrap(),
        verifier(
            "https://id.example.com",
            "https://id.example.com/keys",
            mcp_url,
        ),
    )
    .authorization_server("id.example.com")
    .build()
    .unwrap_err();
    assert_eq!(error.source_name, "authorization_servers");

    // Settings that would switch a check off are refused too.
    let keys = || JwksCache::new("https://id.example.com/keys", JwksConfig::default());
    let no_issuer = VerifierSettings::new([""], [mcp_url], [SigningAlgorithm::Rs256]);
    assert_eq!(
        JwtVerifier::new(keys(), no_issuer).err(),
        Some(InvalidSettings::NoIssuer)
    );
    let no_audience = VerifierSettings::new(
        ["https://id.example.com"],
        Vec::<String>::new(),
        [SigningAlgorithm::Rs256],
    );
    assert_eq!(
        JwtVerifier::new(keys(), no_audience).err(),
        Some(InvalidSettings::NoAudience)
    );
}

/// A provider written outside mcpgate-auth: a built resource is itself an
/// auth provider.
#[tokio::test]
async fn resource_built_by_hand_protects_a_server() {
    let idp = StandIn::start().await;
    let server = Running::start(|mcp_url| {
        let resource = ProtectedResource::builder(
            McpUrl::parse(mcp_url).unwrap(),
            verifier(idp.url(), &format!("{}/keys", idp.url()), mcp_url),
        )
        .authorization_server(idp.url())
        .build()
        .expect("valid resource");
        scalekit_server::server().auth(resource)
    })
    .await;
    let document: Value = server
        .http
        .get(server.metadata_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["authorization_servers"], json!([idp.url()]));

    let response = server.initialize(None).await;
    assert_eq!(www_authenticate(&response), server.bare_challenge());
    let token = idp.mint(&idp.user_claims(&server.mcp_url));
    assert_eq!(
        server.initialize(Some(&token)).await.status(),
        StatusCode::OK
    );
    // Only the one issuer and audience it was given.
    let other_audience = idp.mint(&with(
        idp.user_claims(&server.mcp_url),
        "aud",
        json!([idp.res_id()]),
    ));
    let response = server.initialize(Some(&other_audience)).await;
    assert_eq!(
        www_authenticate(&response),
        server.invalid_token("wrong audience")
    );
}
