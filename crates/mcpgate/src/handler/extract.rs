//! Extractors: what a handler can take as an argument.

use std::sync::Arc;

use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Call;
use crate::context::Context;
use crate::error::CallError;
use mcpgate_auth::AccessToken;

/// Something a handler can take as an argument.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a handler argument",
    label = "not an extractor",
    note = "handler arguments must implement `FromCall`: `Args<T>`, `AccessToken`, `Option<AccessToken>`, `Claims<T>`, `Context`, `State<S>` or `Call`",
    note = "for shared application state, register it with `McpServer::with_state(value)` and take `State<YourType>`"
)]
pub trait FromCall: Sized + Send {
    /// Extracts the value from the call.
    fn from_call(call: &Call) -> Result<Self, CallError>;

    /// The input schema this extractor defines, if it reads the arguments.
    fn input_schema() -> Option<Arc<JsonObject>> {
        None
    }

    /// Whether the extracted value can reach the request's rmcp context (the
    /// peer, its metadata, the session). A tool with such an extractor is
    /// always run through rmcp's service; the others may be answered by
    /// mcpgate's fast path, which has no rmcp context to give.
    fn needs_peer() -> bool {
        false
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

    /// The whole call carries the request context.
    fn needs_peer() -> bool {
        true
    }
}

impl FromCall for Context {
    fn from_call(call: &Call) -> Result<Self, CallError> {
        call.context
            .clone()
            .ok_or_else(|| CallError::new("no request context"))
    }

    /// Progress, logging, sampling, elicitation and roots go through the peer.
    fn needs_peer() -> bool {
        true
    }
}

/// Application state registered with
/// [`McpServer::with_state`](crate::McpServer::with_state), e.g. a database
/// pool; one value per type, cloned for each call (wrap large state in `Arc`).
///
/// ```
/// use mcpgate::{McpServer, State};
///
/// #[derive(Clone)]
/// struct Greeting(&'static str);
///
/// mcpgate::tool! {
///     /// Greets with the configured greeting.
///     async fn greet(State(g): State<Greeting>) -> String {
///         g.0.to_owned()
///     }
/// }
///
/// let server = McpServer::new("demo").with_state(Greeting("hello")).add_tool(greet());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct State<S>(pub S);

impl<S: Clone + Send + Sync + 'static> FromCall for State<S> {
    fn from_call(call: &Call) -> Result<Self, CallError> {
        call.state.get::<S>().cloned().map(State).ok_or_else(|| {
            CallError::new(format!(
                "no state of type `{}`: register it with McpServer::with_state",
                std::any::type_name::<S>()
            ))
        })
    }
}
