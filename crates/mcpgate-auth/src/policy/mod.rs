//! Authorization per item: which callers may use which tools, prompts,
//! resources and resource templates.
//!
//! A [`Policy`] names its targets (a kind of item and a name, or a glob with
//! `*` and `?`) and what a caller needs: scopes, claim conditions (a claim
//! equals / is one of / contains a value), predicates in code. A
//! [`PolicySet`] evaluates them for a verified [`AccessToken`]:
//!
//! - every matching policy applies (AND);
//! - a failed claim condition or predicate is a [`Decision::Deny`] (a 403
//!   with no scope hint: no re-authorization would help);
//! - otherwise missing scopes are a [`Decision::StepUp`], answered as a 403
//!   `insufficient_scope` challenge naming the held scopes plus the
//!   required ones ([`Decision::into_auth_error`]);
//! - no matching policy allows, unless the set denies by default.
//!
//! ```
//! use mcpgate_auth::AccessToken;
//! use mcpgate_auth::policy::{Decision, ItemKind, Policy, PolicySet};
//!
//! let policies = PolicySet::builder()
//!     .policy(Policy::tools("admin_*").scopes(["todo:admin"]).claim_equals("org_id", "org_1"))
//!     .policy(Policy::tools("add_todo").scopes(["todo:write"]))
//!     .build()?;
//! let caller = AccessToken::for_testing(serde_json::json!({"scope": "mcp:tools", "org_id": "org_1"}));
//! assert!(matches!(policies.decide(ItemKind::Tool, "add_todo", &caller), Decision::StepUp { .. }));
//! assert!(policies.decide(ItemKind::Tool, "list_todos", &caller).is_allowed());
//! # Ok::<(), mcpgate_auth::policy::PolicyError>(())
//! ```
//!
//! [`PolicySetConfig`] is the same as configuration (the gateway's TOML).

mod condition;
mod config;
mod glob;
mod rule;
mod set;

pub use condition::{ClaimCondition, ClaimPath, ClaimTest};
pub use config::{PolicyConfig, PolicySetConfig, Targets};
pub use glob::{MAX_PATTERN_BYTES, NamePattern, PatternError};
pub use rule::{ItemKind, Policy, Predicate};
pub use set::{Decision, DenyReason, PolicyError, PolicySet, PolicySetBuilder};

#[cfg(doc)]
use crate::AccessToken;
