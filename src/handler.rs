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
//! [`AccessToken`] / `Option<AccessToken>` (the verified caller),
//! [`Claims<T>`] (the caller's claims as your type), [`Context`]
//! (progress, logging, sampling, elicitation, cancellation) and [`Call`]
//! itself. A failing extractor becomes an `isError` tool result (the model can
//! read and correct it) or an `invalid_params` error for resources and prompts.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use rmcp::RoleServer;
use rmcp::model::JsonObject;
use rmcp::service::RequestContext;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::claims::AccessToken;
use crate::context::Context;

/// One `tools/call`, `resources/read` or `prompts/get`, as handlers see it.
#[derive(Debug, Clone)]
pub struct Call {
    pub(crate) name: String,
    pub(crate) arguments: JsonObject,
    pub(crate) token: Option<Arc<AccessToken>>,
    pub(crate) context: Option<Context>,
}

impl Call {
    pub(crate) fn new(
        name: impl Into<String>,
        arguments: JsonObject,
        token: Option<Arc<AccessToken>>,
        request: Option<RequestContext<RoleServer>>,
        session: Option<Arc<crate::context::SessionState>>,
    ) -> Self {
        let context = request.map(|r| Context::new(r, session.unwrap_or_default()));
        Self {
            name: name.into(),
            arguments,
            token,
            context,
        }
    }

    /// The tool or prompt name, or the resource URI.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The arguments (for a templated resource: the URI template's variables).
    pub fn arguments(&self) -> &JsonObject {
        &self.arguments
    }

    /// The verified caller, if the request was authenticated (never over stdio).
    pub fn access_token(&self) -> Option<&AccessToken> {
        self.token.as_deref()
    }
}

/// An extractor failed; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CallError(pub String);

impl CallError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Something a handler can take as an argument.
pub trait FromCall: Sized + Send {
    /// Extracts the value from the call.
    fn from_call(call: &Call) -> Result<Self, CallError>;

    /// The input schema this extractor defines, if it reads the arguments.
    fn input_schema() -> Option<Arc<JsonObject>> {
        None
    }
}

/// Typed arguments, deserialised from the call and described by `T`'s JSON Schema
/// (2020-12; field doc comments become descriptions).
#[derive(Debug, Clone)]
pub struct Args<T>(pub T);

impl<T: DeserializeOwned + JsonSchema + Send + 'static> FromCall for Args<T> {
    fn from_call(call: &Call) -> Result<Self, CallError> {
        T::deserialize(Value::Object(call.arguments.clone()))
            .map(Args)
            .map_err(|e| CallError::new(format!("invalid arguments for `{}`: {e}", call.name)))
    }

    fn input_schema() -> Option<Arc<JsonObject>> {
        Some(rmcp::handler::server::common::schema_for_type::<T>())
    }
}

/// What handlers are told when they need a caller and there is none.
const NO_TOKEN: &str = "no token: this needs an authenticated caller (HTTP with a bearer token)";

impl FromCall for AccessToken {
    fn from_call(call: &Call) -> Result<Self, CallError> {
        call.access_token()
            .cloned()
            .ok_or_else(|| CallError::new(NO_TOKEN))
    }
}

impl FromCall for Option<AccessToken> {
    fn from_call(call: &Call) -> Result<Self, CallError> {
        Ok(call.access_token().cloned())
    }
}

/// The caller's claims deserialised into your own type.
#[derive(Debug, Clone)]
pub struct Claims<T>(pub T);

impl<T: DeserializeOwned + Send> FromCall for Claims<T> {
    fn from_call(call: &Call) -> Result<Self, CallError> {
        let token = call
            .access_token()
            .ok_or_else(|| CallError::new(NO_TOKEN))?;
        token.claims_as::<T>().map(Claims).map_err(|e| {
            CallError::new(format!("token claims do not have the expected shape: {e}"))
        })
    }
}

impl FromCall for Call {
    fn from_call(call: &Call) -> Result<Self, CallError> {
        Ok(call.clone())
    }
}

impl FromCall for Context {
    fn from_call(call: &Call) -> Result<Self, CallError> {
        call.context
            .clone()
            .ok_or_else(|| CallError::new("no request context"))
    }
}

/// A function usable as a handler: an async function of up to six
/// extractors. `M` only tells the implementations apart.
pub trait Handler<M>: Clone + Send + Sync + 'static {
    /// What the function returns.
    type Output: Send + 'static;
    /// Runs the handler, or reports the extractor that failed.
    fn call(&self, call: Call) -> BoxFuture<'static, Result<Self::Output, CallError>>;
    /// The input schema of the first extractor that defines one.
    fn input_schema() -> Option<Arc<JsonObject>>;
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
