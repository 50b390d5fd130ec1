//! Which protection a server gets, decided once at start-up: a provider given
//! in code, the one the environment describes, or (only when asked for) none.
//! An unconfigured server fails closed.

use std::net::SocketAddr;

use mcpgate_auth::{AuthProvider, ConfigError, Env, McpUrl, ProtectedResource};

use super::McpServer;

/// How the server was told to authenticate. A provider is anything that
/// builds a [`ProtectedResource`]: JWT verifiers, an opaque-token verifier
/// (introspection) only, or both.
pub(super) enum AuthSetting {
    /// Nothing said: serving HTTP is refused.
    Unset,
    /// A provider given in code.
    Provider(Box<dyn AuthProvider>),
    /// Read the process environment and `./.env` at start-up.
    FromEnv,
    /// Explicitly no authentication.
    Unauthenticated,
}

impl McpServer {
    /// Resolves the protection: `Ok(None)` only when unauthenticated serving
    /// was asked for.
    pub(super) fn resolve_auth(&mut self) -> Result<Option<ProtectedResource>, ConfigError> {
        match std::mem::replace(&mut self.auth, AuthSetting::Unset) {
            AuthSetting::Provider(provider) => provider.build().map(Some),
            AuthSetting::FromEnv => {
                let provider = mcpgate_auth::providers::from_vars(&Env::from_process()?)?
                    .ok_or_else(|| {
                        ConfigError::new(
                            "SCALEKIT_ENVIRONMENT_URL",
                            "is not set (nor FASTMCP_SERVER_AUTH); set SCALEKIT_ENVIRONMENT_URL, SCALEKIT_RESOURCE_ID and MCP_URL in the environment or ./.env, or FASTMCP_SERVER_AUTH to another provider (oidc, auth0, workos, keycloak, entra, descope, introspection)",
                        )
                    })?;
                tracing::info!("auth configured from the environment");
                provider.build().map(Some)
            }
            AuthSetting::Unauthenticated => Ok(None),
            AuthSetting::Unset => Err(ConfigError::new(
                "auth",
                "no authentication configured: call .auth(provider) or .auth_from_env(), or .allow_unauthenticated() to serve without it on purpose",
            )),
        }
    }

    /// The canonical MCP URL: the provider's, else [`McpServer::mcp_url`],
    /// else the listener's address with path `/mcp`.
    pub(super) fn resolve_mcp_url(
        &self,
        protection: Option<&ProtectedResource>,
        local_addr: Option<SocketAddr>,
    ) -> Result<McpUrl, ConfigError> {
        let parse =
            |raw: &str| McpUrl::parse(raw).map_err(|e| ConfigError::new("mcp_url", e.to_string()));
        match (protection, &self.mcp_url) {
            (Some(p), Some(explicit)) => {
                let explicit = parse(explicit)?;
                if &explicit != p.resource() {
                    return Err(ConfigError::new(
                        "mcp_url",
                        format!(
                            "`{explicit}` differs from the auth provider's MCP URL `{}`; set only one",
                            p.resource()
                        ),
                    ));
                }
                Ok(explicit)
            }
            (Some(p), None) => Ok(p.resource().clone()),
            (None, Some(explicit)) => parse(explicit),
            (None, None) => {
                let addr = local_addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8000)));
                parse(&format!("http://{addr}/mcp"))
            }
        }
    }
}
