//! Any OpenID Connect / OAuth 2 authorization server that signs JWT access
//! tokens: an issuer URL, its keys (by discovery or an explicit JWKS URL), an
//! audience list, an algorithm allow-list and where the scopes are. The
//! presets (Auth0, WorkOS AuthKit, Keycloak, Entra ID, Descope) are this
//! provider with the right values filled in.
//!
//! The strictness is the Scalekit path's: exact issuer, audience required,
//! `exp` required, `crit`/`jku`/`jwk`/`x5u`/`x5c` refused, asymmetric
//! algorithms only, keys matched to the algorithm.

use crate::resource_description::ResourceDescription;
use std::time::Duration;

use crate::config::ConfigError;
use crate::discovery;
use crate::jwks::{JwksCache, JwksConfig};
use crate::protection::ProtectedResource;
use crate::providers::AuthProvider;
use crate::types::McpUrl;
use crate::verify::{
    DEFAULT_LEEWAY, DEFAULT_SCOPE_CLAIMS, DEFAULT_VERIFIED_TOKEN_CACHE, JwtVerifier,
    SigningAlgorithm, VerifierSettings,
};

/// Protects an MCP server with tokens from any OpenID Connect issuer.
///
/// ```
/// use mcpgate_auth::providers::oidc::OidcProvider;
/// use mcpgate_auth::verify::SigningAlgorithm;
///
/// let resource = OidcProvider::new("https://id.example.com", "https://mcp.example.com/mcp")
///     .audiences(["api://mcp"])
///     .algorithms([SigningAlgorithm::Rs256, SigningAlgorithm::Es256])
///     .scope_claims(["scope", "permissions"])
///     .required_scopes(["mcp:tools"])
///     .build()
///     .expect("valid settings");
/// assert_eq!(resource.authorization_servers(), ["https://id.example.com"]);
/// ```
#[derive(Debug, Clone)]
pub struct OidcProvider {
    pub(crate) issuer: String,
    pub(crate) additional_issuers: Vec<String>,
    pub(crate) mcp_url: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) jwks_uri: Option<String>,
    pub(crate) metadata_url: Option<String>,
    pub(crate) algorithms: Vec<SigningAlgorithm>,
    pub(crate) scope_claims: Vec<String>,
    pub(crate) required_claims: Vec<String>,
    pub(crate) authorized_parties: Vec<String>,
    pub(crate) authorization_servers: Vec<String>,
    pub(crate) description: ResourceDescription,
    pub(crate) forward_metadata: bool,
    pub(crate) leeway: Duration,
    pub(crate) verified_token_cache: usize,
    pub(crate) jwks: JwksConfig,
    pub(crate) allow_insecure_http: bool,
    pub(crate) provider_name: String,
    pub(crate) names: FieldNames,
}

/// Where each setting came from (a builder field, a TOML key, an environment
/// variable), so a build error names what the user wrote.
#[derive(Debug, Clone)]
pub(crate) struct FieldNames {
    pub(crate) issuer: String,
    pub(crate) mcp_url: String,
    pub(crate) jwks_uri: String,
    pub(crate) metadata_url: String,
    pub(crate) required_scopes: String,
    pub(crate) scopes_supported: String,
    pub(crate) algorithms: String,
    pub(crate) scope_claims: String,
}

impl Default for FieldNames {
    fn default() -> Self {
        Self {
            issuer: "issuer".into(),
            mcp_url: "mcp_url".into(),
            jwks_uri: "jwks_uri".into(),
            metadata_url: "discovery_url".into(),
            required_scopes: "required_scopes".into(),
            scopes_supported: "scopes_supported".into(),
            algorithms: "algorithms".into(),
            scope_claims: "scope_claims".into(),
        }
    }
}

impl OidcProvider {
    /// A provider for tokens issued by `issuer` (the exact `iss` value) to the
    /// MCP endpoint served publicly at `mcp_url`. Defaults: keys through
    /// discovery, audience `mcp_url` (RFC 8707), RS256, scopes from `scope`,
    /// `scopes` and `scp`, `issuer` advertised as the authorization server.
    pub fn new(issuer: impl Into<String>, mcp_url: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            additional_issuers: Vec::new(),
            mcp_url: mcp_url.into(),
            audiences: Vec::new(),
            jwks_uri: None,
            metadata_url: None,
            algorithms: vec![SigningAlgorithm::Rs256],
            scope_claims: DEFAULT_SCOPE_CLAIMS.map(str::to_owned).to_vec(),
            required_claims: Vec::new(),
            authorized_parties: Vec::new(),
            authorization_servers: Vec::new(),
            description: ResourceDescription::default(),
            forward_metadata: false,
            leeway: DEFAULT_LEEWAY,
            verified_token_cache: DEFAULT_VERIFIED_TOKEN_CACHE,
            jwks: JwksConfig::default(),
            allow_insecure_http: false,
            provider_name: "oidc".to_owned(),
            names: FieldNames::default(),
        }
    }

    /// Accepted audiences; the token's `aud` must contain one (default: the MCP URL).
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences = audiences.into_iter().map(Into::into).collect();
        self
    }

    /// Fetch keys from this JWKS URL instead of discovering it.
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.jwks_uri = Some(url.into());
        self
    }

    /// Discover the JWKS URL from this metadata document only (instead of
    /// the issuer's standard locations); its `issuer` must still match.
    pub fn discovery_url(mut self, url: impl Into<String>) -> Self {
        self.metadata_url = Some(url.into());
        self
    }

    /// Accepted signature algorithms (default RS256).
    pub fn algorithms<I: IntoIterator<Item = SigningAlgorithm>>(mut self, algorithms: I) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Claims the granted scopes are read from (names, or `/`-pointers for
    /// nested claims such as `/realm_access/roles`); replaces the default
    /// `scope`, `scopes`, `scp`.
    pub fn scope_claims<I, S>(mut self, claims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scope_claims = claims.into_iter().map(Into::into).collect();
        self
    }

    /// Claims every token must carry (beyond `iss`, `sub`, `aud`, `exp`).
    pub fn required_claims<I, S>(mut self, claims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_claims = claims.into_iter().map(Into::into).collect();
        self
    }

    /// When set, `azp` must be one of these client ids.
    pub fn authorized_parties<I, S>(mut self, parties: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.authorized_parties = parties.into_iter().map(Into::into).collect();
        self
    }

    /// Another exact `iss` value of the same authorization server and keys
    /// (Entra ID's v1 and v2 issuers).
    pub fn additional_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.additional_issuers.push(issuer.into());
        self
    }

    /// The authorization servers advertised in the metadata (default: the issuer).
    pub fn authorization_servers<I, S>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.authorization_servers = servers.into_iter().map(Into::into).collect();
        self
    }

    crate::resource_description::setters!(description);

    /// Forward the issuer's RFC 8414 metadata at this server's
    /// `/.well-known/oauth-authorization-server` for clients that predate
    /// RFC 9728 (off by default).
    pub fn forward_authorization_server_metadata(mut self, forward: bool) -> Self {
        self.forward_metadata = forward;
        self
    }

    /// Clock-skew leeway for `exp`, `nbf` and `iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// How many verified tokens to remember (default 10,000; 0 disables).
    pub fn verified_token_cache(mut self, capacity: usize) -> Self {
        self.verified_token_cache = capacity;
        self
    }

    /// Tunes the JWKS cache (refetch interval, TTLs, timeouts, size caps).
    pub fn jwks_config(mut self, config: JwksConfig) -> Self {
        self.jwks = config;
        self
    }

    /// Accepts `http://` issuer, JWKS and discovery URLs on non-loopback
    /// hosts: keys would travel unprotected, so only for trusted networks.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The name [`AccessToken::provider`](crate::AccessToken::provider)
    /// reports (default `oidc`; the presets set their own).
    pub fn provider_name(mut self, name: impl Into<String>) -> Self {
        self.provider_name = name.into();
        self
    }

    pub(crate) fn named_sources(mut self, names: FieldNames) -> Self {
        self.names = names;
        self
    }

    /// The verifier alone (no metadata): what a resource trusting several
    /// issuers combines with [`ProtectedResourceBuilder::verifier`](crate::ProtectedResourceBuilder::verifier).
    pub fn verifier(&self) -> Result<JwtVerifier, ConfigError> {
        let names = &self.names;
        let issuer = self.issuer.trim();
        check_url(issuer, &names.issuer, self.allow_insecure_http)?;
        for extra in &self.additional_issuers {
            check_url(extra, &names.issuer, self.allow_insecure_http)?;
        }
        let mcp_url = self.parsed_mcp_url()?;
        let keys = match (&self.jwks_uri, &self.metadata_url) {
            (Some(uri), _) => {
                check_url(uri, &names.jwks_uri, self.allow_insecure_http)?;
                JwksCache::new(uri.trim(), self.jwks.clone())
            }
            (None, Some(meta)) => {
                check_url(meta, &names.metadata_url, self.allow_insecure_http)?;
                JwksCache::discover(vec![meta.trim().to_owned()], issuer, self.jwks.clone())
            }
            (None, None) => {
                JwksCache::discover(discovery::metadata_urls(issuer), issuer, self.jwks.clone())
            }
        };
        if self.algorithms.is_empty() {
            return Err(ConfigError::new(
                &names.algorithms,
                "is empty; name at least one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA",
            ));
        }
        if self.scope_claims.iter().any(|c| c.trim().is_empty()) {
            return Err(ConfigError::new(
                &names.scope_claims,
                "contains an empty claim name",
            ));
        }
        let audiences: Vec<String> = if self.audiences.iter().all(|a| a.trim().is_empty()) {
            vec![mcp_url.as_str().to_owned()]
        } else {
            self.audiences
                .iter()
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect()
        };
        let issuers = std::iter::once(issuer.to_owned())
            .chain(self.additional_issuers.iter().map(|i| i.trim().to_owned()));
        let mut settings = VerifierSettings::new(issuers, audiences, self.algorithms.clone());
        settings.leeway = self.leeway;
        settings.verified_token_cache = self.verified_token_cache;
        settings.scope_claims = self.scope_claims.clone();
        settings.required_claims = self.required_claims.clone();
        settings.authorized_parties = self.authorized_parties.clone();
        settings.provider = self.provider_name.clone();
        for extra in &self.additional_issuers {
            // One authorization server under several names: sessions survive
            // a token in the other form.
            settings = settings.issuer_alias(extra.trim(), issuer);
        }
        JwtVerifier::new(keys, settings).map_err(|e| ConfigError::new(&names.issuer, e.to_string()))
    }

    fn parsed_mcp_url(&self) -> Result<McpUrl, ConfigError> {
        McpUrl::parse(&self.mcp_url).map_err(|e| {
            ConfigError::new(
                &self.names.mcp_url,
                format!("{e}; expected the public URL of the MCP endpoint, e.g. https://mcp.example.com/mcp"),
            )
        })
    }

    /// Validates the settings and builds the protected-resource setup.
    pub fn build(self) -> Result<ProtectedResource, ConfigError> {
        let verifier = self.verifier()?;
        let mcp_url = self.parsed_mcp_url()?;
        let names = &self.names;
        self.description
            .check_scopes(&names.required_scopes, &names.scopes_supported)?;
        let servers = if self.authorization_servers.is_empty() {
            vec![self.issuer.trim().to_owned()]
        } else {
            self.authorization_servers.clone()
        };
        let mut builder = ProtectedResource::builder(mcp_url, verifier);
        for server in &servers {
            builder = builder.authorization_server(server);
        }
        if self.forward_metadata
            && let Some(url) = discovery::metadata_urls(self.issuer.trim()).pop()
        {
            builder = builder.forward_authorization_server_metadata(url);
        }
        builder.description(self.description).build()
    }
}

/// An absolute http(s) URL; plain http only on loopback unless allowed.
pub(crate) fn check_url(
    raw: &str,
    name: &str,
    allow_insecure_http: bool,
) -> Result<(), ConfigError> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| ConfigError::new(name, format!("`{raw}` is not a URL ({e})")))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http || is_loopback(&url) => Ok(()),
        "http" => Err(ConfigError::new(
            name,
            format!(
                "`{raw}` uses plain http on a non-loopback host, so the signing keys would travel unprotected; use https:// (or allow_insecure_http on a trusted network)"
            ),
        )),
        other => Err(ConfigError::new(
            name,
            format!("`{raw}` has scheme `{other}`; expected https://"),
        )),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

impl AuthProvider for OidcProvider {
    fn build(self: Box<Self>) -> Result<ProtectedResource, ConfigError> {
        OidcProvider::build(*self)
    }
}
