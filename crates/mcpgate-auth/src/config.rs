//! Configuration variables: the process environment and a `.env` file, read
//! only when asked ([`Env::from_process`]), and the error every configuration
//! problem becomes. Which variables a provider reads is the provider's own
//! business (see `providers::scalekit::env`).

use std::collections::HashMap;
use std::path::Path;

/// A configuration value was missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {problem}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The variable or builder field at fault, e.g. `SCALEKIT_RESOURCE_ID`.
    pub source_name: String,
    /// What is wrong and what to do about it.
    pub problem: String,
}

impl ConfigError {
    /// A new error about `source_name`.
    pub fn new(source_name: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            source_name: source_name.into(),
            problem: problem.into(),
        }
    }

    /// The same error with `prefix` in front of its source, for settings
    /// nested in a table: `ConfigError::new("issuer", ..).within("auth")`
    /// names `auth.issuer`; a prefix ending in `]` (a list index) is joined
    /// without a dot.
    #[must_use]
    pub fn within(mut self, prefix: &str) -> Self {
        self.source_name = if self.source_name.starts_with('[') {
            format!("{prefix}{}", self.source_name)
        } else {
            format!("{prefix}.{}", self.source_name)
        };
        self
    }
}

/// A source of configuration variables: the process environment plus `.env`,
/// or an explicit map (for tests and embedding).
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment, overlaid on `./.env` if that file exists.
    pub fn from_process() -> Result<Self, ConfigError> {
        let mut env = Self::from_dotenv_file(Path::new(".env"))?;
        for (key, value) in std::env::vars_os() {
            if let (Ok(key), Ok(value)) = (key.into_string(), value.into_string()) {
                env.vars.insert(key, value);
            }
        }
        Ok(env)
    }

    /// Only the variables of a `.env` file (empty if the file does not exist).
    pub fn from_dotenv_file(path: &Path) -> Result<Self, ConfigError> {
        let mut vars = HashMap::new();
        if path.exists() {
            let iter = dotenvy::from_path_iter(path).map_err(|e| {
                ConfigError::new(path.display().to_string(), format!("cannot read: {e}"))
            })?;
            for item in iter {
                let (key, value) = item.map_err(|e| {
                    ConfigError::new(
                        path.display().to_string(),
                        format!("cannot parse: {e}; fix or remove the line"),
                    )
                })?;
                vars.insert(key, value);
            }
        }
        Ok(Self { vars })
    }

    /// Exactly these variables.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A variable's value, if set (an empty value counts as set).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// A variable that must be set and non-empty.
    pub fn require(&self, name: &str, hint: &str) -> Result<&str, ConfigError> {
        match self.get(name).map(str::trim) {
            None => Err(ConfigError::new(name, format!("is not set; {hint}"))),
            Some("") => Err(ConfigError::new(name, format!("is empty; {hint}"))),
            Some(v) => Ok(v),
        }
    }
}

/// Parses a scope list written as JSON (`["a","b"]`), comma-separated or space-separated.
pub fn parse_scope_list(raw: &str) -> Result<Vec<String>, String> {
    let raw = raw.trim();
    if raw.starts_with('[') {
        let list: Vec<String> = serde_json::from_str(raw)
            .map_err(|e| format!("is not a valid JSON list of strings ({e})"))?;
        return Ok(list
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect());
    }
    Ok(raw
        .split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists_parse_in_three_forms() {
        assert_eq!(parse_scope_list("a,b").unwrap(), ["a", "b"]);
        assert_eq!(parse_scope_list("a b, c").unwrap(), ["a", "b", "c"]);
        assert_eq!(parse_scope_list(r#"["a", "b"]"#).unwrap(), ["a", "b"]);
        assert!(parse_scope_list("[a").is_err());
        assert!(parse_scope_list("").unwrap().is_empty());
    }
}
