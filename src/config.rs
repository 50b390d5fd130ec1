//! Configuration from environment variables and a `.env` file.
//!
//! Two naming schemes are understood, so a FastMCP deployment can move over
//! without touching its environment:
//!
//! | scheme | variables |
//! |---|---|
//! | Scalekit's sample | `SCALEKIT_ENVIRONMENT_URL`, `SCALEKIT_RESOURCE_ID`, `MCP_URL`, `SCALEKIT_CLIENT_ID` (ignored) |
//! | FastMCP | `FASTMCP_SERVER_AUTH=fastmcp.server.auth.providers.scalekit.ScalekitProvider` and `FASTMCP_SERVER_AUTH_SCALEKITPROVIDER_{ENVIRONMENT_URL,RESOURCE_ID,MCP_URL,BASE_URL,REQUIRED_SCOPES,CLIENT_ID}` |
//!
//! Process variables win over `.env`. When `FASTMCP_SERVER_AUTH` is set, the
//! FastMCP names are used; otherwise the Scalekit names, if any is set.

use std::collections::HashMap;
use std::path::Path;

use crate::providers::scalekit::ScalekitProvider;

/// A configuration value was missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {problem}")]
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
}

/// The FastMCP class path that selects Scalekit in `FASTMCP_SERVER_AUTH`.
pub const FASTMCP_SCALEKIT_CLASS: &str = "fastmcp.server.auth.providers.scalekit.ScalekitProvider";

/// MCP URL used when `MCP_URL` is not set, as in Scalekit's sample server.
pub const DEFAULT_MCP_URL: &str = "http://localhost:8000/mcp";

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

    /// The Scalekit provider described by these variables, or `None` when no
    /// auth variable is set at all.
    pub fn scalekit_provider(&self) -> Result<Option<ScalekitProvider>, ConfigError> {
        if let Some(class) = self.get("FASTMCP_SERVER_AUTH") {
            return fastmcp_provider(self, class.trim()).map(Some);
        }
        let any_scalekit = ["SCALEKIT_ENVIRONMENT_URL", "SCALEKIT_RESOURCE_ID"]
            .iter()
            .any(|n| self.get(n).is_some());
        if !any_scalekit {
            return Ok(None);
        }
        let env_url = self.require(
            "SCALEKIT_ENVIRONMENT_URL",
            "set it to your Scalekit environment URL, e.g. https://acme.scalekit.com",
        )?;
        let resource_id = self.require(
            "SCALEKIT_RESOURCE_ID",
            "copy the resource id (res_…) from Scalekit's MCP servers page",
        )?;
        let mcp_url = match self.get("MCP_URL") {
            None => DEFAULT_MCP_URL,
            Some(_) => self.require(
                "MCP_URL",
                "set it to the public URL of this MCP endpoint, e.g. https://mcp.example.com/mcp",
            )?,
        };
        if self
            .get("SCALEKIT_CLIENT_ID")
            .is_some_and(|v| !v.is_empty())
        {
            tracing::warn!(
                "SCALEKIT_CLIENT_ID is deprecated and ignored: a resource server does not need a client id"
            );
        }
        let provider =
            ScalekitProvider::new(env_url, resource_id, mcp_url).named_sources(SourceNames {
                environment_url: "SCALEKIT_ENVIRONMENT_URL".into(),
                resource_id: "SCALEKIT_RESOURCE_ID".into(),
                mcp_url: "MCP_URL".into(),
                required_scopes: "required_scopes".into(),
            });
        Ok(Some(provider))
    }
}

/// Which variable each provider field came from, so build errors name it.
#[derive(Debug, Clone)]
pub(crate) struct SourceNames {
    pub(crate) environment_url: String,
    pub(crate) resource_id: String,
    pub(crate) mcp_url: String,
    pub(crate) required_scopes: String,
}

impl Default for SourceNames {
    fn default() -> Self {
        Self {
            environment_url: "environment_url".into(),
            resource_id: "resource_id".into(),
            mcp_url: "mcp_url".into(),
            required_scopes: "required_scopes".into(),
        }
    }
}

const FASTMCP_PREFIX: &str = "FASTMCP_SERVER_AUTH_SCALEKITPROVIDER_";

fn fastmcp_provider(env: &Env, class: &str) -> Result<ScalekitProvider, ConfigError> {
    let is_scalekit = class == FASTMCP_SCALEKIT_CLASS
        || class.eq_ignore_ascii_case("ScalekitProvider")
        || class.eq_ignore_ascii_case("scalekit");
    if !is_scalekit {
        return Err(ConfigError::new(
            "FASTMCP_SERVER_AUTH",
            format!("unsupported provider `{class}`; mcpgate supports `{FASTMCP_SCALEKIT_CLASS}`"),
        ));
    }
    let var = |suffix: &str| format!("{FASTMCP_PREFIX}{suffix}");
    let env_url = env
        .require(
            &var("ENVIRONMENT_URL"),
            "set it to your Scalekit environment URL",
        )?
        .to_owned();
    let resource_id = env
        .require(
            &var("RESOURCE_ID"),
            "copy the resource id (res_…) from Scalekit",
        )?
        .to_owned();
    let (mcp_url, mcp_source) = match (env.get(&var("MCP_URL")), env.get(&var("BASE_URL"))) {
        (Some(_), _) => (
            env.require(
                &var("MCP_URL"),
                "set it to the public URL of the MCP endpoint",
            )?
            .to_owned(),
            "MCP_URL",
        ),
        (None, Some(_)) => {
            let base = env.require(
                &var("BASE_URL"),
                "set it to the public base URL of the server",
            )?;
            (mcp_url_from_base(base), "BASE_URL")
        }
        (None, None) => {
            return Err(ConfigError::new(
                var("MCP_URL"),
                format!(
                    "is not set (nor {}); set it to the public URL of the MCP endpoint, e.g. https://mcp.example.com/mcp",
                    var("BASE_URL")
                ),
            ));
        }
    };
    if env.get(&var("CLIENT_ID")).is_some_and(|v| !v.is_empty()) {
        tracing::warn!(
            "{} is deprecated and ignored: a resource server does not need a client id",
            var("CLIENT_ID")
        );
    }
    let required = match env.get(&var("REQUIRED_SCOPES")) {
        None => Vec::new(),
        Some(raw) => {
            parse_scope_list(raw).map_err(|p| ConfigError::new(var("REQUIRED_SCOPES"), p))?
        }
    };
    let names = SourceNames {
        environment_url: var("ENVIRONMENT_URL"),
        resource_id: var("RESOURCE_ID"),
        mcp_url: var(mcp_source),
        required_scopes: var("REQUIRED_SCOPES"),
    };
    Ok(ScalekitProvider::new(env_url, resource_id, mcp_url)
        .required_scopes(required)
        .named_sources(names))
}

/// FastMCP mounts its endpoint at `/mcp` under `BASE_URL`. A base that already
/// ends in `/mcp` is taken as the endpoint itself, which avoids the doubled
/// `/mcp/mcp` path FastMCP's own docs once produced.
fn mcp_url_from_base(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    if base.ends_with("/mcp") {
        base.to_owned()
    } else {
        format!("{base}/mcp")
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

    #[test]
    fn base_url_gets_the_mcp_path_once() {
        assert_eq!(
            mcp_url_from_base("https://x.example"),
            "https://x.example/mcp"
        );
        assert_eq!(
            mcp_url_from_base("https://x.example/mcp/"),
            "https://x.example/mcp"
        );
    }
}
