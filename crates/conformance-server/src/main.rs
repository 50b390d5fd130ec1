//! The fixture the official MCP conformance suite (`@modelcontextprotocol/conformance`)
//! tests against, written only with mcpgate's public API — so the suite's
//! verdict is about mcpgate, not about hand-written protocol code.
//!
//! `conformance-server [--port N]` (or `PORT=N`) serves `http://127.0.0.1:N/mcp`
//! with auth off and the Host/Origin allow-list on. `conformance-server --stdio`
//! serves the same server over stdio instead, so conformance/run.sh can put it
//! behind `mcpgate dev --` and score the gateway against the direct run.

mod input_required;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mcpgate::model::{
    ContentBlock, ElicitationAction, GetPromptResult, PromptMessage, Resource, ResourceContents,
    ResourceTemplate, Role,
};
use mcpgate::{Args, Blob, Call, CompletionRequest, Context, LogLevel, McpServer};
use serde_json::{Value, json};

/// A 1×1 PNG.
const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xfc, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x05, 0x02, 0x00, 0x5f, 0xc8, 0xf1, 0xd2, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn png_base64() -> String {
    STANDARD.encode(PNG_1X1)
}

/// A short silent mono 8 kHz 16-bit WAV, built rather than pasted.
fn wav_base64() -> String {
    let samples = 80u32; // 10 ms
    let data_len = samples * 2;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&8000u32.to_le_bytes()); // sample rate
    wav.extend_from_slice(&16000u32.to_le_bytes()); // byte rate
    wav.extend_from_slice(&2u16.to_le_bytes()); // block align
    wav.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    wav.resize(44 + data_len as usize, 0);
    STANDARD.encode(wav)
}

fn text_resource(uri: &str, mime: &str, text: &str) -> ContentBlock {
    ContentBlock::resource(ResourceContents::text(text, uri).with_mime_type(mime))
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct SamplingArgs {
    /// The prompt to send to the client's model.
    prompt: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct ElicitArgs {
    /// The message to show the user.
    message: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct PromptArgs {
    /// First test argument.
    arg1: String,
    /// Second test argument.
    arg2: Option<String>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct EmbeddedResourceArgs {
    /// URI of the resource to embed.
    #[serde(rename = "resourceUri")]
    resource_uri: Option<String>,
}

async fn with_logging(ctx: Context) -> &'static str {
    for message in [
        "Tool execution started",
        "Tool processing data",
        "Tool execution completed",
    ] {
        ctx.log(LogLevel::Info, message).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    "Logging test completed"
}

async fn with_progress(ctx: Context) -> &'static str {
    for (step, message) in [(0.0, "Starting"), (50.0, "Halfway"), (100.0, "Complete")] {
        ctx.progress(step, Some(100.0), Some(message)).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    "Progress test completed"
}

async fn sampling(
    ctx: Context,
    Args(args): Args<SamplingArgs>,
) -> Result<String, mcpgate::CallError> {
    let answer = ctx.sample(args.prompt, 100).await?;
    Ok(format!("LLM response: {answer}"))
}

fn describe(action: &ElicitationAction) -> &'static str {
    match action {
        ElicitationAction::Accept => "accept",
        ElicitationAction::Decline => "decline",
        ElicitationAction::Cancel => "cancel",
        _ => "unknown",
    }
}

async fn elicit(
    ctx: &Context,
    message: String,
    schema: Value,
) -> Result<String, mcpgate::CallError> {
    let result = ctx.elicit(message, schema).await?;
    let content = result
        .content
        .map(|c| c.to_string())
        .unwrap_or_else(|| "null".to_owned());
    Ok(format!(
        "User response: action={}, content={content}",
        describe(&result.action)
    ))
}

async fn elicitation(
    ctx: Context,
    Args(args): Args<ElicitArgs>,
) -> Result<String, mcpgate::CallError> {
    let schema = json!({
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "The user's name"},
            "email": {"type": "string", "description": "The user's email address"}
        },
        "required": ["username", "email"]
    });
    elicit(&ctx, args.message, schema).await
}

async fn elicitation_defaults(ctx: Context) -> Result<String, mcpgate::CallError> {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Name", "default": "John Doe"},
            "age": {"type": "integer", "description": "Age", "default": 30},
            "score": {"type": "number", "description": "Score", "default": 95.5},
            "status": {"type": "string", "description": "Status", "enum": ["active", "inactive", "pending"], "default": "active"},
            "verified": {"type": "boolean", "description": "Verified", "default": true}
        }
    });
    elicit(
        &ctx,
        "Please review these values (all have defaults)".to_owned(),
        schema,
    )
    .await
}

async fn elicitation_enums(ctx: Context) -> Result<String, mcpgate::CallError> {
    let titled = |prefix: &str| {
        (1..=3)
            .map(|i| json!({"const": format!("value{i}"), "title": format!("{prefix} {i}")}))
            .collect::<Vec<_>>()
    };
    let schema = json!({
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
            "titledSingle": {"type": "string", "oneOf": titled("Option")},
            "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"]},
            "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
            "titledMulti": {"type": "array", "items": {"anyOf": titled("Choice")}}
        }
    });
    elicit(&ctx, "Choose from these enums".to_owned(), schema).await
}

async fn json_schema_tool(call: Call) -> String {
    let name = call
        .arguments()
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("world");
    format!("Hello, {name}!")
}

async fn complete(request: CompletionRequest) -> Vec<String> {
    let candidates: &[&str] = match (request.is_prompt, request.argument.as_str()) {
        (false, "id") => &["1", "2", "3"],
        (true, "arg1" | "arg2") => &["alpha", "beta", "gamma"],
        _ => &[],
    };
    candidates
        .iter()
        .filter(|c| c.starts_with(&request.value))
        .map(|c| (*c).to_owned())
        .collect()
}

fn server() -> McpServer {
    input_required::register(base_server())
}

fn base_server() -> McpServer {
    let json_schema_2020_12 = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "type": "object",
                "properties": {"street": {"type": "string"}, "city": {"type": "string"}}
            }
        },
        "properties": {
            "name": {"type": "string"},
            "address": {"$ref": "#/$defs/address"}
        },
        "additionalProperties": false
    });
    McpServer::new("mcpgate-conformance-server")
        .instructions("Fixture for the MCP conformance suite, built with mcpgate.")
        .allow_unauthenticated()
        .tool("test_simple_text", "Returns one text item", || async {
            "This is a simple text response for testing."
        })
        .tool("test_image_content", "Returns a PNG image", || async {
            ContentBlock::image(png_base64(), "image/png")
        })
        .tool("test_audio_content", "Returns a WAV clip", || async {
            ContentBlock::audio(wav_base64(), "audio/wav")
        })
        .tool(
            "test_embedded_resource",
            "Returns an embedded text resource",
            || async {
                text_resource(
                    "test://embedded-resource",
                    "text/plain",
                    "This is an embedded resource content.",
                )
            },
        )
        .tool(
            "test_multiple_content_types",
            "Returns text, an image and a resource",
            || async {
                vec![
                    ContentBlock::text("Multiple content types test:"),
                    ContentBlock::image(png_base64(), "image/png"),
                    text_resource(
                        "test://mixed-content-resource",
                        "application/json",
                        r#"{"test":"data","value":123}"#,
                    ),
                ]
            },
        )
        .tool(
            "test_tool_with_logging",
            "Sends three log messages while running",
            with_logging,
        )
        // 2026-07-28's name for the same diagnostic: it must log nothing
        // unless the request asks for a level in `_meta`.
        .tool(
            "test_logging_tool",
            "Sends three log messages while running",
            with_logging,
        )
        .tool(
            "test_tool_with_progress",
            "Reports progress 0, 50, 100",
            with_progress,
        )
        .tool(
            "test_error_handling",
            "Always fails with a tool error",
            || async { Err::<String, _>("This tool intentionally returns an error for testing") },
        )
        .tool(
            "test_sampling",
            "Asks the client's model to complete a prompt",
            sampling,
        )
        .tool(
            "test_elicitation",
            "Asks the user for a username and email",
            elicitation,
        )
        .tool(
            "test_elicitation_sep1034_defaults",
            "Elicitation with default values (SEP-1034)",
            elicitation_defaults,
        )
        .tool(
            "test_elicitation_sep1330_enums",
            "Elicitation with enum forms (SEP-1330)",
            elicitation_enums,
        )
        .tool_with_schema(
            "json_schema_2020_12_tool",
            "A tool whose input schema uses JSON Schema 2020-12 features",
            json_schema_2020_12,
            json_schema_tool,
        )
        .tool(
            "test_reconnection",
            "Answers after a short delay (SSE reconnection)",
            || async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                "Reconnection test completed"
            },
        )
        .resource(
            Resource::new("test://static-text", "Static Text Resource")
                .with_description("A static text resource")
                .with_mime_type("text/plain"),
            || async { "This is the content of the static text resource." },
        )
        .resource(
            Resource::new("test://static-binary", "Static Binary Resource")
                .with_description("A static binary resource (a PNG)")
                .with_mime_type("image/png"),
            || async { Blob(PNG_1X1.to_vec()) },
        )
        .resource(
            Resource::new("test://watched-resource", "Watched Resource")
                .with_description("A resource clients may subscribe to")
                .with_mime_type("text/plain"),
            || async { "Watched resource content." },
        )
        .resource_template(
            ResourceTemplate::new("test://template/{id}/data", "Dynamic Resource")
                .with_description("Data for one id")
                .with_mime_type("application/json"),
            |call: Call| async move {
                let id = call
                    .arguments()
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")})
            },
        )
        .prompt(
            "test_simple_prompt",
            "A simple prompt without arguments",
            || async { "This is a simple test prompt." },
        )
        .prompt(
            "test_prompt_with_arguments",
            "A prompt that uses its arguments",
            |Args(a): Args<PromptArgs>| async move {
                format!(
                    "Prompt with arguments: arg1='{}', arg2='{}'",
                    a.arg1,
                    a.arg2.unwrap_or_default()
                )
            },
        )
        .prompt(
            "test_prompt_with_embedded_resource",
            "A prompt that embeds a resource",
            |Args(a): Args<EmbeddedResourceArgs>| async move {
                let uri = a
                    .resource_uri
                    .unwrap_or_else(|| "test://static-text".to_owned());
                vec![
                    PromptMessage::new_text(Role::User, "Here is a resource:"),
                    PromptMessage::new(
                        Role::User,
                        text_resource(
                            &uri,
                            "text/plain",
                            "Embedded resource content for the prompt.",
                        ),
                    ),
                ]
            },
        )
        .prompt(
            "test_prompt_with_image",
            "A prompt that includes an image",
            || async {
                GetPromptResult::new(vec![
                    PromptMessage::new_text(Role::User, "Here is an image:"),
                    PromptMessage::new(Role::User, ContentBlock::image(png_base64(), "image/png")),
                ])
            },
        )
        .completion(complete)
}

fn port_from_args() -> anyhow::Result<u16> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = match args.as_slice() {
        [] => match std::env::var("PORT") {
            Ok(v) => v,
            Err(_) => return Ok(3000),
        },
        [flag, v] if flag == "--port" => v.clone(),
        [arg] if arg.starts_with("--port=") => arg["--port=".len()..].to_owned(),
        _ => anyhow::bail!("usage: conformance-server [--port N] (or PORT=N) | --stdio"),
    };
    value
        .parse()
        .map_err(|e| anyhow::anyhow!("port `{value}`: {e}"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    if std::env::args().skip(1).eq(["--stdio".to_owned()]) {
        server().serve_stdio().await?;
        return Ok(());
    }
    let port = port_from_args()?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!(
        "conformance-server listening on http://127.0.0.1:{}/mcp",
        listener.local_addr()?.port()
    );
    server()
        .serve_with_shutdown(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
