//! The 2026-07-28 fixtures: input-required results (SEP-2322), the
//! capability check (SEP-2575 `-32021`) and the list-change hooks for
//! `subscriptions/listen`. Every handler is an ordinary `Context` handler:
//! the same code asks over a session in the older revisions.

use mcpgate::model::ElicitationAction;
use mcpgate::{
    CallError, Context, InputKind, InputRequest, InputResponses, McpServer, Notifier, State,
};
use serde_json::{Value, json};

fn string_form(property: &str) -> Value {
    json!({
        "type": "object",
        "properties": {property: {"type": "string"}},
        "required": [property]
    })
}

fn confirm_form() -> Value {
    json!({
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"]
    })
}

/// The accepted content's `property`, as text.
fn accepted(answers: &InputResponses, key: &str, property: &str) -> Result<String, CallError> {
    let answer = answers
        .get(key)
        .ok_or_else(|| CallError::new(format!("no answer for `{key}`")))?
        .elicitation()?;
    if answer.action != ElicitationAction::Accept {
        return Ok("(declined)".to_owned());
    }
    Ok(
        match answer.content.as_ref().and_then(|c| c.get(property)) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "(missing)".to_owned(),
        },
    )
}

async fn elicitation(ctx: Context) -> Result<String, CallError> {
    let answers = ctx
        .ask([(
            "user_name",
            InputRequest::elicit("What is your name?", string_form("name")),
        )])
        .await?;
    Ok(format!(
        "Hello, {}!",
        accepted(&answers, "user_name", "name")?
    ))
}

async fn sampling(ctx: Context) -> Result<String, CallError> {
    let answers = ctx
        .ask([(
            "capital_question",
            InputRequest::sample("What is the capital of France?", 100),
        )])
        .await?;
    let text = answers["capital_question"].sampled_text()?;
    Ok(format!("Sampling response: {text}"))
}

async fn list_roots(ctx: Context) -> Result<String, CallError> {
    let answers = ctx
        .ask([("client_roots", InputRequest::list_roots())])
        .await?;
    let roots = answers["client_roots"].roots()?;
    let uris: Vec<&str> = roots.iter().map(|r| r.uri.as_str()).collect();
    Ok(format!("Client roots: {}", uris.join(", ")))
}

async fn confirm(ctx: Context) -> Result<String, CallError> {
    let answers = ctx
        .ask([(
            "confirm",
            InputRequest::elicit("Please confirm", confirm_form()),
        )])
        .await?;
    // Reaching here on a retry means the echoed requestState verified (the
    // library refuses the request otherwise).
    Ok(format!(
        "state-ok: ok={}",
        accepted(&answers, "confirm", "ok")?
    ))
}

async fn multiple_inputs(ctx: Context) -> Result<String, CallError> {
    let answers = ctx
        .ask([
            (
                "user_name",
                InputRequest::elicit("What is your name?", string_form("name")),
            ),
            ("greeting", InputRequest::sample("Generate a greeting", 50)),
            ("client_roots", InputRequest::list_roots()),
        ])
        .await?;
    Ok(format!(
        "name={}, greeting={}, roots={}",
        accepted(&answers, "user_name", "name")?,
        answers["greeting"].sampled_text()?,
        answers["client_roots"].roots()?.len()
    ))
}

async fn multi_round(ctx: Context) -> Result<String, CallError> {
    let first = ctx
        .ask([(
            "step1",
            InputRequest::elicit("Step 1: What is your name?", string_form("name")),
        )])
        .await?;
    let second = ctx
        .ask([(
            "step2",
            InputRequest::elicit("Step 2: What is your favorite color?", string_form("color")),
        )])
        .await?;
    Ok(format!(
        "{} likes {}",
        accepted(&first, "step1", "name")?,
        accepted(&second, "step2", "color")?
    ))
}

/// Asks only for what the client declared it can answer.
async fn capabilities(ctx: Context) -> Result<String, CallError> {
    let mut requests = Vec::new();
    if ctx.client_supports(InputKind::Elicitation) {
        requests.push((
            "user_name",
            InputRequest::elicit("What is your name?", string_form("name")),
        ));
    }
    if ctx.client_supports(InputKind::Sampling) {
        requests.push((
            "capital_question",
            InputRequest::sample("What is the capital of France?", 100),
        ));
    }
    if ctx.client_supports(InputKind::Roots) {
        requests.push(("client_roots", InputRequest::list_roots()));
    }
    let answers = ctx.ask(requests).await?;
    Ok(format!(
        "answered: {}",
        answers.keys().cloned().collect::<Vec<_>>().join(", ")
    ))
}

/// Needs sampling whatever the client declared: without the capability the
/// request fails with `-32021`.
async fn missing_capability(ctx: Context) -> Result<String, CallError> {
    let text = ctx.sample("Say hello", 20).await?;
    Ok(format!("Sampling response: {text}"))
}

/// Reports progress, then elicits: on a 2026-07-28 stream only notifications
/// and the input-required result may appear, never a request to the client.
async fn streaming_elicitation(ctx: Context) -> Result<String, CallError> {
    ctx.progress(0.0, Some(1.0), Some("asking")).await;
    let answer = ctx
        .elicit("What is your name?", string_form("name"))
        .await?;
    Ok(format!("User response: action={:?}", answer.action))
}

async fn prompt(ctx: Context) -> Result<String, CallError> {
    let answers = ctx
        .ask([(
            "user_context",
            InputRequest::elicit(
                "What context should the prompt use?",
                string_form("context"),
            ),
        )])
        .await?;
    Ok(format!(
        "Use this context: {}",
        accepted(&answers, "user_context", "context")?
    ))
}

/// Registers the fixtures on `server`.
pub(crate) fn register(server: McpServer) -> McpServer {
    let notifier = server.notifier();
    server
        .with_state(notifier)
        .tool(
            "test_input_required_result_elicitation",
            "Input-required: one elicitation",
            elicitation,
        )
        .tool(
            "test_input_required_result_sampling",
            "Input-required: one sampling request",
            sampling,
        )
        .tool(
            "test_input_required_result_list_roots",
            "Input-required: roots/list",
            list_roots,
        )
        .tool(
            "test_input_required_result_request_state",
            "Input-required with requestState",
            confirm,
        )
        .tool(
            "test_input_required_result_tampered_state",
            "Input-required with sealed requestState",
            confirm,
        )
        .tool(
            "test_input_required_result_multiple_inputs",
            "Input-required: elicitation, sampling and roots at once",
            multiple_inputs,
        )
        .tool(
            "test_input_required_result_multi_round",
            "Input-required over two rounds",
            multi_round,
        )
        .tool(
            "test_input_required_result_capabilities",
            "Input-required only for declared capabilities",
            capabilities,
        )
        .tool(
            "test_missing_capability",
            "Needs the sampling capability",
            missing_capability,
        )
        .tool(
            "test_streaming_elicitation",
            "Progress, then an elicitation",
            streaming_elicitation,
        )
        .tool(
            "test_trigger_tool_change",
            "Announces a tool list change",
            |State(n): State<Notifier>| async move {
                n.tools_list_changed();
                "tools/list_changed sent"
            },
        )
        .tool(
            "test_trigger_prompt_change",
            "Announces a prompt list change",
            |State(n): State<Notifier>| async move {
                n.prompts_list_changed();
                "prompts/list_changed sent"
            },
        )
        .prompt(
            "test_input_required_result_prompt",
            "A prompt that needs input",
            prompt,
        )
}
