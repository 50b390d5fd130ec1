//! Per-item policies (issue 12) over real HTTP: every policy form (scopes on
//! a definition or a policy, claim conditions, predicates, globs, deny by
//! default) for tools, prompts, resources and resource templates; the exact
//! `403` challenges (step-up naming held plus required scopes; a claim or
//! predicate denial without a scope hint); both protocol eras (a 2026-07-28
//! request refused from its headers, before its body is read); lists that
//! show each caller only what it may use; rmcp's client meeting the 403.

use http::StatusCode;
use mcpgate::auth::policy::Policy;
use mcpgate::model::{Resource, ResourceTemplate};
use mcpgate::{AccessToken, McpServer, PromptDef, ToolDef};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use crate::support::*;

const STATELESS: &str = "2026-07-28";

/// The server under test: one item per policy form.
fn todo_server() -> McpServer {
    McpServer::new("Todos")
        .tool("list_todos", "No policy", || async { "todos" })
        .add_tool(
            ToolDef::new("add_todo", "Needs todo:write", || async { "added" })
                .requires_scopes(["todo:write"]),
        )
        .tool("admin_purge", "Glob + claim", || async { "purged" })
        .tool("admin_report", "Glob + claim", || async { "report" })
        .tool("vip_lounge", "Predicate", |t: AccessToken| async move {
            format!("welcome {}", t.subject())
        })
        .policy(Policy::tools("admin_*").claim_equals("org_id", "org_1"))
        .policy(Policy::tools("vip_lounge").require(|t| t.subject().starts_with("usr_vip")))
        .prompt("open_prompt", "No policy", || async { "hello" })
        .add_prompt(
            PromptDef::new("plan", "Needs todo:read", || async { "plan it" })
                .requires_scopes(["todo:read"]),
        )
        .resource(Resource::new("docs://public", "Public"), || async {
            "public"
        })
        .resource(Resource::new("docs://secret/a", "Secret"), || async {
            "secret"
        })
        .policy(Policy::resources("docs://secret/*").scopes(["docs:read"]))
        .resource_template(
            ResourceTemplate::new("users://{id}/profile", "Profiles"),
            || async { "profile" },
        )
        .policy(Policy::resource_templates("users://{id}/profile").claim_contains("roles", "admin"))
        .completion(|_| async { vec!["soon".to_owned(), "later".to_owned()] })
}

struct Setup {
    idp: StandIn,
    server: Running,
}

impl Setup {
    async fn start(build: fn() -> McpServer) -> Self {
        let idp = StandIn::start().await;
        let server = Running::start(|url| build().auth(idp.provider(url))).await;
        Self { idp, server }
    }

    /// A user token with these scopes (and `extra` claims merged in).
    fn token(&self, scope: &str, extra: Value) -> String {
        let mut claims = self.idp.user_claims(&self.server.mcp_url);
        claims["scope"] = json!(scope);
        if let Value::Object(extra) = extra {
            for (k, v) in extra {
                claims[k] = v;
            }
        }
        self.idp.mint(&claims)
    }

    /// A session-era request on a fresh session.
    async fn session_request(&self, token: &str, method: &str, params: Value) -> reqwest::Response {
        let session = self.server.open_session(Some(token)).await;
        self.server
            .in_session(Some(token), &session)
            .json(&json!({"jsonrpc": "2.0", "id": 5, "method": method, "params": params}))
            .send()
            .await
            .unwrap()
    }

    /// A 2026-07-28 request (no session) with `Mcp-Method`/`Mcp-Name`.
    fn stateless(
        &self,
        token: &str,
        method: &str,
        name: Option<&str>,
        params: Value,
    ) -> reqwest::RequestBuilder {
        let mut params = params;
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": STATELESS,
            "io.modelcontextprotocol/clientInfo": {"name": "mcpgate-tests", "version": "0.0.0"},
            "io.modelcontextprotocol/clientCapabilities": {},
        });
        let mut request = self
            .server
            .post(Some(token))
            .header("mcp-protocol-version", STATELESS)
            .header("mcp-method", method);
        if let Some(name) = name {
            request = request.header("mcp-name", name);
        }
        request.json(&json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}))
    }

    fn step_up(&self, scope: &str) -> String {
        format!(
            r#"Bearer error="insufficient_scope", error_description="this resource requires scope: {scope}", scope="{scope}", resource_metadata="{}""#,
            self.server.metadata_url()
        )
    }

    fn denied(&self, description: &str) -> String {
        format!(
            r#"Bearer error="access_denied", error_description="{description}", resource_metadata="{}""#,
            self.server.metadata_url()
        )
    }
}

#[track_caller]
fn assert_403(response: &reqwest::Response, expected: &str) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(www_authenticate(response), expected);
}

fn call(name: &str) -> Value {
    json!({"name": name, "arguments": {}})
}

async fn result_text(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    let message = read_jsonrpc(response).await;
    let result = &message["result"];
    result["content"][0]["text"]
        .as_str()
        .or_else(|| result["contents"][0]["text"].as_str())
        .or_else(|| result["messages"][0]["content"]["text"].as_str())
        .unwrap_or_else(|| panic!("no text in {message}"))
        .to_owned()
}

// --- scopes: the step-up challenge ------------------------------------------------------

#[tokio::test]
async fn a_session_era_call_lacking_scopes_gets_a_step_up_keeping_held_scopes() {
    let s = Setup::start(todo_server).await;
    let token = s.token("mcp:tools todo:read", json!({}));
    let response = s
        .session_request(&token, "tools/call", call("add_todo"))
        .await;
    assert_403(&response, &s.step_up("mcp:tools todo:read todo:write"));
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "insufficient_scope"
    );

    let upgraded = s.token("mcp:tools todo:read todo:write", json!({}));
    let response = s
        .session_request(&upgraded, "tools/call", call("add_todo"))
        .await;
    assert_eq!(result_text(response).await, "added");
}

#[tokio::test]
async fn a_2026_call_is_refused_from_its_headers_before_the_body_is_read() {
    let s = Setup::start(|| todo_server().max_body_bytes(1024)).await;
    let token = s.token("mcp:tools", json!({}));
    let expected = s.step_up("mcp:tools todo:write");

    // A body no JSON parser accepts: a decision from the body could not be made.
    let response = s
        .stateless(&token, "tools/call", Some("add_todo"), json!({}))
        .body("{{{ this is not JSON")
        .send()
        .await
        .unwrap();
    assert_403(&response, &expected);

    // A body over the limit: read, it would be answered 413.
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"add_todo","pad":"{}"}}}}"#,
        "x".repeat(4096)
    );
    let response = s
        .stateless(&token, "tools/call", Some("add_todo"), json!({}))
        .body(huge.clone())
        .send()
        .await
        .unwrap();
    assert_403(&response, &expected);
    // The same body in a session is read first, and is too large.
    let session = s.server.open_session(Some(&token)).await;
    let response = s
        .server
        .in_session(Some(&token), &session)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // With the scope, the same call goes through.
    let upgraded = s.token("mcp:tools todo:write", json!({}));
    let response = s
        .stateless(&upgraded, "tools/call", Some("add_todo"), call("add_todo"))
        .send()
        .await
        .unwrap();
    assert_eq!(result_text(response).await, "added");
}

#[tokio::test]
async fn a_base64_wrapped_mcp_name_is_decided_on_the_decoded_name() {
    let s = Setup::start(todo_server).await;
    let token = s.token("mcp:tools", json!({}));
    // "add_todo" in SEP-2243's Base64 form.
    let response = s
        .stateless(
            &token,
            "tools/call",
            Some("=?base64?YWRkX3RvZG8=?="),
            call("add_todo"),
        )
        .send()
        .await
        .unwrap();
    assert_403(&response, &s.step_up("mcp:tools todo:write"));
}

#[tokio::test]
async fn an_item_without_policy_is_served_to_anyone() {
    let s = Setup::start(todo_server).await;
    let token = s.token("", json!({}));
    let response = s
        .session_request(&token, "tools/call", call("list_todos"))
        .await;
    assert_eq!(result_text(response).await, "todos");
    let response = s
        .stateless(&token, "tools/call", Some("list_todos"), call("list_todos"))
        .send()
        .await
        .unwrap();
    assert_eq!(result_text(response).await, "todos");
}

// --- claim conditions, globs and predicates: denials without a scope ---------------------

#[tokio::test]
async fn a_claim_condition_denies_without_a_scope_hint_for_every_tool_the_glob_matches() {
    let s = Setup::start(todo_server).await;
    let outsider = s.token("mcp:tools", json!({"org_id": "org_2"}));
    let expected =
        s.denied("the token's `org_id` claim does not meet the policy for tool `admin_*`");
    for tool in ["admin_purge", "admin_report"] {
        let response = s.session_request(&outsider, "tools/call", call(tool)).await;
        assert_403(&response, &expected);
        assert!(!www_authenticate(&response).contains("scope="));
        let response = s
            .stateless(&outsider, "tools/call", Some(tool), call(tool))
            .send()
            .await
            .unwrap();
        assert_403(&response, &expected);
    }
    let member = s.token("mcp:tools", json!({"org_id": "org_1"}));
    let response = s
        .stateless(
            &member,
            "tools/call",
            Some("admin_purge"),
            call("admin_purge"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(result_text(response).await, "purged");
}

#[tokio::test]
async fn a_predicate_decides_on_the_verified_token() {
    let s = Setup::start(todo_server).await;
    let mut claims = s.idp.user_claims(&s.server.mcp_url);
    claims["sub"] = json!("usr_vip_1");
    let vip = s.idp.mint(&claims);
    let response = s
        .stateless(&vip, "tools/call", Some("vip_lounge"), call("vip_lounge"))
        .send()
        .await
        .unwrap();
    assert_eq!(result_text(response).await, "welcome usr_vip_1");

    let other = s.token("mcp:tools", json!({}));
    let response = s
        .session_request(&other, "tools/call", call("vip_lounge"))
        .await;
    assert_403(
        &response,
        &s.denied("predicate 0 of the policy for tool `vip_lounge` refused this caller"),
    );
}

// --- prompts and resources --------------------------------------------------------------

#[tokio::test]
async fn prompts_need_their_declared_scopes_in_both_eras() {
    let s = Setup::start(todo_server).await;
    let token = s.token("mcp:tools", json!({}));
    let params = json!({"name": "plan"});
    let response = s
        .session_request(&token, "prompts/get", params.clone())
        .await;
    assert_403(&response, &s.step_up("mcp:tools todo:read"));
    let response = s
        .stateless(&token, "prompts/get", Some("plan"), params.clone())
        .send()
        .await
        .unwrap();
    assert_403(&response, &s.step_up("mcp:tools todo:read"));

    let reader = s.token("mcp:tools todo:read", json!({}));
    let response = s
        .stateless(&reader, "prompts/get", Some("plan"), params)
        .send()
        .await
        .unwrap();
    assert_eq!(result_text(response).await, "plan it");
}

#[tokio::test]
async fn resources_are_decided_by_uri_glob_in_both_eras() {
    let s = Setup::start(todo_server).await;
    let token = s.token("mcp:tools", json!({}));
    let params = json!({"uri": "docs://secret/a"});
    let response = s
        .session_request(&token, "resources/read", params.clone())
        .await;
    assert_403(&response, &s.step_up("mcp:tools docs:read"));
    let response = s
        .stateless(
            &token,
            "resources/read",
            Some("docs://secret/a"),
            params.clone(),
        )
        .send()
        .await
        .unwrap();
    assert_403(&response, &s.step_up("mcp:tools docs:read"));

    let reader = s.token("mcp:tools docs:read", json!({}));
    let response = s
        .stateless(&reader, "resources/read", Some("docs://secret/a"), params)
        .send()
        .await
        .unwrap();
    assert_eq!(result_text(response).await, "secret");
    let response = s
        .session_request(&token, "resources/read", json!({"uri": "docs://public"}))
        .await;
    assert_eq!(result_text(response).await, "public");
}

#[tokio::test]
async fn a_resource_template_policy_governs_every_uri_the_template_serves() {
    let s = Setup::start(todo_server).await;
    let params = json!({"uri": "users://42/profile"});
    let user = s.token("mcp:tools", json!({"roles": ["member"]}));
    let expected = s.denied(
        "the token's `roles` claim does not meet the policy for resource template `users://{id}/profile`",
    );
    let response = s
        .session_request(&user, "resources/read", params.clone())
        .await;
    assert_403(&response, &expected);
    let response = s
        .stateless(
            &user,
            "resources/read",
            Some("users://42/profile"),
            params.clone(),
        )
        .send()
        .await
        .unwrap();
    assert_403(&response, &expected);

    let admin = s.token("mcp:tools", json!({"roles": ["member", "admin"]}));
    let response = s
        .stateless(&admin, "resources/read", Some("users://42/profile"), params)
        .send()
        .await
        .unwrap();
    assert_eq!(result_text(response).await, "profile");
}

#[tokio::test]
async fn subscribing_to_a_resource_follows_its_read_policy() {
    let s = Setup::start(todo_server).await;
    let token = s.token("mcp:tools", json!({}));
    let response = s
        .session_request(
            &token,
            "resources/subscribe",
            json!({"uri": "docs://secret/a"}),
        )
        .await;
    assert_403(&response, &s.step_up("mcp:tools docs:read"));
}

#[tokio::test]
async fn completions_for_an_item_the_caller_may_not_use_are_empty() {
    let s = Setup::start(todo_server).await;
    let complete = json!({
        "ref": {"type": "ref/prompt", "name": "plan"},
        "argument": {"name": "when", "value": ""},
    });
    let values = |message: Value| message["result"]["completion"]["values"].clone();
    let without = s.token("mcp:tools", json!({}));
    let response = s
        .session_request(&without, "completion/complete", complete.clone())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(values(read_jsonrpc(response).await), json!([]));
    let with = s.token("mcp:tools todo:read", json!({}));
    let response = s
        .session_request(&with, "completion/complete", complete)
        .await;
    assert_eq!(
        values(read_jsonrpc(response).await),
        json!(["soon", "later"])
    );
}

// --- lists follow policy ----------------------------------------------------------------

/// The names (or URIs) in a list result.
async fn names(response: reqwest::Response, list: &str, key: &str) -> Vec<String> {
    assert_eq!(response.status(), StatusCode::OK);
    let message = read_jsonrpc(response).await;
    let mut names: Vec<String> = message["result"][list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {message}"))
        .iter()
        .map(|item| item[key].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn lists_show_each_caller_only_what_it_may_use_in_both_eras() {
    let s = Setup::start(todo_server).await;
    let mut claims = s.idp.user_claims(&s.server.mcp_url);
    claims["sub"] = json!("usr_vip_9");
    claims["scope"] = json!("mcp:tools todo:read todo:write docs:read");
    claims["org_id"] = json!("org_1");
    claims["roles"] = json!(["admin"]);
    let everything = s.idp.mint(&claims);
    let basic = s.token("mcp:tools", json!({"org_id": "org_2"}));

    let lists = [
        ("tools/list", "tools", "name"),
        ("prompts/list", "prompts", "name"),
        ("resources/list", "resources", "uri"),
        (
            "resources/templates/list",
            "resourceTemplates",
            "uriTemplate",
        ),
    ];
    let mut seen = Vec::new();
    for token in [&basic, &everything] {
        for (method, list, key) in lists {
            let in_session =
                names(s.session_request(token, method, json!({})).await, list, key).await;
            let stateless = names(
                s.stateless(token, method, None, json!({}))
                    .send()
                    .await
                    .unwrap(),
                list,
                key,
            )
            .await;
            assert_eq!(in_session, stateless, "{method}: the eras agree");
            seen.push(in_session);
        }
    }
    let expected: Vec<Vec<&str>> = vec![
        vec!["list_todos"],
        vec!["open_prompt"],
        vec!["docs://public"],
        vec![],
        vec![
            "add_todo",
            "admin_purge",
            "admin_report",
            "list_todos",
            "vip_lounge",
        ],
        vec!["open_prompt", "plan"],
        vec!["docs://public", "docs://secret/a"],
        vec!["users://{id}/profile"],
    ];
    assert_eq!(seen, expected);
}

// --- deny by default --------------------------------------------------------------------

fn deny_by_default_server() -> McpServer {
    McpServer::new("Locked")
        .tool("allowed", "Named by a policy", || async { "ok" })
        .tool("unlisted", "Named by no policy", || async { "never" })
        .policy(Policy::tools("allowed"))
        .deny_by_default(true)
}

#[tokio::test]
async fn deny_by_default_refuses_and_hides_what_no_policy_names() {
    let s = Setup::start(deny_by_default_server).await;
    let token = s.token("mcp:tools", json!({}));
    let response = s
        .stateless(&token, "tools/call", Some("unlisted"), call("unlisted"))
        .send()
        .await
        .unwrap();
    assert_403(
        &response,
        &s.denied("no policy allows this tool (deny by default)"),
    );
    let response = s
        .session_request(&token, "tools/call", call("unlisted"))
        .await;
    assert_403(
        &response,
        &s.denied("no policy allows this tool (deny by default)"),
    );
    let response = s
        .stateless(&token, "tools/call", Some("allowed"), call("allowed"))
        .send()
        .await
        .unwrap();
    assert_eq!(result_text(response).await, "ok");
    let listed = names(
        s.session_request(&token, "tools/list", json!({})).await,
        "tools",
        "name",
    )
    .await;
    assert_eq!(listed, ["allowed"]);
}

// --- batches, malformed bodies, configuration -------------------------------------------

#[tokio::test]
async fn a_session_era_body_that_is_not_json_rpc_is_refused_not_passed_unchecked() {
    let s = Setup::start(todo_server).await;
    let token = s.token("mcp:tools", json!({}));
    let session = s.server.open_session(Some(&token)).await;
    let response = s
        .server
        .in_session(Some(&token), &session)
        .body(r#"{"method":"tools/call","params":{"name":"add_todo"},"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        -32700
    );
}

#[tokio::test]
async fn policies_without_authentication_refuse_to_start() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = todo_server()
        .allow_unauthenticated()
        .serve_with_shutdown(listener, async {})
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("policies"), "{error}");
    assert!(error.contains("need authentication"), "{error}");
}

#[tokio::test]
async fn a_glob_in_a_declared_tool_name_is_a_configuration_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = McpServer::new("bad")
        .add_tool(ToolDef::new("a*", "glob name", || async { "" }).requires_scopes(["x"]))
        .allow_unauthenticated()
        .serve_with_shutdown(listener, async {})
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("tool `a*` requires_scopes"), "{error}");
}

// --- an official client -----------------------------------------------------------------

#[tokio::test]
async fn rmcp_client_in_a_session_receives_the_step_up_challenge() {
    let s = Setup::start(todo_server).await;
    let token = s.token("mcp:tools", json!({}));
    let client = connect(&s.server.mcp_url, Some(&token)).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(!names.contains(&"add_todo"), "{names:?}");
    let error = client
        .call_tool(CallToolRequestParams::new("add_todo"))
        .await
        .unwrap_err();
    let error = format!("{error:?}");
    assert!(error.contains("InsufficientScope"), "{error}");
    assert!(error.contains("mcp:tools todo:write"), "{error}");
    let _ = client.cancel().await;
}
