//! `completion/complete`: what a completion handler sees.

use std::sync::Arc;

use futures::future::BoxFuture;

/// A `completion/complete` request, as the completion handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionRequest {
    /// The prompt name or resource template URI being completed.
    pub reference: String,
    /// Whether `reference` is a prompt (`true`) or a resource template.
    pub is_prompt: bool,
    /// The argument being completed.
    pub argument: String,
    /// What the user typed so far.
    pub value: String,
}

/// A completion handler with its type erased.
pub(crate) type CompletionHandler =
    Arc<dyn Fn(CompletionRequest) -> BoxFuture<'static, Vec<String>> + Send + Sync>;
