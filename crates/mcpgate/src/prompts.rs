//! Prompts: templates of messages the client can ask for by name. The
//! argument list is derived from the handler's `Args<T>` schema (property
//! names, descriptions and required-ness), so it cannot drift from the code.

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::ErrorData;
use rmcp::model::{GetPromptResult, JsonObject, Prompt, PromptArgument, PromptMessage, Role};
use serde_json::Value;

use crate::definition::PromptDef;
use crate::handler::{Call, ErasedHandler};

/// What a prompt handler may return.
pub trait IntoPromptResult {
    /// Converts into the `prompts/get` result, or an error message.
    fn into_prompt_result(self) -> Result<GetPromptResult, String>;
}

impl IntoPromptResult for GetPromptResult {
    fn into_prompt_result(self) -> Result<GetPromptResult, String> {
        Ok(self)
    }
}

impl IntoPromptResult for Vec<PromptMessage> {
    fn into_prompt_result(self) -> Result<GetPromptResult, String> {
        Ok(GetPromptResult::new(self))
    }
}

impl IntoPromptResult for PromptMessage {
    fn into_prompt_result(self) -> Result<GetPromptResult, String> {
        Ok(GetPromptResult::new(vec![self]))
    }
}

impl IntoPromptResult for String {
    /// One user message with this text.
    fn into_prompt_result(self) -> Result<GetPromptResult, String> {
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            self,
        )]))
    }
}

impl IntoPromptResult for &'static str {
    fn into_prompt_result(self) -> Result<GetPromptResult, String> {
        self.to_owned().into_prompt_result()
    }
}

impl<T: IntoPromptResult, E: std::fmt::Display> IntoPromptResult for Result<T, E> {
    fn into_prompt_result(self) -> Result<GetPromptResult, String> {
        self.map_err(|e| e.to_string())?.into_prompt_result()
    }
}

/// Prompt arguments from an object schema: one per property.
fn arguments_from_schema(schema: &JsonObject) -> Vec<PromptArgument> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, property)| {
            let mut argument =
                PromptArgument::new(name.clone()).with_required(required.contains(&name.as_str()));
            if let Some(description) = property.get("description").and_then(Value::as_str) {
                argument = argument.with_description(description);
            }
            argument
        })
        .collect()
}

/// The registered prompts, in registration order.
#[derive(Clone, Default)]
pub(crate) struct PromptRegistry {
    definitions: Vec<Prompt>,
    handlers: HashMap<String, ErasedHandler<Result<GetPromptResult, String>>>,
}

impl PromptRegistry {
    pub(crate) fn insert(&mut self, def: PromptDef) {
        let arguments = def
            .input_schema
            .as_deref()
            .map(arguments_from_schema)
            .filter(|a| !a.is_empty());
        let prompt = Prompt::new(def.name.clone(), Some(def.description), arguments);
        self.definitions.retain(|p| p.name != def.name);
        self.definitions.push(prompt);
        self.handlers.insert(def.name, def.handler);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.definitions.is_empty()
    }

    pub(crate) fn list(&self) -> Vec<Prompt> {
        self.definitions.clone()
    }

    /// The prompts `allowed` keeps (lists that follow policy).
    pub(crate) fn list_where(&self, mut allowed: impl FnMut(&Prompt) -> bool) -> Vec<Prompt> {
        self.definitions
            .iter()
            .filter(|p| allowed(p))
            .cloned()
            .collect()
    }

    pub(crate) async fn get(&self, call: Call) -> Result<GetPromptResult, ErrorData> {
        let handler: Arc<_> = self.handlers.get(call.name()).cloned().ok_or_else(|| {
            ErrorData::invalid_params(format!("unknown prompt `{}`", call.name()), None)
        })?;
        match handler(call).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(message)) => Err(ErrorData::internal_error(message, None)),
            Err(e) => Err(ErrorData::invalid_params(e.0, None)),
        }
    }
}
