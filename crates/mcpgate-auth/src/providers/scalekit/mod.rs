//! Scalekit as the authorization server, mirroring FastMCP's `ScalekitProvider`.
//!
//! Scalekit's contract: keys at `{env}/keys`; RS256 tokens with `typ: JWT`;
//! `iss` is `{env}` or, in newer environments, `{env}/resources/{res}`; `aud`
//! holds the resource id and, when registered, the MCP server URL; the
//! authorization server to advertise is `{env}/resources/{res}`.

use crate::resource_description::ResourceDescription;
use std::time::Duration;

pub mod env;

use crate::config::{ConfigError, Env};
use crate::jwks::{JwksCache, JwksConfig};
use crate::protection::ProtectedResource;
use crate::providers::AuthProvider;
use crate::types::{EnvironmentUrl, McpUrl};
use crate::verify::{
    DEFAULT_LEEWAY, DEFAULT_VERIFIED_TOKEN_CACHE, JwtVerifier, SigningAlgorithm, VerifierSettings,
};
use env::SourceNames;

/// Protects an MCP server with Scalekit.
///
/// ```
/// use mcpgate_auth::ScalekitProvider;
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
    description: ResourceDescription,
    leeway: Duration,
    verified_token_cache: usize,
    jwks: JwksConfig,
    allow_insecure_http: bool,
    algorithms: Vec<SigningAlgorithm>,
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
            description: ResourceDescription::default(),
            leeway: DEFAULT_LEEWAY,
            verified_token_cache: DEFAULT_VERIFIED_TOKEN_CACHE,
            jwks: JwksConfig::default(),
            allow_insecure_http: false,
            algorithms: vec![SigningAlgorithm::Rs256],
            names: SourceNames::default(),
        }
    }

    /// Reads the provider from the process environment and `./.env` (process
    /// variables win), in Scalekit's or FastMCP's names (see [`env`](mod@env)). Fails,
    /// naming the variable, when none is set or one is malformed.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Env::from_process()?)?.ok_or_else(|| {
            ConfigError::new(
                "SCALEKIT_ENVIRONMENT_URL",
                "is not set; set SCALEKIT_ENVIRONMENT_URL, SCALEKIT_RESOURCE_ID and MCP_URL (or FASTMCP_SERVER_AUTH and its variables)",
            )
        })
    }

    crate::resource_description::setters!(description);

    /// The provider these variables describe, or `None` when no Scalekit or
    /// FastMCP auth variable is set at all.
    pub fn from_vars(vars: &Env) -> Result<Option<Self>, ConfigError> {
        env::provider_from(vars)
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

    /// Accepts an `http://` environment URL on a non-loopback host. Off by
    /// default: the signing keys and the authorization server's metadata
    /// would travel in plaintext, so anyone on the path could substitute
    /// their own keys and mint tokens this server accepts. Only for a trusted
    /// network (a private test cluster). Loopback (`http://127.0.0.1`,
    /// `http://localhost`, `http://[::1]`) is always accepted.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Accepted signature algorithms (default RS256, what Scalekit signs
    /// with). For a stand-in that signs otherwise, such as `mcpgate dev
    /// --signing-alg ES256`.
    pub fn algorithms<I: IntoIterator<Item = SigningAlgorithm>>(mut self, algorithms: I) -> Self {
        self.algorithms = algorithms.into_iter().collect();
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
        if !self.allow_insecure_http && !secure_or_loopback(&env) {
            return Err(ConfigError::new(
                &names.environment_url,
                format!(
                    "`{env}` uses plain http on a non-loopback host, so the signing keys would travel unprotected; use https://, or (trusted networks only) call ScalekitProvider::allow_insecure_http(true)"
                ),
            ));
        }
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
        self.description
            .check_scopes(&names.required_scopes, "scopes_supported")?;
        let resource_issuer = env.join(&format!("resources/{resource_id}"));
        let keys = JwksCache::new(env.join("keys"), self.jwks.clone());
        // Both issuer forms are one authorization server: a session opened with
        // one form survives a refreshed token in the other.
        let mut settings = VerifierSettings::new(
            [env.as_str().to_owned(), resource_issuer.clone()],
            [resource_id.to_owned(), mcp_url.as_str().to_owned()],
            self.algorithms.iter().copied(),
        )
        .issuer_alias(env.as_str(), resource_issuer.clone());
        settings.leeway = self.leeway;
        settings.verified_token_cache = self.verified_token_cache;
        "scalekit".clone_into(&mut settings.provider);
        let verifier = JwtVerifier::new(keys, settings)
            .map_err(|e| ConfigError::new("ScalekitProvider", e.to_string()))?;
        ProtectedResource::builder(mcp_url, verifier)
            .authorization_server(resource_issuer)
            .forward_authorization_server_metadata(env.join(&format!(
                ".well-known/oauth-authorization-server/resources/{resource_id}"
            )))
            .description(self.description)
            .build()
    }
}

/// `https`, or `http` to this machine (`mcpgate dev` serves its
/// authorization server on loopback without TLS).
fn secure_or_loopback(env: &EnvironmentUrl) -> bool {
    let Ok(url) = url::Url::parse(env.as_str()) else {
        return false;
    };
    if url.scheme() == "https" {
        return true;
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

impl AuthProvider for ScalekitProvider {
    fn build(self: Box<Self>) -> Result<ProtectedResource, ConfigError> {
        ScalekitProvider::build(*self)
    }
}
