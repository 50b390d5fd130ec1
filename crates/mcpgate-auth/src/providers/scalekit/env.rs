//! The environment variables that configure Scalekit, in two naming schemes,
//! so a FastMCP deployment can move over without touching its environment:
//!
//! | scheme | variables |
//! |---|---|
//! | Scalekit's sample | `SCALEKIT_ENVIRONMENT_URL`, `SCALEKIT_RESOURCE_ID`, `MCP_URL`, `SCALEKIT_CLIENT_ID` (ignored) |
//! | FastMCP | `FASTMCP_SERVER_AUTH=fastmcp.server.auth.providers.scalekit.ScalekitProvider` and `FASTMCP_SERVER_AUTH_SCALEKITPROVIDER_{ENVIRONMENT_URL,RESOURCE_ID,MCP_URL,BASE_URL,REQUIRED_SCOPES,CLIENT_ID}` |
//!
//! When `FASTMCP_SERVER_AUTH` is set, the FastMCP names are used; otherwise
//! the Scalekit names, if any is set.

use crate::config::{ConfigError, Env, parse_scope_list};

use super::ScalekitProvider;

/// The FastMCP class path that selects Scalekit in `FASTMCP_SERVER_AUTH`.
pub const FASTMCP_SCALEKIT_CLASS: &str = "fastmcp.server.auth.providers.scalekit.ScalekitProvider";

/// MCP URL used when `MCP_URL` is not set, as in Scalekit's sample server.
pub const DEFAULT_MCP_URL: &str = "http://localhost:8000/mcp";

/// The Scalekit provider described by these variables, or `None` when no
/// Scalekit or FastMCP auth variable is set at all.
pub(crate) fn provider_from(env: &Env) -> Result<Option<ScalekitProvider>, ConfigError> {
    if let Some(class) = env.get("FASTMCP_SERVER_AUTH") {
        return fastmcp_provider(env, class.trim()).map(Some);
    }
    let any_scalekit = ["SCALEKIT_ENVIRONMENT_URL", "SCALEKIT_RESOURCE_ID"]
        .iter()
        .any(|n| env.get(n).is_some());
    if !any_scalekit {
        return Ok(None);
    }
    let env_url = env.require(
        "SCALEKIT_ENVIRONMENT_URL",
        "set it to your Scalekit environment URL, e.g. https://acme.scalekit.com",
    )?;
    let resource_id = env.require(
        "SCALEKIT_RESOURCE_ID",
        "copy the resource id (res_…) from Scalekit's MCP servers page",
    )?;
    let mcp_url = match env.get("MCP_URL") {
        None => DEFAULT_MCP_URL,
        Some(_) => env.require(
            "MCP_URL",
            "set it to the public URL of this MCP endpoint, e.g. https://mcp.example.com/mcp",
        )?,
    };
    if env.get("SCALEKIT_CLIENT_ID").is_some_and(|v| !v.is_empty()) {
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
pub(crate) fn mcp_url_from_base(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    if base.ends_with("/mcp") {
        base.to_owned()
    } else {
        format!("{base}/mcp")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
