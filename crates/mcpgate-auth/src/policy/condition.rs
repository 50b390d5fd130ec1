//! Claim conditions: a claim (by name, or an RFC 6901 pointer into nested
//! claims) compared with configured JSON values.

use std::fmt;

use serde_json::Value;

use crate::claims::AccessToken;

/// Where a claim is found in the token: a top-level name (`org_id`), or a
/// path starting with `/` (`/org/id`, RFC 6901 escaping: `~1` is `/`, `~0`
/// is `~`; array elements by index).
///
/// The path is split once when the policy is built, so checking a token
/// walks the claims without allocating.
#[derive(Clone, PartialEq, Eq)]
pub struct ClaimPath {
    source: String,
    segments: Vec<String>,
}

impl ClaimPath {
    /// Parses a claim name or pointer. `None` if it is empty (or `/` alone).
    pub fn new(path: &str) -> Option<Self> {
        let segments: Vec<String> = match path.strip_prefix('/') {
            Some(pointer) => pointer
                .split('/')
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect(),
            None => vec![path.to_owned()],
        };
        if path.is_empty() || segments.iter().all(String::is_empty) {
            return None;
        }
        Some(Self {
            source: path.to_owned(),
            segments,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The claim's value in `token`, if present.
    pub fn lookup<'t>(&self, token: &'t AccessToken) -> Option<&'t Value> {
        let (first, rest) = self.segments.split_first()?;
        let mut value = token.claim(first)?;
        for segment in rest {
            value = match value {
                Value::Object(map) => map.get(segment)?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(value)
    }
}

impl fmt::Debug for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClaimPath({:?})", self.source)
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// How a claim is compared.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClaimTest {
    /// The claim equals the value (JSON equality: `"1"` is not `1`).
    Equals(Value),
    /// The claim equals one of the values (`sub in [...]`).
    OneOf(Vec<Value>),
    /// The claim is an array holding the value, or a space-separated
    /// string holding it as one word (as `scope` and some `roles` claims are).
    Contains(Value),
}

/// One condition on the verified token's claims. An absent claim fails
/// every test: a condition is never met by leaving a claim out.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimCondition {
    path: ClaimPath,
    test: ClaimTest,
}

impl ClaimCondition {
    /// A condition on the claim at `path`.
    pub fn new(path: ClaimPath, test: ClaimTest) -> Self {
        Self { path, test }
    }

    /// The claim the condition reads.
    pub fn path(&self) -> &ClaimPath {
        &self.path
    }

    /// The comparison.
    pub fn test(&self) -> &ClaimTest {
        &self.test
    }

    /// Whether `token` meets the condition. Allocation-free.
    pub fn holds(&self, token: &AccessToken) -> bool {
        let Some(claim) = self.path.lookup(token) else {
            return false;
        };
        match &self.test {
            ClaimTest::Equals(expected) => claim == expected,
            ClaimTest::OneOf(options) => options.iter().any(|o| o == claim),
            ClaimTest::Contains(expected) => match claim {
                Value::Array(items) => items.iter().any(|i| i == expected),
                Value::String(words) => expected
                    .as_str()
                    .is_some_and(|w| words.split_ascii_whitespace().any(|x| x == w)),
                _ => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token() -> AccessToken {
        AccessToken::for_testing(json!({
            "sub": "usr_1",
            "org_id": "org_1",
            "roles": ["admin", "editor"],
            "groups": "ops dev",
            "level": 3,
            "org": {"id": "org_9", "a/b": {"c~d": true}},
            "list": [{"k": "v"}],
        }))
    }

    fn holds(path: &str, test: ClaimTest) -> bool {
        ClaimCondition::new(ClaimPath::new(path).unwrap(), test).holds(&token())
    }

    #[test]
    fn equals_compares_json_values() {
        assert!(holds("org_id", ClaimTest::Equals(json!("org_1"))));
        assert!(!holds("org_id", ClaimTest::Equals(json!("org_2"))));
        assert!(holds("level", ClaimTest::Equals(json!(3))));
        assert!(!holds("level", ClaimTest::Equals(json!("3"))));
    }

    #[test]
    fn one_of_and_contains() {
        assert!(holds(
            "sub",
            ClaimTest::OneOf(vec![json!("usr_0"), json!("usr_1")])
        ));
        assert!(!holds("sub", ClaimTest::OneOf(vec![json!("usr_0")])));
        assert!(holds("roles", ClaimTest::Contains(json!("admin"))));
        assert!(!holds("roles", ClaimTest::Contains(json!("owner"))));
        assert!(holds("groups", ClaimTest::Contains(json!("dev"))));
        assert!(!holds("groups", ClaimTest::Contains(json!("de"))));
        assert!(!holds("org_id", ClaimTest::Contains(json!(1))));
    }

    #[test]
    fn pointers_reach_nested_claims() {
        assert!(holds("/org/id", ClaimTest::Equals(json!("org_9"))));
        assert!(holds("/org/a~1b/c~0d", ClaimTest::Equals(json!(true))));
        assert!(holds("/list/0/k", ClaimTest::Equals(json!("v"))));
        assert!(!holds("/list/x/k", ClaimTest::Equals(json!("v"))));
        assert!(!holds("/org/id/deeper", ClaimTest::Equals(json!("org_9"))));
    }

    #[test]
    fn absent_claims_fail_every_test() {
        assert!(!holds("missing", ClaimTest::Equals(Value::Null)));
        assert!(!holds("missing", ClaimTest::OneOf(vec![Value::Null])));
        assert!(ClaimPath::new("").is_none());
        assert!(ClaimPath::new("/").is_none());
    }
}
