//! Query strings and form bodies as OAuth parameters.
//!
//! Parsed by hand rather than with axum's `Query`/`Form` extractors so that a
//! malformed request gets an OAuth error code instead of a plain-text rejection,
//! and so that repeated parameters can be refused (RFC 6749 §3.1: "Request and
//! response parameters MUST NOT be included more than once").

use std::collections::HashMap;

/// Parameters by name; empty values count as absent (RFC 6749 §3.1).
#[derive(Debug, Default)]
pub(crate) struct Params {
    values: HashMap<String, String>,
    /// `resource` is the one parameter RFC 8707 allows to repeat.
    resources: Vec<String>,
}

impl Params {
    /// Parses `application/x-www-form-urlencoded` text. Err names a repeated parameter.
    pub(crate) fn parse(input: &[u8]) -> Result<Self, String> {
        let mut params = Self::default();
        for (name, value) in url::form_urlencoded::parse(input) {
            if value.is_empty() {
                continue;
            }
            if name == "resource" {
                params.resources.push(value.into_owned());
                continue;
            }
            if params
                .values
                .insert(name.to_string(), value.into_owned())
                .is_some()
            {
                return Err(format!("parameter {name} is repeated"));
            }
        }
        Ok(params)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub(crate) fn resources(&self) -> &[String] {
        &self.resources
    }
}

/// Splits a space-separated `scope` value, dropping duplicates, keeping order.
pub(crate) fn split_scopes(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|seen| seen == s) {
            out.push(s.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameter_is_refused_but_resource_may_repeat() {
        assert!(Params::parse(b"a=1&a=2").is_err());
        let p = Params::parse(b"resource=x&resource=y&b=&c=3").unwrap();
        assert_eq!(p.resources(), ["x", "y"]);
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("3"));
        assert_eq!(split_scopes(" a b  a "), ["a", "b"]);
    }
}
