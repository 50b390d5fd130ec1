//! `tool!` and `prompt!`: define a handler as an ordinary async function whose
//! doc comment becomes the description clients see, as FastMCP's decorators do.
//! They expand to a plain function returning a [`ToolDef`] / [`PromptDef`], so
//! there is no registry magic: the server still registers what you pass it.

use crate::handler::Handler;
use crate::prompts::{IntoPromptResult, PromptRegistry};
use crate::tools::{IntoToolResult, ToolRegistry};

/// A tool ready to register with [`McpServer::add_tool`](crate::McpServer::add_tool):
/// name, description and handler. Usually made by [`tool!`](crate::tool!).
pub struct ToolDef {
    name: String,
    description: String,
    register: Box<dyn FnOnce(&mut ToolRegistry) + Send>,
}

impl std::fmt::Debug for ToolDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolDef")
            .field("name", &self.name)
            .field("description", &self.description)
            .finish()
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
        let (name, description) = (name.into(), description.into());
        let (n, d) = (name.clone(), description.clone());
        Self {
            name,
            description,
            register: Box::new(move |registry| registry.add(&n, &d, None, handler)),
        }
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tool's description.
    pub fn description(&self) -> &str {
        &self.description
    }

    pub(crate) fn register(self, registry: &mut ToolRegistry) {
        (self.register)(registry);
    }
}

/// A prompt ready to register with [`McpServer::add_prompt`](crate::McpServer::add_prompt).
/// Usually made by [`prompt!`](crate::prompt!).
pub struct PromptDef {
    name: String,
    description: String,
    register: Box<dyn FnOnce(&mut PromptRegistry) + Send>,
}

impl std::fmt::Debug for PromptDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptDef")
            .field("name", &self.name)
            .field("description", &self.description)
            .finish()
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
        let (name, description) = (name.into(), description.into());
        let (n, d) = (name.clone(), description.clone());
        Self {
            name,
            description,
            register: Box::new(move |registry| registry.add(&n, &d, handler)),
        }
    }

    /// The prompt's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The prompt's description.
    pub fn description(&self) -> &str {
        &self.description
    }

    pub(crate) fn register(self, registry: &mut PromptRegistry) {
        (self.register)(registry);
    }
}

/// Joins doc-comment lines into a description: each line trimmed, paragraphs kept.
#[doc(hidden)]
pub fn __doc_text(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

/// Defines a tool from a documented async function. The function name is the
/// tool name, its doc comment the description, its arguments extractors (see
/// [`crate::handler`]). Expands to `fn name() -> ToolDef`.
///
/// ```
/// use mcpgate::{AccessToken, Args, McpServer};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct AddArgs {
///     /// First addend.
///     a: i64,
///     /// Second addend.
///     b: i64,
/// }
///
/// mcpgate::tool! {
///     /// Adds two integers.
///     async fn add(Args(x): Args<AddArgs>) -> String {
///         (x.a + x.b).to_string()
///     }
/// }
///
/// mcpgate::tool! {
///     /// Returns the caller's subject.
///     async fn whoami(token: AccessToken) -> String {
///         token.subject().to_owned()
///     }
/// }
///
/// assert_eq!(add().description(), "Adds two integers.");
/// let server = McpServer::new("demo").add_tool(add()).add_tool(whoami());
/// ```
#[macro_export]
macro_rules! tool {
    (
        $(#[doc = $doc:literal])+
        $vis:vis async fn $name:ident $params:tt $(-> $ret:ty)? $body:block
    ) => {
        $(#[doc = $doc])+
        $vis fn $name() -> $crate::ToolDef {
            async fn handler $params $(-> $ret)? $body
            $crate::ToolDef::new(stringify!($name), $crate::macros::__doc_text(&[$($doc),+]), handler)
        }
    };
}

/// Defines a prompt from a documented async function: the function name is the
/// prompt name, its doc comment the description, and its `Args<T>` type the
/// argument list. Expands to `fn name() -> PromptDef`.
///
/// ```
/// use mcpgate::{Args, McpServer};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct ReviewArgs {
///     /// The code to review.
///     code: String,
/// }
///
/// mcpgate::prompt! {
///     /// Asks for a careful code review.
///     async fn review(Args(r): Args<ReviewArgs>) -> String {
///         format!("Review this code:\n{}", r.code)
///     }
/// }
///
/// let server = McpServer::new("demo").add_prompt(review());
/// ```
#[macro_export]
macro_rules! prompt {
    (
        $(#[doc = $doc:literal])+
        $vis:vis async fn $name:ident $params:tt $(-> $ret:ty)? $body:block
    ) => {
        $(#[doc = $doc])+
        $vis fn $name() -> $crate::PromptDef {
            async fn handler $params $(-> $ret)? $body
            $crate::PromptDef::new(stringify!($name), $crate::macros::__doc_text(&[$($doc),+]), handler)
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn doc_lines_are_trimmed_and_joined() {
        assert_eq!(
            super::__doc_text(&[" Adds two", " integers.", ""]),
            "Adds two\nintegers."
        );
    }
}
