//! The rule set `bench-server --policies N` installs, shared with the
//! Criterion bench of `PolicySet::decide` (`benches/policy.rs`) so both
//! measure the same rules.
//!
//! The rules look like a real deployment's and all let the benchmark's
//! `add` call through with the bench token (scope `mcp:tools`), so a run
//! with policies refuses nothing and measures only what evaluating them
//! costs: one exact rule for `add`, one `*` rule every tool matches, and the
//! rest on other exact names and on globs that `add` does not match (`admin_*`,
//! `tool_?_x`, …). Exact names are a hash lookup in a `PolicySet`, but every
//! glob of the item's kind is tested against the name on every call, so about
//! half the rules being globs keeps the evaluation doing its full work.

use mcpgate::auth::policy::Policy;

/// The scope every token the bench authorization server mints holds.
pub const BENCH_SCOPE: &str = "mcp:tools";

/// `n` tool policies (none when `n` is 0) that all allow `add` for a token
/// holding [`BENCH_SCOPE`]. With `n >= 2` exactly two of them match `add`
/// (the exact rule and `*`); the others match other names only.
pub fn rules(n: usize) -> Vec<Policy> {
    let mut rules = Vec::with_capacity(n);
    if n == 0 {
        return rules;
    }
    rules.push(Policy::tools(crate::ADD_TOOL).scopes([BENCH_SCOPE]));
    if n >= 2 {
        // "Every tool needs the MCP scope": a glob that matches `add` too.
        rules.push(Policy::tools("*").scopes([BENCH_SCOPE]));
    }
    for i in 0..n.saturating_sub(2) {
        let rule = match i % 4 {
            // Exact names of other tools, with scopes the token lacks.
            0 => Policy::tools(format!("todo_write_{i}")).scopes(["todo:write"]),
            // Exact names with a claim condition (never evaluated for `add`).
            1 => Policy::tools(format!("billing_export_{i}"))
                .scopes(["billing:read"])
                .claim_equals("org_id", "org_bench"),
            // Prefix globs: `admin_*`-style families of tools.
            2 => Policy::tools(format!("admin_{i}_*"))
                .scopes(["todo:admin"])
                .claim_in("role", ["admin", "owner"]),
            // `?` globs: `tool_?_x`-style.
            _ => Policy::tools(format!("tool_?_x{i}")).scopes(["tools:beta"]),
        };
        rules.push(rule);
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpgate::AccessToken;
    use mcpgate::auth::policy::{Decision, ItemKind, PolicySet};

    fn set(n: usize) -> PolicySet {
        PolicySet::builder()
            .policies(rules(n))
            .build()
            .expect("the bench rules compile")
    }

    #[test]
    fn every_rule_set_lets_the_bench_token_call_add() {
        let token = AccessToken::for_testing(serde_json::json!({"scope": BENCH_SCOPE}));
        for n in [0, 1, 2, 10, 100] {
            let set = set(n);
            assert_eq!(set.len(), n);
            assert!(
                set.decide(ItemKind::Tool, crate::ADD_TOOL, &token)
                    .is_allowed(),
                "{n} rules"
            );
        }
    }

    #[test]
    fn the_rules_are_enforced_not_decorative() {
        // Without the scope, `add` is a step-up: the rules are really evaluated.
        let bare = AccessToken::for_testing(serde_json::json!({"scope": "other"}));
        let set = set(100);
        assert!(matches!(
            set.decide(ItemKind::Tool, crate::ADD_TOOL, &bare),
            Decision::StepUp { .. }
        ));
        // Both kinds of glob match their own names and need what they say.
        let token = AccessToken::for_testing(serde_json::json!({"scope": BENCH_SCOPE}));
        assert!(!set.allows(ItemKind::Tool, "admin_2_users", &token));
        assert!(!set.allows(ItemKind::Tool, "tool_a_x3", &token));
        let globs = rules(100)
            .iter()
            .filter(|p| format!("{p:?}").contains(['*', '?']))
            .count();
        // About half globs (`*` plus 48 others), so every call tests ~49 patterns.
        assert_eq!(globs, 49);
    }
}
