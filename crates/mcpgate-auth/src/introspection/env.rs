//! Introspection from environment variables, under FastMCP's names
//! (`FASTMCP_SERVER_AUTH_INTROSPECTION_*`, its `IntrospectionTokenVerifier`
//! settings) plus the few mcpgate needs that FastMCP does not have.

use std::time::Duration;

use crate::config::{ConfigError, Env, parse_scope_list};
use crate::types::McpUrl;

use super::{ClientAuthMethod, ClientSecret, IntrospectionSettings};

/// The prefix of every variable read here.
pub const ENV_PREFIX: &str = "FASTMCP_SERVER_AUTH_INTROSPECTION_";

/// FastMCP: the introspection endpoint. Its presence selects introspection.
pub const INTROSPECTION_URL: &str = "FASTMCP_SERVER_AUTH_INTROSPECTION_INTROSPECTION_URL";
/// FastMCP: the resource server's client id.
pub const CLIENT_ID: &str = "FASTMCP_SERVER_AUTH_INTROSPECTION_CLIENT_ID";
/// FastMCP: its client secret.
pub const CLIENT_SECRET: &str = "FASTMCP_SERVER_AUTH_INTROSPECTION_CLIENT_SECRET";
/// FastMCP: the request timeout in seconds.
pub const TIMEOUT_SECONDS: &str = "FASTMCP_SERVER_AUTH_INTROSPECTION_TIMEOUT_SECONDS";
/// FastMCP: scopes every request must carry (JSON list, comma- or space-separated).
pub const REQUIRED_SCOPES: &str = "FASTMCP_SERVER_AUTH_INTROSPECTION_REQUIRED_SCOPES";
/// mcpgate: the authorization server's issuer identifier (required: it is
/// published in the resource metadata and checked against `iss`).
pub const ISSUER: &str = "FASTMCP_SERVER_AUTH_INTROSPECTION_ISSUER";
/// mcpgate: `client_secret_basic` (default) or `client_secret_post`.
pub const CLIENT_AUTH: &str = "FASTMCP_SERVER_AUTH_INTROSPECTION_CLIENT_AUTH";
/// mcpgate: accepted audiences (default: the MCP URL).
pub const AUDIENCES: &str = "FASTMCP_SERVER_AUTH_INTROSPECTION_AUDIENCES";

/// What the variables describe: the verifier's settings, and the scopes the
/// protected resource must require (which the resource, not the verifier,
/// enforces).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IntrospectionVars {
    /// The verifier's settings.
    pub settings: IntrospectionSettings,
    /// Scopes every request must carry.
    pub required_scopes: Vec<String>,
}

/// Reads introspection settings for the MCP endpoint at `resource` from
/// `env`; `Ok(None)` when [`INTROSPECTION_URL`] is not set. Errors name the
/// variable at fault.
pub fn from_vars(env: &Env, resource: &McpUrl) -> Result<Option<IntrospectionVars>, ConfigError> {
    let Some(endpoint) = env.get(INTROSPECTION_URL).map(str::trim) else {
        return Ok(None);
    };
    if endpoint.is_empty() {
        return Err(ConfigError::new(
            INTROSPECTION_URL,
            "is empty; set the introspection endpoint URL or unset the variable",
        ));
    }
    let issuer = env.require(
        ISSUER,
        "set the authorization server's issuer identifier (mcpgate needs it for the resource metadata and the `iss` check; FastMCP has no equivalent)",
    )?;
    let client_id = env.require(CLIENT_ID, "set the resource server's client id")?;
    let secret = env.require(CLIENT_SECRET, "set the resource server's client secret")?;
    let audiences = match env.get(AUDIENCES) {
        Some(raw) => parse_scope_list(raw).map_err(|e| ConfigError::new(AUDIENCES, e))?,
        None => Vec::new(),
    };
    let audiences = if audiences.is_empty() {
        vec![resource.as_str().to_owned()]
    } else {
        audiences
    };
    let mut settings = IntrospectionSettings::new(
        endpoint,
        issuer,
        client_id,
        ClientSecret::new(secret),
        audiences,
    );
    if let Some(raw) = env.get(CLIENT_AUTH) {
        settings.client_auth = match raw.trim() {
            "client_secret_basic" => ClientAuthMethod::ClientSecretBasic,
            "client_secret_post" => ClientAuthMethod::ClientSecretPost,
            other => {
                return Err(ConfigError::new(
                    CLIENT_AUTH,
                    format!("`{other}` is not `client_secret_basic` or `client_secret_post`"),
                ));
            }
        };
    }
    if let Some(raw) = env.get(TIMEOUT_SECONDS) {
        match raw.trim().parse::<u64>() {
            Ok(secs) if secs > 0 => settings.request_timeout = Duration::from_secs(secs),
            _ => {
                return Err(ConfigError::new(
                    TIMEOUT_SECONDS,
                    format!("`{raw}` is not a whole number of seconds of at least 1"),
                ));
            }
        }
    }
    let required_scopes = match env.get(REQUIRED_SCOPES) {
        Some(raw) => parse_scope_list(raw).map_err(|e| ConfigError::new(REQUIRED_SCOPES, e))?,
        None => Vec::new(),
    };
    Ok(Some(IntrospectionVars {
        settings,
        required_scopes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource() -> McpUrl {
        McpUrl::parse("https://mcp.example/mcp").unwrap()
    }

    fn full() -> Vec<(&'static str, &'static str)> {
        vec![
            (INTROSPECTION_URL, "https://as.example/introspect"),
            (ISSUER, "https://as.example"),
            (CLIENT_ID, "rs_1"),
            (CLIENT_SECRET, "s3cret"),
            (REQUIRED_SCOPES, "a,b"),
            (TIMEOUT_SECONDS, "7"),
            (CLIENT_AUTH, "client_secret_post"),
        ]
    }

    #[test]
    fn nothing_set_selects_nothing() {
        assert!(from_vars(&Env::default(), &resource()).unwrap().is_none());
    }

    #[test]
    fn fastmcp_names_are_read() {
        let vars = from_vars(&Env::from_pairs(full()), &resource())
            .unwrap()
            .unwrap();
        assert_eq!(vars.required_scopes, ["a", "b"]);
        assert_eq!(vars.settings.client_secret.expose_secret(), "s3cret");
        assert_eq!(
            vars.settings.client_auth,
            ClientAuthMethod::ClientSecretPost
        );
        assert_eq!(vars.settings.request_timeout, Duration::from_secs(7));
        assert_eq!(vars.settings.audiences, ["https://mcp.example/mcp"]);
    }

    #[test]
    fn errors_name_the_variable() {
        for (missing, bad) in [
            (ISSUER, None),
            (CLIENT_SECRET, None),
            (TIMEOUT_SECONDS, Some("0")),
            (CLIENT_AUTH, Some("private_key_jwt")),
        ] {
            let mut vars = full();
            vars.retain(|(k, _)| *k != missing);
            if let Some(bad) = bad {
                vars.push((missing, bad));
            }
            let err = from_vars(&Env::from_pairs(vars), &resource()).unwrap_err();
            assert_eq!(err.source_name, missing);
        }
    }
}
