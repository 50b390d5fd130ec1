//! Policies as configuration (the gateway's TOML), checked into a
//! [`PolicySet`] with errors that name the key:
//!
//! ```toml
//! deny_by_default = false
//!
//! [[policy]]
//! tools = "admin_*"                 # or a list; also prompts, resources, resource_templates
//! scopes = ["todo:write"]
//! claims = { org_id = "org_1", roles = { contains = "admin" }, sub = { in = ["usr_1", "usr_2"] } }
//! ```
//!
//! A claim given a plain value must equal it; a table names the test:
//! `equals`, `in` (one of a list) or `contains` (an array or a
//! space-separated string holding the value). A bare list is refused as
//! ambiguous. Claim names starting with `/` are RFC 6901 pointers.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::condition::{ClaimPath, ClaimTest};
use super::glob::NamePattern;
use super::rule::{ItemKind, Policy};
use super::set::{PolicyError, PolicySet};
use crate::config::ConfigError;
use crate::types::Scope;

/// A set of policies: `deny_by_default` and the `[[policy]]` tables.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySetConfig {
    /// Deny items no policy matches (default `false`).
    #[serde(default)]
    pub deny_by_default: bool,
    /// The policies (`[[policy]]`).
    #[serde(default)]
    pub policy: Vec<PolicyConfig>,
}

/// One name or several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// `tools = "admin_*"`
    One(String),
    /// `tools = ["add", "remove_*"]`
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for Targets {
    /// By hand rather than `untagged`, so a wrong type is reported as what
    /// was expected instead of "did not match any variant".
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Targets;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a name or glob (\"admin_*\"), or a list of them")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Targets, E> {
                Ok(Targets::One(v.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Targets, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(Targets::Many(names))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Targets {
    fn as_slice(&self) -> &[String] {
        match self {
            Targets::One(one) => std::slice::from_ref(one),
            Targets::Many(many) => many,
        }
    }
}

/// One `[[policy]]` table.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Tool names or globs.
    #[serde(default)]
    pub tools: Option<Targets>,
    /// Prompt names or globs.
    #[serde(default)]
    pub prompts: Option<Targets>,
    /// Resource URIs or globs.
    #[serde(default)]
    pub resources: Option<Targets>,
    /// Resource template URI templates or globs.
    #[serde(default)]
    pub resource_templates: Option<Targets>,
    /// Scopes the token must hold.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Claim conditions by claim name (or `/`-pointer).
    #[serde(default)]
    pub claims: BTreeMap<String, Value>,
}

impl ClaimTest {
    /// Reads one configured `claims` entry: a plain value means equality;
    /// a table holds exactly one of `equals`, `in` and `contains`. The
    /// error says what is wrong (the caller adds the key).
    pub fn from_config(value: &Value) -> Result<ClaimTest, String> {
        match value {
            Value::Array(_) => Err(
                "a bare list is ambiguous: write { in = [...] } for one of several values, or { equals = [...] } for the list itself"
                    .to_owned(),
            ),
            Value::Object(table) => {
                let mut entries = table.iter();
                let (Some((op, operand)), None) = (entries.next(), entries.next()) else {
                    return Err("a table must hold exactly one of `equals`, `in`, `contains`".to_owned());
                };
                match op.as_str() {
                    "equals" => Ok(ClaimTest::Equals(operand.clone())),
                    "contains" => Ok(ClaimTest::Contains(operand.clone())),
                    "in" => match operand {
                        Value::Array(options) if !options.is_empty() => {
                            Ok(ClaimTest::OneOf(options.clone()))
                        }
                        _ => Err("`in` takes a non-empty list of values".to_owned()),
                    },
                    other => Err(format!(
                        "unknown test `{other}`; expected one of `equals`, `in`, `contains`"
                    )),
                }
            }
            scalar => Ok(ClaimTest::Equals(scalar.clone())),
        }
    }
}

impl PolicyConfig {
    /// The policies this table stands for (one per target); errors name
    /// the key (`tools`, `scopes`, `claims.roles`).
    pub fn to_policies(&self) -> Result<Vec<Policy>, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let targets = [
            ("tools", ItemKind::Tool, &self.tools),
            ("prompts", ItemKind::Prompt, &self.prompts),
            ("resources", ItemKind::Resource, &self.resources),
            (
                "resource_templates",
                ItemKind::ResourceTemplate,
                &self.resource_templates,
            ),
        ];
        let mut patterns = Vec::new();
        for (key, kind, names) in targets {
            for name in names.iter().flat_map(Targets::as_slice) {
                match NamePattern::new(name) {
                    Ok(_) => patterns.push((kind, name)),
                    Err(e) => errors.push(ConfigError::new(key, format!("`{name}` {e}"))),
                }
            }
        }
        if patterns.is_empty() && errors.is_empty() {
            errors.push(ConfigError::new(
                "tools",
                "the policy names no items: set `tools`, `prompts`, `resources` or `resource_templates` (a name or a glob with * and ?)",
            ));
        }
        for scope in &self.scopes {
            if let Err(e) = Scope::new(scope.as_str()) {
                errors.push(ConfigError::new("scopes", e.to_string()));
            }
        }
        let mut tests = Vec::with_capacity(self.claims.len());
        for (claim, value) in &self.claims {
            if ClaimPath::new(claim).is_none() {
                errors.push(ConfigError::new("claims", "a claim name must not be empty"));
                continue;
            }
            match ClaimTest::from_config(value) {
                Ok(test) => tests.push((claim, test)),
                Err(problem) => errors.push(ConfigError::new(format!("claims.{claim}"), problem)),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(patterns
            .into_iter()
            .map(|(kind, name)| {
                tests.iter().fold(
                    Policy::new(kind, name.as_str()).scopes(self.scopes.iter().cloned()),
                    |policy, (claim, test)| policy.claim(claim.as_str(), test.clone()),
                )
            })
            .collect())
    }
}

impl PolicySetConfig {
    /// Checks every table and builds the set; every problem is reported,
    /// named `policy[<index>].<key>`.
    pub fn build(&self) -> Result<PolicySet, PolicyError> {
        let mut problems = Vec::new();
        let mut builder = PolicySet::builder().deny_by_default(self.deny_by_default);
        for (i, table) in self.policy.iter().enumerate() {
            match table.to_policies() {
                Ok(policies) => builder = builder.policies(policies),
                Err(errors) => problems.extend(
                    errors
                        .into_iter()
                        .map(|e| e.within(&format!("policy[{i}]"))),
                ),
            }
        }
        if !problems.is_empty() {
            return Err(PolicyError { problems });
        }
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(value: Value) -> Result<PolicySetConfig, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = config(json!({"policy": [{"tools": "x", "scope": ["a"]}]})).unwrap_err();
        assert!(err.to_string().contains("unknown field `scope`"), "{err}");
        let err = config(json!({"deny": true})).unwrap_err();
        assert!(err.to_string().contains("unknown field `deny`"), "{err}");
    }

    #[test]
    fn wrong_target_types_say_what_was_expected() {
        let err = config(json!({"policy": [{"tools": 3}]})).unwrap_err();
        assert!(err.to_string().contains("expected a name or glob"), "{err}");
        let err = config(json!({"policy": [{"prompts": ["a", 1]}]})).unwrap_err();
        assert!(err.to_string().contains("expected a string"), "{err}");
    }

    #[test]
    fn claim_forms_parse() {
        assert_eq!(
            ClaimTest::from_config(&json!("org_1")),
            Ok(ClaimTest::Equals(json!("org_1")))
        );
        assert_eq!(
            ClaimTest::from_config(&json!({"in": ["a", "b"]})),
            Ok(ClaimTest::OneOf(vec![json!("a"), json!("b")]))
        );
        assert_eq!(
            ClaimTest::from_config(&json!({"contains": "admin"})),
            Ok(ClaimTest::Contains(json!("admin")))
        );
        assert_eq!(
            ClaimTest::from_config(&json!({"equals": [1, 2]})),
            Ok(ClaimTest::Equals(json!([1, 2])))
        );
        assert!(
            ClaimTest::from_config(&json!(["a"]))
                .unwrap_err()
                .contains("ambiguous")
        );
        assert!(ClaimTest::from_config(&json!({"in": []})).is_err());
        assert!(
            ClaimTest::from_config(&json!({"matches": "x"}))
                .unwrap_err()
                .contains("`matches`")
        );
        assert!(ClaimTest::from_config(&json!({"equals": 1, "in": [1]})).is_err());
    }

    #[test]
    fn errors_name_policy_index_and_key() {
        let c = config(json!({"policy": [
            {"tools": "ok"},
            {"tools": ["fine", ""], "scopes": ["a b"], "claims": {"roles": ["admin"]}},
            {"scopes": ["x"]},
        ]}))
        .unwrap();
        let err = c.build().unwrap_err();
        let names: Vec<_> = err
            .problems
            .iter()
            .map(|p| p.source_name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "policy[1].tools",
                "policy[1].scopes",
                "policy[1].claims.roles",
                "policy[2].tools"
            ]
        );
    }

    #[test]
    fn one_table_covers_several_kinds_and_names() {
        let c = config(json!({"policy": [
            {"tools": ["a", "b*"], "prompts": "p", "scopes": ["s"]},
        ]}))
        .unwrap();
        let set = c.build().unwrap();
        assert_eq!(set.len(), 3);
    }
}
