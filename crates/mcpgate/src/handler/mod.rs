//! Handlers as plain async functions, for tools, resources and prompts alike.
//!
//! A handler is any `async fn` (or closure) whose arguments are *extractors* —
//! types that implement [`FromCall`] — and whose result converts into what the
//! MCP method returns. This is axum's handler pattern applied to MCP:
//!
//! ```
//! use mcpgate::{AccessToken, Args, Context, McpServer};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct AddArgs {
//!     /// First addend.
//!     a: i64,
//!     /// Second addend.
//!     b: i64,
//! }
//!
//! async fn add(Args(AddArgs { a, b }): Args<AddArgs>) -> String {
//!     (a + b).to_string()
//! }
//!
//! async fn whoami(token: AccessToken, ctx: Context) -> String {
//!     ctx.info("looking up the caller").await;
//!     token.subject().to_owned()
//! }
//!
//! let server = McpServer::new("demo")
//!     .tool("add", "Adds two integers", add)
//!     .tool("whoami", "Who is calling", whoami);
//! ```
//!
//! Extractors: [`Args<T>`] (arguments, with JSON Schema from `T`),
//! [`AccessToken`](crate::AccessToken) / `Option<AccessToken>` (the verified caller),
//! [`Claims<T>`] (the caller's claims as your type), [`Context`](crate::Context)
//! (progress, logging, sampling, elicitation, cancellation), [`State<S>`]
//! (state given to [`McpServer::with_state`](crate::McpServer::with_state))
//! and [`Call`] itself. A failing extractor becomes an `isError` tool result (the model can
//! read and correct it) or an `invalid_params` error for resources and prompts.

mod call;
mod extract;

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use rmcp::model::JsonObject;

pub use call::Call;
pub use extract::{Args, Claims, FromCall, State};

use crate::error::CallError;

/// A function usable as a handler: an async function of up to six
/// extractors. `M` only tells the implementations apart.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid mcpgate handler",
    label = "not a handler",
    note = "a handler is an `async fn` (or a closure returning a future) with up to six arguments, each an extractor (`Args<T>`, `AccessToken`, `Option<AccessToken>`, `Claims<T>`, `Context`, `State<S>` or `Call`)",
    note = "its result must be `Send + 'static` and convert into the method's result (`IntoToolResult`, `IntoResourceBody` or `IntoPromptResult`)"
)]
pub trait Handler<M>: Clone + Send + Sync + 'static {
    /// What the function returns.
    type Output: Send + 'static;
    /// Runs the handler, or reports the extractor that failed.
    fn call(&self, call: Call) -> BoxFuture<'static, Result<Self::Output, CallError>>;
    /// The input schema of the first extractor that defines one.
    fn input_schema() -> Option<Arc<JsonObject>>;
    /// Whether any extractor needs the rmcp request context
    /// ([`FromCall::needs_peer`]).
    fn needs_peer() -> bool {
        false
    }
}

macro_rules! impl_handler {
    ($($e:ident),*) => {
        impl<F, Fut, R, $($e,)*> Handler<(Fut, R, $($e,)*)> for F
        where
            F: Fn($($e),*) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: Send + 'static,
            $($e: FromCall + 'static,)*
        {
            type Output = R;

            #[allow(non_snake_case, unused_variables)]
            fn call(&self, call: Call) -> BoxFuture<'static, Result<R, CallError>> {
                $(
                    let $e = match $e::from_call(&call) {
                        Ok(v) => v,
                        Err(e) => return Box::pin(std::future::ready(Err(e))),
                    };
                )*
                let fut = (self)($($e),*);
                Box::pin(async move { Ok(fut.await) })
            }

            fn input_schema() -> Option<Arc<JsonObject>> {
                None$(.or_else($e::input_schema))*
            }

            fn needs_peer() -> bool {
                false $(|| $e::needs_peer())*
            }
        }
    };
}

impl_handler!();
impl_handler!(E1);
impl_handler!(E1, E2);
impl_handler!(E1, E2, E3);
impl_handler!(E1, E2, E3, E4);
impl_handler!(E1, E2, E3, E4, E5);
impl_handler!(E1, E2, E3, E4, E5, E6);

/// A handler with its types erased, as registries store it.
pub(crate) type ErasedHandler<T> =
    Arc<dyn Fn(Call) -> BoxFuture<'static, Result<T, CallError>> + Send + Sync>;

/// Erases `handler`, converting its output with `convert`.
pub(crate) fn erase<H, M, T>(handler: H, convert: fn(H::Output) -> T) -> ErasedHandler<T>
where
    H: Handler<M>,
    M: 'static,
    T: 'static,
{
    Arc::new(move |call| {
        let fut = handler.call(call);
        Box::pin(async move { fut.await.map(convert) })
    })
}
