//! Per-item policies in the gateway: which callers may use which tools,
//! prompts, resources and resource templates of the upstreams.
//!
//! Names in policies are the names the **client** sees, after the mount
//! prefix: with an upstream mounted as `crm`, `Policy::tools("crm_delete_*")`
//! governs its `delete_*` tools and `Policy::resources("db://crm/*")` its
//! `db://…` resources. One set covers every upstream, so a policy can span
//! several (`*_admin_*`), and what a policy names is exactly what a client
//! calls and what a denial is logged with.
//!
//! Enforcement is the library's: [`ProtectedEndpoint::policies`] answers a
//! call the caller may not make with `403` (an `insufficient_scope` step-up
//! naming the held plus the required scopes, or `access_denied` for a claim
//! condition) **before** the request reaches the gateway's MCP service, so
//! the upstream is never contacted. This module does the rest with the same
//! set: the merged lists (`tools/list`, `prompts/list`, `resources/list`,
//! `resources/templates/list`) show each caller only what it may use, and
//! completions for a prompt or template it may not use are empty.
//!
//! The gateway does not know which upstream resource template serves a
//! URI, so `resources/read` is decided on the URI alone
//! ([`ItemKind::Resource`]); a `resource_templates` policy governs the
//! template's listing and completions.
//!
//! [`ProtectedEndpoint::policies`]: mcpgate_auth::http::ProtectedEndpoint::policies

use std::sync::Arc;

use mcpgate_auth::AccessToken;
use mcpgate_auth::policy::{ItemKind, PolicySet};

/// Which items a caller sees; cheap to clone (one per downstream session).
#[derive(Debug, Clone, Default)]
pub(crate) struct Visibility {
    /// `None`: no policies, everything is visible (and nothing is checked).
    policies: Option<Arc<PolicySet>>,
}

impl Visibility {
    /// Filters with `policies`; an empty set that does not deny by default
    /// is dropped, as the endpoint drops it.
    pub(crate) fn new(policies: Option<Arc<PolicySet>>) -> Self {
        Self {
            policies: policies.filter(|p| !p.is_empty() || p.denies_by_default()),
        }
    }

    /// Whether there is anything to filter.
    pub(crate) fn is_active(&self) -> bool {
        self.policies.is_some()
    }

    /// Whether `caller` may see (and so use) the item named `name` as the
    /// client sees it. With policies but no verified caller nothing is
    /// visible: policies need authentication, so this cannot happen over
    /// HTTP, and failing closed is the safe answer if it ever did.
    pub(crate) fn visible(&self, caller: Option<&AccessToken>, kind: ItemKind, name: &str) -> bool {
        match (&self.policies, caller) {
            (None, _) => true,
            (Some(set), Some(token)) => set.allows(kind, name, token),
            (Some(_), None) => false,
        }
    }

    /// Keeps the items of `kind` that `caller` may see; `name` reads an
    /// item's client-visible name (or URI, or URI template).
    pub(crate) fn retain<T>(
        &self,
        caller: Option<&AccessToken>,
        kind: ItemKind,
        items: &mut Vec<T>,
        name: impl Fn(&T) -> &str,
    ) {
        if self.is_active() {
            items.retain(|item| self.visible(caller, kind, name(item)));
        }
    }
}

#[cfg(test)]
mod tests {
    use mcpgate_auth::policy::Policy;

    use super::*;

    #[test]
    fn filters_by_the_callers_token_and_fails_closed_without_one() {
        let set = PolicySet::builder()
            .policy(Policy::tools("crm_delete_*").scopes(["crm:admin"]))
            .build()
            .unwrap();
        let visibility = Visibility::new(Some(Arc::new(set)));
        let user = AccessToken::for_testing(serde_json::json!({"scope": "mcp:tools"}));
        let admin = AccessToken::for_testing(serde_json::json!({"scope": "mcp:tools crm:admin"}));
        let names = || vec!["crm_delete_all".to_owned(), "crm_list".to_owned()];
        let mut seen = names();
        visibility.retain(Some(&user), ItemKind::Tool, &mut seen, String::as_str);
        assert_eq!(seen, ["crm_list"]);
        let mut seen = names();
        visibility.retain(Some(&admin), ItemKind::Tool, &mut seen, String::as_str);
        assert_eq!(seen.len(), 2);
        let mut seen = names();
        visibility.retain(None, ItemKind::Tool, &mut seen, String::as_str);
        assert!(seen.is_empty());
    }

    #[test]
    fn an_empty_set_filters_nothing() {
        let visibility = Visibility::new(Some(Arc::new(PolicySet::builder().build().unwrap())));
        assert!(!visibility.is_active());
        assert!(visibility.visible(None, ItemKind::Prompt, "anything"));
    }
}
