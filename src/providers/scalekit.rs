//! Scalekit as the authorization server, mirroring FastMCP's `ScalekitProvider`.
//!
//! Scalekit's contract: keys at `{env}/keys`; RS256 tokens with `typ: JWT`;
//! `iss` is `{env}` or, in newer environments, `{env}/resources/{res}`; `aud`
//! holds the resource id and, when registered, the MCP server URL; the
//! authorization server to advertise is `{env}/resources/{res}`.

use std::time::Duration;

use crate::config::{ConfigError, SourceNames};
use crate::jwks::{JwksCache, JwksConfig};
use crate::protection::ProtectedResource;
use crate::providers::AuthProvider;
use crate::types::{EnvironmentUrl, McpUrl, ScopeSet};
use crate::verify::{
    DEFAULT_VERIFIED_TOKEN_CACHE, JwtVerifier, SigningAlgorithm, VerifierSettings,
};

/// Default clock-skew leeway for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// Default cap on the size of a bearer token.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Protects an MCP server with Scalekit.
///
/// ```
/// use mcpgate::ScalekitProvider;
///
/// let provider = ScalekitProvider::new(
///     "https://acme.scalekit.com",
///     "res_123",
///     "https://mcp.example.com/mcp",
/// )
/// .required_scopes(["todo:read"]);
/// let resource = provider.build().expect("valid settings");
/// assert_eq!(resource.resource().as_str(), "https://mcp.example.com/mcp");
/// ```
#[derive(Debug, Clone)]
pub struct ScalekitProvider {
    environment_url: String,
    resource_id: String,
    mcp_url: String,
    required_scopes: Vec<String>,
    scopes_supported: Option<Vec<String>>,
    resource_name: Option<String>,
    resource_documentation: Option<String>,
    leeway: Duration,
    verified_token_cache: usize,
    jwks: JwksConfig,
    names: SourceNames,
}

impl ScalekitProvider {
    /// A provider for the Scalekit environment `environment_url`, the MCP server
    /// registered as `resource_id`, served publicly at `mcp_url`.
    ///
    /// Nothing is validated until [`build`](Self::build) (or server start), so
    /// every problem is reported at once with the field it concerns.
    pub fn new(
        environment_url: impl Into<String>,
        resource_id: impl Into<String>,
        mcp_url: impl Into<String>,
    ) -> Self {
        Self {
            environment_url: environment_url.into(),
            resource_id: resource_id.into(),
            mcp_url: mcp_url.into(),
            required_scopes: Vec::new(),
            scopes_supported: None,
            resource_name: None,
            resource_documentation: None,
            leeway: DEFAULT_LEEWAY,
            verified_token_cache: DEFAULT_VERIFIED_TOKEN_CACHE,
            jwks: JwksConfig::default(),
            names: SourceNames::default(),
        }
    }

    /// Reads the provider from the environment and `.env` (see [`crate::config`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        crate::config::Env::from_process()?.scalekit_provider()?.ok_or_else(|| {
            ConfigError::new(
                "SCALEKIT_ENVIRONMENT_URL",
                "is not set; set SCALEKIT_ENVIRONMENT_URL, SCALEKIT_RESOURCE_ID and MCP_URL (or FASTMCP_SERVER_AUTH and its variables)",
            )
        })
    }

    /// Scopes every request must carry; a valid token without them gets 403 `insufficient_scope`.
    pub fn required_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Scopes advertised in the protected resource metadata (default: the required scopes).
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Human-readable name published as `resource_name`.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Documentation URL published as `resource_documentation`.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// Clock-skew leeway for `exp`, `nbf` and `iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Accepted for compatibility with FastMCP and ignored: a resource server
    /// needs no client id. Logs a deprecation warning.
    pub fn client_id(self, _client_id: impl Into<String>) -> Self {
        tracing::warn!(
            "ScalekitProvider::client_id is deprecated and ignored: a resource server does not need a client id"
        );
        self
    }

    /// How many verified tokens to remember (default 10,000; 0 disables the cache).
    pub fn verified_token_cache(mut self, capacity: usize) -> Self {
        self.verified_token_cache = capacity;
        self
    }

    /// Tunes the JWKS cache (refetch interval, TTLs, timeouts).
    pub fn jwks_config(mut self, config: JwksConfig) -> Self {
        self.jwks = config;
        self
    }

    pub(crate) fn named_sources(mut self, names: SourceNames) -> Self {
        self.names = names;
        self
    }

    /// Validates the settings and builds the protected-resource setup.
    pub fn build(self) -> Result<ProtectedResource, ConfigError> {
        let names = &self.names;
        let env = EnvironmentUrl::parse(&self.environment_url).map_err(|e| {
            ConfigError::new(
                &names.environment_url,
                format!("{e}; expected e.g. https://acme.scalekit.com"),
            )
        })?;
        let resource_id = self.resource_id.trim();
        if resource_id.is_empty() {
            return Err(ConfigError::new(
                &names.resource_id,
                "is empty; copy the resource id (res_…) from Scalekit",
            ));
        }
        if resource_id.contains(|c: char| c.is_whitespace() || c == '/' || c == '"') {
            return Err(ConfigError::new(
                &names.resource_id,
                "contains spaces, slashes or quotes; expected an id like res_123",
            ));
        }
        if !resource_id.starts_with("res_") {
            tracing::warn!(
                resource_id,
                "Scalekit resource ids usually start with `res_`"
            );
        }
        let mcp_url = McpUrl::parse(&self.mcp_url).map_err(|e| {
            ConfigError::new(&names.mcp_url, format!("{e}; expected the public URL of the MCP endpoint, e.g. https://mcp.example.com/mcp"))
        })?;
        let required_scopes = ScopeSet::parse(self.required_scopes.iter().cloned())
            .map_err(|e| ConfigError::new(&names.required_scopes, e.to_string()))?;
        let scopes_supported = match &self.scopes_supported {
            Some(list) => ScopeSet::parse(list.iter().cloned())
                .map_err(|e| ConfigError::new("scopes_supported", e.to_string()))?,
            None => required_scopes.clone(),
        };
        let resource_issuer = env.join(&format!("resources/{resource_id}"));
        let keys = JwksCache::new(env.join("keys"), self.jwks.clone());
        let verifier = JwtVerifier::new(
            keys,
            VerifierSettings {
                issuers: vec![env.as_str().to_owned(), resource_issuer.clone()],
                audiences: vec![resource_id.to_owned(), mcp_url.as_str().to_owned()],
                algorithms: vec![SigningAlgorithm::Rs256],
                leeway: self.leeway,
                max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
                verified_token_cache: self.verified_token_cache,
            },
        )
        .map_err(|e| ConfigError::new("ScalekitProvider", e))?;
        Ok(ProtectedResource {
            upstream_metadata_url: Some(env.join(&format!(
                ".well-known/oauth-authorization-server/resources/{resource_id}"
            ))),
            authorization_servers: vec![resource_issuer],
            resource: mcp_url,
            scopes_supported,
            required_scopes,
            resource_name: self.resource_name,
            resource_documentation: self.resource_documentation,
            verifier,
        })
    }
}

impl AuthProvider for ScalekitProvider {
    fn build(self: Box<Self>) -> Result<ProtectedResource, ConfigError> {
        ScalekitProvider::build(*self)
    }
}
