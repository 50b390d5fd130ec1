//! [`Definition`]: a named, described, type-erased handler, the one shape in
//! which tools and prompts are registered, whether they come from
//! [`McpServer::tool`](crate::McpServer::tool), [`tool!`](crate::tool!) or
//! their prompt counterparts.

use std::sync::Arc;

use rmcp::model::{CallToolResult, GetPromptResult, JsonObject};

use crate::handler::{ErasedHandler, Handler, erase};
use crate::prompts::IntoPromptResult;
use crate::tools::IntoToolResult;

/// A component ready to register: name, description, schemas and handler.
/// `T` is what the erased handler produces; use the aliases [`ToolDef`] and
/// [`PromptDef`].
pub struct Definition<T> {
    pub(crate) name: String,
    pub(crate) description: String,
    /// The argument schema, from the handler's `Args<T>` or given verbatim.
    pub(crate) input_schema: Option<Arc<JsonObject>>,
    /// The structured-output schema (tools returning `Json<T>`).
    pub(crate) output_schema: Option<Arc<JsonObject>>,
    /// Whether the handler needs the rmcp request context
    /// ([`Handler::needs_peer`]); such tools never take the fast path.
    pub(crate) needs_peer: bool,
    /// Scopes a caller must hold to use (and see) this component; they
    /// become a policy when it is registered.
    pub(crate) required_scopes: Vec<String>,
    pub(crate) handler: ErasedHandler<T>,
}

/// A tool ready for [`McpServer::add_tool`](crate::McpServer::add_tool).
/// Usually made by [`tool!`](crate::tool!).
pub type ToolDef = Definition<CallToolResult>;

/// A prompt ready for [`McpServer::add_prompt`](crate::McpServer::add_prompt).
/// Usually made by [`prompt!`](crate::prompt!).
pub type PromptDef = Definition<Result<GetPromptResult, String>>;

impl<T> std::fmt::Debug for Definition<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Definition")
            .field("name", &self.name)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl<T> Definition<T> {
    /// The component's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The component's description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Requires these scopes of every caller (all of them): one lacking some
    /// is answered over HTTP with a `403` step-up challenge naming the scopes
    /// it holds plus these, and does not see the component in lists. The
    /// same as [`McpServer::policy`](crate::McpServer::policy) with
    /// `Policy::tools(name).scopes(..)` (or `Policy::prompts`); it needs
    /// authentication, and the name must not contain `*` or `?`.
    ///
    /// ```
    /// use mcpgate::{McpServer, ToolDef};
    ///
    /// let add = ToolDef::new("add_todo", "Adds a todo", || async { "added" })
    ///     .requires_scopes(["todo:write"]);
    /// let server = McpServer::new("todos").add_tool(add);
    /// ```
    pub fn requires_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_scopes
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The scopes [`requires_scopes`](Self::requires_scopes) declared.
    pub fn required_scopes(&self) -> &[String] {
        &self.required_scopes
    }
}

impl ToolDef {
    /// A tool named `name` described by `description`, run by `handler`.
    pub fn new<H, M>(name: impl Into<String>, description: impl Into<String>, handler: H) -> Self
    where
        H: Handler<M>,
        H::Output: IntoToolResult,
        M: 'static,
    {
        Self {
            name: name.into(),
            description: description.into(),
            input_schema: H::input_schema(),
            output_schema: <H::Output as IntoToolResult>::output_schema(),
            needs_peer: H::needs_peer(),
            required_scopes: Vec::new(),
            handler: erase(handler, IntoToolResult::into_tool_result),
        }
    }
}

impl PromptDef {
    /// A prompt named `name` described by `description`, built by `handler`.
    pub fn new<H, M>(name: impl Into<String>, description: impl Into<String>, handler: H) -> Self
    where
        H: Handler<M>,
        H::Output: IntoPromptResult,
        M: 'static,
    {
        Self {
            name: name.into(),
            description: description.into(),
            input_schema: H::input_schema(),
            output_schema: None,
            needs_peer: H::needs_peer(),
            required_scopes: Vec::new(),
            handler: erase(handler, IntoPromptResult::into_prompt_result),
        }
    }
}
