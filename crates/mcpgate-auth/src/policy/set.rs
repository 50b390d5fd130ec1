//! A set of policies and the decision for one request.
//!
//! Every policy whose target matches applies (AND). Exact names are looked
//! up in a hash map and only glob patterns are tried one by one, so a
//! hundred rules about a hundred tools cost one lookup per request; an
//! allowed request allocates nothing.

use std::collections::HashMap;
use std::fmt;

use super::rule::{CompiledPolicy, ItemKind, Policy, Verdict};
use crate::claims::AccessToken;
use crate::config::ConfigError;
use crate::error::AuthError;
use crate::types::ScopeSet;

/// The outcome of [`PolicySet::decide`].
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum Decision {
    /// The caller may use the item.
    Allow,
    /// The caller meets every condition but lacks scopes: re-authorizing
    /// with more scopes would help. `required` is every scope the matching
    /// policies require (in policy order), held or not.
    StepUp {
        /// The scopes the matching policies require.
        required: ScopeSet,
    },
    /// The caller may not use the item and no scope would change that.
    Deny {
        /// Which rule refused (for logs and metrics; its text names no
        /// configured values).
        reason: DenyReason,
    },
}

impl Decision {
    /// Whether the caller may use the item.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }

    /// The authorization failure to answer with, for `token` (the caller
    /// the decision was made for); `None` for [`Decision::Allow`].
    ///
    /// A step-up becomes [`AuthError::InsufficientScope`] whose `scope` is
    /// what the token holds plus what is required (held scopes first, so a
    /// client re-authorizing with it loses nothing); a denial becomes
    /// [`AuthError::AccessDenied`], a 403 without a scope hint.
    pub fn into_auth_error(self, token: &AccessToken) -> Option<AuthError> {
        match self {
            Decision::Allow => None,
            Decision::StepUp { required } => {
                Some(AuthError::insufficient_scope(token.scopes(), &required))
            }
            Decision::Deny { reason } => Some(AuthError::AccessDenied {
                reason: reason.to_string(),
            }),
        }
    }
}

/// Why a request was denied outright.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// A claim condition of a matching policy is not met.
    Claim {
        /// The kind of item.
        kind: ItemKind,
        /// The pattern of the policy that refused.
        pattern: String,
        /// The claim (name or pointer) whose condition failed.
        claim: String,
    },
    /// A predicate of a matching policy returned `false`.
    Predicate {
        /// The kind of item.
        kind: ItemKind,
        /// The pattern of the policy that refused.
        pattern: String,
        /// Which of the policy's predicates (0-based, in the order added).
        index: usize,
    },
    /// No policy matches and the set denies by default.
    NoPolicy {
        /// The kind of item.
        kind: ItemKind,
    },
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::Claim {
                kind,
                pattern,
                claim,
            } => write!(
                f,
                "the token's `{claim}` claim does not meet the policy for {kind} `{pattern}`"
            ),
            DenyReason::Predicate {
                kind,
                pattern,
                index,
            } => write!(
                f,
                "predicate {index} of the policy for {kind} `{pattern}` refused this caller"
            ),
            DenyReason::NoPolicy { kind } => {
                write!(f, "no policy allows this {kind} (deny by default)")
            }
        }
    }
}

/// Policies that could not be built; every problem is listed, each naming
/// its policy and field (`policy[2].scopes: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct PolicyError {
    /// One entry per problem.
    pub problems: Vec<ConfigError>,
}

/// Builds a [`PolicySet`].
#[derive(Debug, Clone, Default)]
#[must_use = "call .build() to get the PolicySet"]
pub struct PolicySetBuilder {
    policies: Vec<Policy>,
    deny_by_default: bool,
}

impl PolicySetBuilder {
    /// Adds a policy. Every matching policy applies.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policies.push(policy);
        self
    }

    /// Adds several policies.
    pub fn policies(mut self, policies: impl IntoIterator<Item = Policy>) -> Self {
        self.policies.extend(policies);
        self
    }

    /// With `true`, an item no policy matches is denied (default: allowed,
    /// so adding a policy for one tool leaves the others as they were).
    pub fn deny_by_default(mut self, deny: bool) -> Self {
        self.deny_by_default = deny;
        self
    }

    /// Checks and indexes the policies.
    pub fn build(self) -> Result<PolicySet, PolicyError> {
        let mut set = PolicySet {
            deny_by_default: self.deny_by_default,
            ..PolicySet::default()
        };
        let mut problems = Vec::new();
        for (i, policy) in self.policies.into_iter().enumerate() {
            match policy.compile() {
                Ok(compiled) => {
                    let index = set.policies.len();
                    let slot = compiled.kind.index();
                    match compiled.pattern.exact() {
                        Some(name) => set.exact[slot]
                            .entry(name.to_owned())
                            .or_default()
                            .push(index),
                        None => set.globs[slot].push(index),
                    }
                    set.policies.push(compiled);
                }
                Err(errors) => problems.extend(
                    errors
                        .into_iter()
                        .map(|e| e.within(&format!("policy[{i}]"))),
                ),
            }
        }
        if problems.is_empty() {
            Ok(set)
        } else {
            Err(PolicyError { problems })
        }
    }
}

/// Checked, indexed policies; cheap to evaluate on every request.
#[derive(Clone, Default)]
pub struct PolicySet {
    policies: Vec<CompiledPolicy>,
    /// Per kind: exact name → indices of its policies (ascending).
    exact: [HashMap<String, Vec<usize>>; 4],
    /// Per kind: indices of the glob policies (ascending).
    globs: [Vec<usize>; 4],
    deny_by_default: bool,
}

impl PolicySet {
    /// A builder; without policies the set allows everything.
    pub fn builder() -> PolicySetBuilder {
        PolicySetBuilder::default()
    }

    /// Number of policies.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// Whether there are no policies (and so, unless denying by default,
    /// nothing to check).
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// Whether an item no policy matches is denied.
    pub fn denies_by_default(&self) -> bool {
        self.deny_by_default
    }

    /// Whether `token` may use (and so see in a listing) the item.
    pub fn allows(&self, kind: ItemKind, name: &str, token: &AccessToken) -> bool {
        self.decide(kind, name, token).is_allowed()
    }

    /// The decision for `token` using the item of `kind` named `name` (a
    /// resource by its URI, a template by its URI template).
    ///
    /// A failed claim condition or predicate of any matching policy denies;
    /// otherwise missing scopes ask for a step-up; otherwise the item is
    /// allowed. No policy matching means allowed, or denied with
    /// [`deny_by_default`](PolicySetBuilder::deny_by_default).
    pub fn decide(&self, kind: ItemKind, name: &str, token: &AccessToken) -> Decision {
        let mut matched = false;
        let mut scopes_missing = false;
        for policy in self.matching(kind, name) {
            matched = true;
            let refused = match policy.judge(token) {
                Verdict::Met => continue,
                Verdict::ScopesMissing => {
                    scopes_missing = true;
                    continue;
                }
                Verdict::ClaimFailed(path) => DenyReason::Claim {
                    kind,
                    pattern: policy.pattern.as_str().to_owned(),
                    claim: path.as_str().to_owned(),
                },
                Verdict::PredicateFailed(index) => DenyReason::Predicate {
                    kind,
                    pattern: policy.pattern.as_str().to_owned(),
                    index,
                },
            };
            return Decision::Deny { reason: refused };
        }
        if !matched && self.deny_by_default {
            return Decision::Deny {
                reason: DenyReason::NoPolicy { kind },
            };
        }
        if !scopes_missing {
            return Decision::Allow;
        }
        let mut required = ScopeSet::new();
        for policy in self.matching(kind, name) {
            required.extend(&policy.scopes);
        }
        Decision::StepUp { required }
    }

    /// The policies matching the item, in the order they were added: the
    /// exact-name ones and the matching globs merged by index.
    fn matching<'s>(&'s self, kind: ItemKind, name: &'s str) -> Matching<'s> {
        let slot = kind.index();
        Matching {
            set: self,
            name,
            exact: self.exact[slot].get(name).map_or(&[], Vec::as_slice),
            globs: &self.globs[slot],
            next_glob: None,
        }
    }
}

/// Iterator behind [`PolicySet::matching`]; allocation-free.
struct Matching<'s> {
    set: &'s PolicySet,
    name: &'s str,
    exact: &'s [usize],
    globs: &'s [usize],
    /// The next glob policy known to match, not yet yielded.
    next_glob: Option<usize>,
}

impl<'s> Iterator for Matching<'s> {
    type Item = &'s CompiledPolicy;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next_glob.is_none() {
            while let Some((&index, rest)) = self.globs.split_first() {
                self.globs = rest;
                if self.set.policies[index].pattern.matches(self.name) {
                    self.next_glob = Some(index);
                    break;
                }
            }
        }
        let index = match (self.exact.first(), self.next_glob) {
            (Some(&e), Some(g)) if e < g => {
                self.exact = &self.exact[1..];
                e
            }
            (_, Some(g)) => {
                self.next_glob = None;
                g
            }
            (Some(&e), None) => {
                self.exact = &self.exact[1..];
                e
            }
            (None, None) => return None,
        };
        Some(&self.set.policies[index])
    }
}

impl fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicySet")
            .field("policies", &self.policies.len())
            .field("deny_by_default", &self.deny_by_default)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(scope: &str) -> AccessToken {
        AccessToken::for_testing(json!({"scope": scope, "org_id": "org_1"}))
    }

    #[test]
    fn exact_and_glob_policies_merge_in_definition_order() {
        let set = PolicySet::builder()
            .policy(Policy::tools("a*").scopes(["s1"]))
            .policy(Policy::tools("add").scopes(["s2"]))
            .policy(Policy::tools("*d").scopes(["s3"]))
            .policy(Policy::tools("add").scopes(["s4"]))
            .policy(Policy::prompts("add").scopes(["other-kind"]))
            .build()
            .unwrap();
        let order: Vec<_> = set
            .matching(ItemKind::Tool, "add")
            .map(|p| p.scopes.to_space_separated())
            .collect();
        assert_eq!(order, ["s1", "s2", "s3", "s4"]);
        assert_eq!(
            set.decide(ItemKind::Tool, "add", &token("s4 s1")),
            Decision::StepUp {
                required: ScopeSet::parse(["s1", "s2", "s3", "s4"]).unwrap()
            }
        );
    }

    #[test]
    fn claim_failure_beats_missing_scopes() {
        let set = PolicySet::builder()
            .policy(Policy::tools("*").scopes(["write"]))
            .policy(Policy::tools("x").claim_equals("org_id", "org_2"))
            .build()
            .unwrap();
        assert!(matches!(
            set.decide(ItemKind::Tool, "x", &token("")),
            Decision::Deny {
                reason: DenyReason::Claim { .. }
            }
        ));
    }

    #[test]
    fn build_errors_name_the_policy_and_field() {
        let err = PolicySet::builder()
            .policy(Policy::tools("ok"))
            .policy(Policy::tools("x").scopes(["a b"]))
            .build()
            .unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert!(err.to_string().starts_with("policy[1].scopes: "), "{err}");
    }
}
