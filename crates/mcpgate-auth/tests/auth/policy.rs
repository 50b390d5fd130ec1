//! Per-item policies through the public API: every policy form (scopes,
//! claim equals / in / contains, pointers, predicates), globs, AND of
//! matching policies, deny by default, every item kind, configuration, and
//! the HTTP answers a decision turns into (the exact `scope` of a step-up
//! challenge, a claim denial without one).

use axum::body::to_bytes;
use http::{StatusCode, header};
use mcpgate_auth::http::challenge_response;
use mcpgate_auth::policy::{
    ClaimTest, Decision, DenyReason, ItemKind, Policy, PolicySet, PolicySetConfig,
};
use mcpgate_auth::{AccessToken, AuthError, McpUrl, ScopeSet};
use serde_json::{Value, json};

fn caller(claims: Value) -> AccessToken {
    AccessToken::for_testing(claims)
}

fn scopes(list: &[&str]) -> ScopeSet {
    ScopeSet::parse(list.iter().copied()).unwrap()
}

fn step_up(list: &[&str]) -> Decision {
    Decision::StepUp {
        required: scopes(list),
    }
}

#[test]
fn scopes_ask_for_step_up_and_allow_once_held() {
    let set = PolicySet::builder()
        .policy(Policy::tools("add_todo").scopes(["todo:write"]))
        .build()
        .unwrap();
    let reader = caller(json!({"scope": "mcp:tools todo:read"}));
    assert_eq!(
        set.decide(ItemKind::Tool, "add_todo", &reader),
        step_up(&["todo:write"])
    );
    let writer = caller(json!({"scope": "mcp:tools todo:write"}));
    assert_eq!(
        set.decide(ItemKind::Tool, "add_todo", &writer),
        Decision::Allow
    );
    // Another tool is not governed by it (allow by default).
    assert_eq!(set.decide(ItemKind::Tool, "list", &reader), Decision::Allow);
}

#[test]
fn every_claim_form_and_predicates() {
    let set = PolicySet::builder()
        .policy(Policy::tools("org").claim_equals("org_id", "org_1"))
        .policy(Policy::tools("admin").claim_contains("roles", "admin"))
        .policy(Policy::tools("few").claim_in("sub", ["usr_1", "usr_2"]))
        .policy(Policy::tools("nested").claim("/org/tier", ClaimTest::Equals(json!("gold"))))
        .policy(Policy::tools("code").require(|t| t.client_id() == Some("cli_1")))
        .build()
        .unwrap();
    let good = caller(json!({
        "sub": "usr_1", "org_id": "org_1", "roles": ["admin"],
        "org": {"tier": "gold"}, "client_id": "cli_1",
    }));
    let bad = caller(json!({
        "sub": "usr_3", "org_id": "org_2", "roles": ["viewer"],
        "org": {"tier": "free"}, "client_id": "cli_2",
    }));
    for tool in ["org", "admin", "few", "nested", "code"] {
        assert_eq!(
            set.decide(ItemKind::Tool, tool, &good),
            Decision::Allow,
            "{tool}"
        );
        assert!(
            matches!(
                set.decide(ItemKind::Tool, tool, &bad),
                Decision::Deny { .. }
            ),
            "{tool}"
        );
    }
    // An absent claim never meets a condition.
    let bare = caller(json!({}));
    assert!(!set.allows(ItemKind::Tool, "org", &bare));
    match set.decide(ItemKind::Tool, "org", &bad) {
        Decision::Deny {
            reason: DenyReason::Claim { claim, pattern, .. },
        } => {
            assert_eq!((claim.as_str(), pattern.as_str()), ("org_id", "org"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        set.decide(ItemKind::Tool, "code", &bad),
        Decision::Deny {
            reason: DenyReason::Predicate { .. }
        }
    ));
}

#[test]
fn globs_select_by_star_and_question_mark() {
    let set = PolicySet::builder()
        .policy(Policy::tools("admin_*").scopes(["admin"]))
        .policy(Policy::tools("v?_export").scopes(["export"]))
        .build()
        .unwrap();
    let nobody = caller(json!({"scope": "mcp:tools"}));
    assert_eq!(
        set.decide(ItemKind::Tool, "admin_delete", &nobody),
        step_up(&["admin"])
    );
    assert_eq!(
        set.decide(ItemKind::Tool, "admin_", &nobody),
        step_up(&["admin"])
    );
    assert!(set.allows(ItemKind::Tool, "administer", &nobody));
    assert_eq!(
        set.decide(ItemKind::Tool, "v2_export", &nobody),
        step_up(&["export"])
    );
    assert!(set.allows(ItemKind::Tool, "v10_export", &nobody));
}

#[test]
fn all_matching_policies_apply() {
    let set = PolicySet::builder()
        .policy(Policy::tools("*").scopes(["mcp:tools"]))
        .policy(Policy::tools("todo_*").scopes(["todo:read"]))
        .policy(
            Policy::tools("todo_delete")
                .scopes(["todo:write"])
                .claim_equals("org_id", "org_1"),
        )
        .build()
        .unwrap();
    let some = caller(json!({"scope": "mcp:tools todo:read", "org_id": "org_1"}));
    assert!(set.allows(ItemKind::Tool, "todo_list", &some));
    // Every matching policy's scopes, in policy order.
    assert_eq!(
        set.decide(ItemKind::Tool, "todo_delete", &some),
        step_up(&["mcp:tools", "todo:read", "todo:write"])
    );
    // Scopes alone are not enough when another matching policy's claim fails.
    let other_org = caller(json!({"scope": "mcp:tools todo:read todo:write", "org_id": "org_2"}));
    assert!(set.allows(ItemKind::Tool, "todo_list", &other_org));
    assert!(matches!(
        set.decide(ItemKind::Tool, "todo_delete", &other_org),
        Decision::Deny { .. }
    ));
}

#[test]
fn deny_by_default_denies_unlisted_items_only() {
    let set = PolicySet::builder()
        .deny_by_default(true)
        .policy(Policy::tools("public"))
        .policy(Policy::prompts("greet").scopes(["prompts"]))
        .build()
        .unwrap();
    let anyone = caller(json!({"scope": "prompts"}));
    assert!(set.allows(ItemKind::Tool, "public", &anyone));
    assert!(set.allows(ItemKind::Prompt, "greet", &anyone));
    assert_eq!(
        set.decide(ItemKind::Tool, "secret", &anyone),
        Decision::Deny {
            reason: DenyReason::NoPolicy {
                kind: ItemKind::Tool
            }
        }
    );
    // Kinds are separate: a tool policy does not cover a prompt of the same name.
    assert!(!set.allows(ItemKind::Prompt, "public", &anyone));
    // Without the option, no policy means allowed.
    let open = PolicySet::builder().build().unwrap();
    assert!(open.is_empty());
    assert!(open.allows(ItemKind::Resource, "file:///x", &anyone));
}

#[test]
fn prompts_resources_and_templates_are_governed_too() {
    let set = PolicySet::builder()
        .policy(Policy::prompts("draft_*").scopes(["prompts:write"]))
        .policy(Policy::resources("docs://internal/*").claim_equals("org_id", "org_1"))
        .policy(Policy::resource_templates("users://{id}/profile").scopes(["users:read"]))
        .build()
        .unwrap();
    let t = caller(json!({"scope": "mcp:tools", "org_id": "org_2"}));
    assert_eq!(
        set.decide(ItemKind::Prompt, "draft_mail", &t),
        step_up(&["prompts:write"])
    );
    assert!(matches!(
        set.decide(ItemKind::Resource, "docs://internal/plan.md", &t),
        Decision::Deny { .. }
    ));
    assert!(set.allows(ItemKind::Resource, "docs://public/motd", &t));
    assert_eq!(
        set.decide(ItemKind::ResourceTemplate, "users://{id}/profile", &t),
        step_up(&["users:read"])
    );
    // The tool of the same name is not affected.
    assert!(set.allows(ItemKind::Tool, "draft_mail", &t));
}

async fn answer(error: AuthError) -> (StatusCode, String, Value) {
    let resource = McpUrl::parse("http://127.0.0.1:8000/mcp").unwrap();
    let response = challenge_response(error, &resource);
    let status = response.status();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .expect("a challenge")
        .to_str()
        .unwrap()
        .to_owned();
    let body = to_bytes(response.into_body(), 64 * 1024).await.unwrap();
    (status, challenge, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn step_up_challenge_names_held_plus_required_scopes() {
    let set = PolicySet::builder()
        .policy(Policy::tools("add_todo").scopes(["todo:write", "mcp:tools"]))
        .build()
        .unwrap();
    let t = caller(json!({"scope": "mcp:tools todo:read"}));
    let error = set
        .decide(ItemKind::Tool, "add_todo", &t)
        .into_auth_error(&t)
        .expect("a refusal");
    let (status, challenge, body) = answer(error).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenge,
        "Bearer error=\"insufficient_scope\", \
         error_description=\"this resource requires scope: mcp:tools todo:read todo:write\", \
         scope=\"mcp:tools todo:read todo:write\", \
         resource_metadata=\"http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp\""
    );
    assert_eq!(body["error"], "insufficient_scope");
}

#[tokio::test]
async fn claim_denial_is_403_without_scope_hint() {
    let set = PolicySet::builder()
        .policy(
            Policy::tools("admin_*")
                .scopes(["admin"])
                .claim_equals("org_id", "org_1"),
        )
        .build()
        .unwrap();
    let t = caller(json!({"scope": "mcp:tools", "org_id": "org_2"}));
    let decision = set.decide(ItemKind::Tool, "admin_reset", &t);
    assert!(matches!(decision, Decision::Deny { .. }));
    let (status, challenge, body) = answer(decision.into_auth_error(&t).unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!challenge.contains("scope="), "{challenge}");
    assert!(
        challenge.starts_with("Bearer error=\"access_denied\""),
        "{challenge}"
    );
    assert!(
        challenge.ends_with(
            "resource_metadata=\"http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp\""
        ),
        "{challenge}"
    );
    assert_eq!(body["error"], "access_denied");
    // The description names the claim, never the configured value.
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains("org_id") && !description.contains("org_1"),
        "{description}"
    );
    assert_eq!(Decision::Allow.into_auth_error(&t), None);
}

#[test]
fn configuration_builds_the_same_policies() {
    // The shape of the gateway's `[[policy]]` tables (TOML maps onto the
    // same serde data model).
    let config: PolicySetConfig = serde_json::from_value(json!({
        "deny_by_default": true,
        "policy": [
            {"tools": "admin_*", "scopes": ["todo:write"],
             "claims": {"org_id": "org_1", "roles": {"contains": "admin"}, "sub": {"in": ["usr_1"]}}},
            {"tools": ["list", "get_*"], "prompts": "greet"},
            {"resources": "docs://*", "resource_templates": "users://{id}", "scopes": ["docs"]},
        ],
    }))
    .unwrap();
    let set = config.build().unwrap();
    let admin = caller(
        json!({"sub": "usr_1", "org_id": "org_1", "roles": ["admin"], "scope": "todo:write docs"}),
    );
    assert!(set.allows(ItemKind::Tool, "admin_x", &admin));
    assert!(set.allows(ItemKind::Tool, "get_one", &admin));
    assert!(set.allows(ItemKind::Prompt, "greet", &admin));
    assert!(set.allows(ItemKind::Resource, "docs://a", &admin));
    assert!(set.allows(ItemKind::ResourceTemplate, "users://{id}", &admin));
    assert!(
        !set.allows(ItemKind::Tool, "other", &admin),
        "deny by default"
    );
    let outsider = caller(
        json!({"sub": "usr_2", "org_id": "org_1", "roles": ["admin"], "scope": "todo:write"}),
    );
    assert!(matches!(
        set.decide(ItemKind::Tool, "admin_x", &outsider),
        Decision::Deny { reason: DenyReason::Claim { ref claim, .. } } if claim == "sub"
    ));
    assert_eq!(
        set.decide(ItemKind::Resource, "docs://a", &outsider),
        step_up(&["docs"])
    );

    let err =
        serde_json::from_value::<PolicySetConfig>(json!({"policy": [{"tool": "x"}]})).unwrap_err();
    assert!(err.to_string().contains("unknown field `tool`"), "{err}");
    let err = serde_json::from_value::<PolicySetConfig>(json!({"policy": [
        {"tools": "x", "claims": {"roles": {"has": "admin"}}}
    ]}))
    .unwrap()
    .build()
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("policy[0].claims.roles: unknown test `has`"),
        "{err}"
    );
}

#[test]
fn a_hundred_exact_rules_still_find_the_right_one() {
    let set = PolicySet::builder()
        .policies((0..100).map(|i| Policy::tools(format!("tool_{i}")).scopes([format!("s{i}")])))
        .build()
        .unwrap();
    let t = caller(json!({"scope": "s42"}));
    assert!(set.allows(ItemKind::Tool, "tool_42", &t));
    assert_eq!(set.decide(ItemKind::Tool, "tool_43", &t), step_up(&["s43"]));
    assert!(set.allows(ItemKind::Tool, "tool_100", &t));
}
