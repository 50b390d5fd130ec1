//! One policy: what it applies to (a kind of item and a name pattern) and
//! what a caller needs for it (scopes, claim conditions, predicates).

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::condition::{ClaimCondition, ClaimPath, ClaimTest};
use super::glob::NamePattern;
use crate::claims::AccessToken;
use crate::config::ConfigError;
use crate::types::ScopeSet;

/// The kind of MCP item a policy governs. Tools and prompts are named by
/// their name, resources by their URI, resource templates by their URI
/// template (as listed, e.g. `users://{id}/profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ItemKind {
    /// A tool (`tools/list`, `tools/call`).
    Tool,
    /// A prompt (`prompts/list`, `prompts/get`).
    Prompt,
    /// A resource, by URI (`resources/list`, `resources/read`).
    Resource,
    /// A resource template, by URI template (`resources/templates/list`).
    ResourceTemplate,
}

impl ItemKind {
    /// Every kind, in a fixed order (the index of each is its slot in
    /// per-kind tables).
    pub const ALL: [ItemKind; 4] = [
        ItemKind::Tool,
        ItemKind::Prompt,
        ItemKind::Resource,
        ItemKind::ResourceTemplate,
    ];

    pub(crate) fn index(self) -> usize {
        match self {
            ItemKind::Tool => 0,
            ItemKind::Prompt => 1,
            ItemKind::Resource => 2,
            ItemKind::ResourceTemplate => 3,
        }
    }

    /// The lower-case name used in messages (`tool`, `resource template`).
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Tool => "tool",
            ItemKind::Prompt => "prompt",
            ItemKind::Resource => "resource",
            ItemKind::ResourceTemplate => "resource template",
        }
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A check in code over the verified token, for what scopes and claim
/// conditions cannot say. It must be cheap and must not block: it runs on
/// every matching request (and for every item when listing).
pub type Predicate = Arc<dyn Fn(&AccessToken) -> bool + Send + Sync>;

/// A policy as written: built with chained calls, checked when the
/// [`PolicySet`](super::PolicySet) is built (every problem reported then,
/// naming the field).
///
/// ```
/// use mcpgate_auth::policy::Policy;
/// let admin = Policy::tools("admin_*")
///     .scopes(["todo:write"])
///     .claim_equals("org_id", "org_1")
///     .claim_contains("roles", "admin")
///     .require(|token| token.subject().starts_with("usr_"));
/// ```
#[derive(Clone)]
#[must_use = "add the policy to a PolicySet"]
pub struct Policy {
    kind: ItemKind,
    pattern: String,
    scopes: Vec<String>,
    conditions: Vec<(String, ClaimTest)>,
    predicates: Vec<Predicate>,
}

impl Policy {
    /// A policy for the items of `kind` whose name matches `pattern` (an
    /// exact name, or a glob with `*` and `?`).
    pub fn new(kind: ItemKind, pattern: impl Into<String>) -> Self {
        Self {
            kind,
            pattern: pattern.into(),
            scopes: Vec::new(),
            conditions: Vec::new(),
            predicates: Vec::new(),
        }
    }

    /// A policy for tools whose name matches `pattern`.
    pub fn tools(pattern: impl Into<String>) -> Self {
        Self::new(ItemKind::Tool, pattern)
    }

    /// A policy for prompts whose name matches `pattern`.
    pub fn prompts(pattern: impl Into<String>) -> Self {
        Self::new(ItemKind::Prompt, pattern)
    }

    /// A policy for resources whose URI matches `pattern`.
    pub fn resources(pattern: impl Into<String>) -> Self {
        Self::new(ItemKind::Resource, pattern)
    }

    /// A policy for resource templates whose URI template matches `pattern`.
    pub fn resource_templates(pattern: impl Into<String>) -> Self {
        Self::new(ItemKind::ResourceTemplate, pattern)
    }

    /// Scopes the token must hold (all of them). A token lacking some is
    /// answered with a step-up challenge.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The claim at `path` (a name, or a `/`-pointer) must equal `value`.
    pub fn claim_equals(self, path: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claim(path, ClaimTest::Equals(value.into()))
    }

    /// The claim at `path` must equal one of `values`.
    pub fn claim_in<I, V>(self, path: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<Value>,
    {
        let values = values.into_iter().map(Into::into).collect();
        self.claim(path, ClaimTest::OneOf(values))
    }

    /// The claim at `path` (an array, or a space-separated string) must
    /// contain `value`.
    pub fn claim_contains(self, path: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claim(path, ClaimTest::Contains(value.into()))
    }

    /// A claim condition in its general form.
    pub fn claim(mut self, path: impl Into<String>, test: ClaimTest) -> Self {
        self.conditions.push((path.into(), test));
        self
    }

    /// A predicate over the verified token that must return `true`.
    pub fn require<F>(mut self, predicate: F) -> Self
    where
        F: Fn(&AccessToken) -> bool + Send + Sync + 'static,
    {
        self.predicates.push(Arc::new(predicate));
        self
    }

    /// Checks every part; errors name the field (`pattern`, `scopes`,
    /// `claims.<path>`).
    pub(crate) fn compile(self) -> Result<CompiledPolicy, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let pattern = NamePattern::new(&self.pattern)
            .map_err(|e| {
                errors.push(ConfigError::new(
                    "pattern",
                    format!("`{}` {e}", self.pattern),
                ))
            })
            .ok();
        let mut scopes = ScopeSet::new();
        for raw in &self.scopes {
            match crate::types::Scope::new(raw.as_str()) {
                Ok(scope) => scopes.insert(scope),
                Err(e) => errors.push(ConfigError::new("scopes", e.to_string())),
            }
        }
        let mut conditions = Vec::with_capacity(self.conditions.len());
        for (path, test) in self.conditions {
            let Some(parsed) = ClaimPath::new(&path) else {
                errors.push(ConfigError::new(
                    "claims",
                    "a claim name must not be empty (use a name or a /-pointer like /org/id)",
                ));
                continue;
            };
            if let ClaimTest::OneOf(options) = &test
                && options.is_empty()
            {
                errors.push(ConfigError::new(
                    format!("claims.{path}"),
                    "`in` needs at least one value (an empty list would deny everyone)",
                ));
                continue;
            }
            conditions.push(ClaimCondition::new(parsed, test));
        }
        match pattern {
            Some(pattern) if errors.is_empty() => Ok(CompiledPolicy {
                kind: self.kind,
                pattern,
                scopes,
                conditions,
                predicates: self.predicates,
            }),
            _ => Err(errors),
        }
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("kind", &self.kind)
            .field("pattern", &self.pattern)
            .field("scopes", &self.scopes)
            .field("conditions", &self.conditions)
            .field("predicates", &self.predicates.len())
            .finish()
    }
}

/// A checked policy, ready to evaluate.
#[derive(Clone)]
pub(crate) struct CompiledPolicy {
    pub(crate) kind: ItemKind,
    pub(crate) pattern: NamePattern,
    pub(crate) scopes: ScopeSet,
    pub(crate) conditions: Vec<ClaimCondition>,
    pub(crate) predicates: Vec<Predicate>,
}

/// What a single policy says about one token.
pub(crate) enum Verdict<'p> {
    /// Every scope, condition and predicate holds.
    Met,
    /// Conditions and predicates hold; some scope is missing.
    ScopesMissing,
    /// This claim condition fails.
    ClaimFailed(&'p ClaimPath),
    /// The predicate with this index (in definition order) returned `false`.
    PredicateFailed(usize),
}

impl CompiledPolicy {
    /// Judges `token`. Claims and predicates are checked first: when they
    /// fail, no scope could help and the answer must not be a step-up.
    pub(crate) fn judge(&self, token: &AccessToken) -> Verdict<'_> {
        if let Some(failed) = self.conditions.iter().find(|c| !c.holds(token)) {
            return Verdict::ClaimFailed(failed.path());
        }
        if let Some(index) = self.predicates.iter().position(|p| !p(token)) {
            return Verdict::PredicateFailed(index);
        }
        if token.scopes().contains_all(&self.scopes) {
            Verdict::Met
        } else {
            Verdict::ScopesMissing
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compile_reports_every_problem_by_field() {
        let errors = Policy::tools("")
            .scopes(["ok", "bad scope"])
            .claim_equals("", 1)
            .claim_in("sub", Vec::<String>::new())
            .compile()
            .err()
            .unwrap();
        let fields: Vec<_> = errors.iter().map(|e| e.source_name.as_str()).collect();
        assert_eq!(fields, ["pattern", "scopes", "claims", "claims.sub"]);
    }

    #[test]
    fn claims_fail_before_scopes_are_looked_at() {
        let p = Policy::tools("x")
            .scopes(["write"])
            .claim_equals("org_id", "org_1")
            .compile()
            .ok()
            .unwrap();
        let wrong_org = AccessToken::for_testing(json!({"org_id": "org_2"}));
        assert!(
            matches!(p.judge(&wrong_org), Verdict::ClaimFailed(path) if path.as_str() == "org_id")
        );
        let no_scope = AccessToken::for_testing(json!({"org_id": "org_1"}));
        assert!(matches!(p.judge(&no_scope), Verdict::ScopesMissing));
        let ok = AccessToken::for_testing(json!({"org_id": "org_1", "scope": "write"}));
        assert!(matches!(p.judge(&ok), Verdict::Met));
    }

    #[test]
    fn predicates_are_reported_by_index() {
        let p = Policy::prompts("p")
            .require(|_| true)
            .require(|t| t.subject() == "boss")
            .compile()
            .ok()
            .unwrap();
        let t = AccessToken::for_testing(json!({}));
        assert!(matches!(p.judge(&t), Verdict::PredicateFailed(1)));
    }
}
