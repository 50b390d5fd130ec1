//! `tool!` and `prompt!`: define a handler as an ordinary async function whose
//! doc comment becomes the description clients see, as FastMCP's decorators do.
//! They expand to a plain function returning a [`ToolDef`](crate::ToolDef) /
//! [`PromptDef`](crate::PromptDef), so there is no registry magic: the server
//! still registers what you pass it.

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
    ($($definition:tt)+) => {
        $crate::__definition!($crate::ToolDef; $($definition)+);
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
    ($($definition:tt)+) => {
        $crate::__definition!($crate::PromptDef; $($definition)+);
    };
}

/// The one expansion behind [`tool!`](crate::tool!) and [`prompt!`](crate::prompt!):
/// `fn name() -> Def` whose body defines the handler and names it after the function.
#[doc(hidden)]
#[macro_export]
macro_rules! __definition {
    (
        $def:ty;
        $(#[doc = $doc:literal])+
        $vis:vis async fn $name:ident $params:tt $(-> $ret:ty)? $body:block
    ) => {
        $(#[doc = $doc])+
        $vis fn $name() -> $def {
            async fn handler $params $(-> $ret)? $body
            <$def>::new(stringify!($name), $crate::macros::__doc_text(&[$($doc),+]), handler)
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
