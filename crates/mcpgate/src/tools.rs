//! Tools: registration and what a tool may return.
//!
//! Any [`Handler`] whose output implements
//! [`IntoToolResult`] is a tool; see [`crate::handler`] for the argument side.
//! The input schema comes from the [`Args`](crate::Args) type (a tool without
//! `Args` takes an empty object), or is given verbatim with
//! [`McpServer::tool_with_schema`](crate::McpServer::tool_with_schema).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::definition::ToolDef;
use crate::handler::{Call, ErasedHandler};

/// A structured (JSON) tool result whose type also yields the `outputSchema`.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

/// What a tool handler may return.
pub trait IntoToolResult {
    /// Converts into the MCP result.
    fn into_tool_result(self) -> CallToolResult;

    /// The `outputSchema` this result type declares, if any.
    fn output_schema() -> Option<Arc<JsonObject>> {
        None
    }
}

impl IntoToolResult for CallToolResult {
    fn into_tool_result(self) -> CallToolResult {
        self
    }
}

impl IntoToolResult for String {
    fn into_tool_result(self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(self)])
    }
}

impl IntoToolResult for &'static str {
    fn into_tool_result(self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(self)])
    }
}

impl IntoToolResult for ContentBlock {
    fn into_tool_result(self) -> CallToolResult {
        CallToolResult::success(vec![self])
    }
}

impl IntoToolResult for Vec<ContentBlock> {
    fn into_tool_result(self) -> CallToolResult {
        CallToolResult::success(self)
    }
}

impl IntoToolResult for Value {
    /// An object becomes structured content (plus its JSON text, for older
    /// clients); any other value becomes its JSON text.
    fn into_tool_result(self) -> CallToolResult {
        if self.is_object() {
            CallToolResult::structured(self)
        } else {
            CallToolResult::success(vec![ContentBlock::text(self.to_string())])
        }
    }
}

impl<T: Serialize + JsonSchema + 'static> IntoToolResult for Json<T> {
    fn into_tool_result(self) -> CallToolResult {
        match serde_json::to_value(&self.0) {
            Ok(value) => CallToolResult::structured(value),
            Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
                "could not serialise the result: {e}"
            ))]),
        }
    }

    fn output_schema() -> Option<Arc<JsonObject>> {
        let schema = rmcp::handler::server::common::schema_for_output::<T>();
        // MCP requires an object-typed output schema.
        (schema.get("type").and_then(Value::as_str) == Some("object")).then_some(schema)
    }
}

impl<T: IntoToolResult, E: std::fmt::Display> IntoToolResult for Result<T, E> {
    /// `Err` becomes a result with `isError: true`, which the model can read.
    fn into_tool_result(self) -> CallToolResult {
        match self {
            Ok(v) => v.into_tool_result(),
            Err(e) => CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
        }
    }

    fn output_schema() -> Option<Arc<JsonObject>> {
        T::output_schema()
    }
}

pub(crate) fn empty_object_schema() -> Arc<JsonObject> {
    let mut schema = JsonObject::new();
    schema.insert("type".into(), Value::from("object"));
    schema.insert("properties".into(), Value::Object(JsonObject::new()));
    Arc::new(schema)
}

/// The registered tools, in registration order.
#[derive(Clone, Default)]
pub(crate) struct ToolRegistry {
    definitions: Vec<Tool>,
    handlers: HashMap<String, ErasedHandler<CallToolResult>>,
    /// Tools the HTTP fast path may run itself (see [`Self::inline_handler`]).
    inline: HashSet<String>,
}

impl ToolRegistry {
    pub(crate) fn insert(&mut self, def: ToolDef) {
        let input_schema = def.input_schema.unwrap_or_else(empty_object_schema);
        let mut tool = Tool::new(def.name.clone(), def.description, input_schema);
        if let Some(output) = def.output_schema {
            tool = tool.with_raw_output_schema(output);
        }
        if self.handlers.contains_key(&def.name) {
            tracing::warn!(
                tool = def.name,
                "tool registered twice; the later registration wins"
            );
            self.definitions.retain(|t| t.name != def.name);
        }
        // SEP-2243 `x-mcp-header` annotations ask for `Mcp-Param-*` header
        // checks, which only rmcp's service performs.
        let param_headers = serde_json::to_string(&tool.input_schema)
            .map_or(true, |schema| schema.contains("\"x-mcp-header\""));
        if def.needs_peer || param_headers {
            self.inline.remove(&def.name);
        } else {
            self.inline.insert(def.name.clone());
        }
        self.definitions.push(tool);
        self.handlers.insert(def.name, def.handler);
    }

    /// The handler of `name` if it can run outside rmcp's service: it needs
    /// no request context ([`crate::handler::FromCall::needs_peer`]) and its
    /// schema asks for no `Mcp-Param-*` headers. `None` for other and
    /// unknown tools (which the general path answers).
    pub(crate) fn inline_handler(&self, name: &str) -> Option<&ErasedHandler<CallToolResult>> {
        if !self.inline.contains(name) {
            return None;
        }
        self.handlers.get(name)
    }

    pub(crate) fn definitions(&self) -> &[Tool] {
        &self.definitions
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.definitions.is_empty()
    }

    /// Runs a tool; `None` if there is no such tool. A failed extractor becomes
    /// an `isError` result, so the model sees what was wrong with its call.
    pub(crate) async fn call(&self, call: Call) -> Option<CallToolResult> {
        let handler = self.handlers.get(call.name())?.clone();
        Some(run_tool(&handler, call).await)
    }
}

/// Runs a tool handler; a failed extractor becomes an `isError` result. The
/// one place both the rmcp path and the fast path turn a call into a result.
pub(crate) async fn run_tool(
    handler: &ErasedHandler<CallToolResult>,
    call: Call,
) -> CallToolResult {
    match handler(call).await {
        Ok(result) => result,
        Err(e) => CallToolResult::error(vec![ContentBlock::text(e.0)]),
    }
}
