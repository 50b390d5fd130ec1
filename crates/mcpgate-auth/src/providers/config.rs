//! [`ProviderConfig`]: a provider described as data (a TOML table, JSON),
//! tagged by `provider`. Unknown keys are refused, so a misspelt setting is
//! an error rather than a silently weaker check.
//!
//! ```
//! use mcpgate_auth::providers::ProviderConfig;
//!
//! let config: ProviderConfig = serde_json::from_value(serde_json::json!({
//!     "provider": "auth0",
//!     "domain": "acme.us.auth0.com",
//!     "audience": "https://api.acme.example",
//!     "mcp_url": "https://mcp.acme.example/mcp",
//!     "required_scopes": ["read:docs"],
//! })).unwrap();
//! let resource = config.build(None).unwrap();
//! assert_eq!(resource.authorization_servers(), ["https://acme.us.auth0.com/"]);
//! ```

use serde::Deserialize;

use super::oidc::{FieldNames, OidcProvider};
use super::presets;
use super::scalekit::ScalekitProvider;
use crate::config::{ConfigError, Env};
use crate::introspection::{ClientAuthMethod, IntrospectionConfig};
use crate::protection::ProtectedResource;
use crate::types::McpUrl;
use crate::verify::{JwtVerifier, SigningAlgorithm};

/// One string or a list of strings (`audience = "a"` or `audience = ["a", "b"]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single value.
    One(String),
    /// Several values.
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// Settings every provider shares: where the MCP endpoint is and what the
/// metadata advertises.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceSettings {
    /// Public URL of the MCP endpoint; may instead be given to
    /// [`ProviderConfig::build`] (a gateway knows its own URL).
    pub mcp_url: Option<String>,
    /// Scopes every request must carry.
    pub required_scopes: Vec<String>,
    /// Scopes advertised in the metadata (default: the required scopes).
    pub scopes_supported: Option<Vec<String>>,
    /// `resource_name` in the metadata.
    pub resource_name: Option<String>,
    /// `resource_documentation` in the metadata.
    pub resource_documentation: Option<String>,
}

/// Token-checking settings the OIDC-based providers share; each provider
/// has its own defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSettings {
    /// Accepted algorithms (JOSE names).
    pub algorithms: Option<Vec<SigningAlgorithm>>,
    /// Claims scopes are read from (names or `/`-pointers).
    pub scope_claims: Option<Vec<String>>,
    /// Claims every token must carry.
    pub required_claims: Vec<String>,
    /// Clock-skew leeway in seconds (default 60).
    pub leeway_secs: Option<u64>,
    /// Accept plain-http URLs off loopback (trusted networks only).
    pub allow_insecure_http: bool,
}

/// Declares one provider's configuration struct: its own keys, then the
/// shared resource keys and (for OIDC-based providers) the token keys. Keys
/// are repeated per struct rather than flattened because serde cannot
/// refuse unknown keys through `flatten`.
macro_rules! provider_config {
    (
        $(#[$meta:meta])* $name:ident { $( $(#[$fmeta:meta])* $field:ident : $ty:ty, )* } token: false
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[non_exhaustive]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// Public URL of the MCP endpoint (or given to `build`).
            pub mcp_url: Option<String>,
            /// Scopes every request must carry.
            #[serde(default)]
            pub required_scopes: Vec<String>,
            /// Scopes advertised in the metadata (default: the required scopes).
            pub scopes_supported: Option<Vec<String>>,
            /// `resource_name` in the metadata.
            pub resource_name: Option<String>,
            /// `resource_documentation` in the metadata.
            pub resource_documentation: Option<String>,
        }
        provider_config!(@resource $name);
    };
    (
        $(#[$meta:meta])* $name:ident { $( $(#[$fmeta:meta])* $field:ident : $ty:ty, )* } token: true
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[non_exhaustive]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// Public URL of the MCP endpoint (or given to `build`).
            pub mcp_url: Option<String>,
            /// Scopes every request must carry.
            #[serde(default)]
            pub required_scopes: Vec<String>,
            /// Scopes advertised in the metadata (default: the required scopes).
            pub scopes_supported: Option<Vec<String>>,
            /// `resource_name` in the metadata.
            pub resource_name: Option<String>,
            /// `resource_documentation` in the metadata.
            pub resource_documentation: Option<String>,
            /// Accepted algorithms (JOSE names, e.g. `["RS256", "ES256"]`).
            pub algorithms: Option<Vec<SigningAlgorithm>>,
            /// Claims scopes are read from (names or `/`-pointers).
            pub scope_claims: Option<Vec<String>>,
            /// Claims every token must carry.
            #[serde(default)]
            pub required_claims: Vec<String>,
            /// Clock-skew leeway in seconds (default 60).
            pub leeway_secs: Option<u64>,
            /// Accept plain-http URLs off loopback (trusted networks only).
            #[serde(default)]
            pub allow_insecure_http: bool,
            /// Opaque tokens (anything not a JWT) checked by RFC 7662
            /// introspection, next to this provider's JWTs.
            pub introspection: Option<IntrospectionConfig>,
        }
        provider_config!(@resource $name);
        impl $name {
            /// The token-checking settings.
            pub fn token(&self) -> TokenSettings {
                TokenSettings {
                    algorithms: self.algorithms.clone(),
                    scope_claims: self.scope_claims.clone(),
                    required_claims: self.required_claims.clone(),
                    leeway_secs: self.leeway_secs,
                    allow_insecure_http: self.allow_insecure_http,
                }
            }
        }
    };
    (@resource $name:ident) => {
        impl $name {
            /// The shared resource settings.
            pub fn resource(&self) -> ResourceSettings {
                ResourceSettings {
                    mcp_url: self.mcp_url.clone(),
                    required_scopes: self.required_scopes.clone(),
                    scopes_supported: self.scopes_supported.clone(),
                    resource_name: self.resource_name.clone(),
                    resource_documentation: self.resource_documentation.clone(),
                }
            }
        }
    };
}

provider_config! {
    /// `provider = "scalekit"` (see [`ScalekitProvider`]).
    ScalekitConfig {
        /// `https://{env}.scalekit.com`.
        environment_url: String,
        /// The MCP server's resource id (`res_…`).
        resource_id: String,
        /// Opaque tokens checked by RFC 7662 introspection, next to
        /// Scalekit's JWTs.
        introspection: Option<IntrospectionConfig>,
    } token: false
}

provider_config! {
    /// `provider = "introspection"`: every token checked by RFC 7662
    /// introspection, no JWT verification (see [`IntrospectionConfig`] for
    /// the keys; the client secret is read from the variable
    /// `client_secret_env` names).
    IntrospectionProviderConfig {
        /// The introspection endpoint URL.
        endpoint: String,
        /// The authorization server's issuer identifier (advertised in the
        /// metadata; an `iss` in an answer must equal it).
        issuer: String,
        /// The resource server's client id at the authorization server.
        client_id: String,
        /// The name of the environment variable that holds the client secret.
        client_secret_env: String,
        /// `client_secret_basic` (default) or `client_secret_post`.
        #[serde(default)]
        client_auth: ClientAuthMethod,
        /// Accepted audiences; empty means the MCP URL.
        #[serde(default)]
        audiences: Vec<String>,
        /// Refuse answers without `aud`.
        #[serde(default)]
        require_audience: bool,
        /// Longest reuse of a positive answer, in seconds.
        cache_ttl_secs: Option<u64>,
        /// Reuse of a refusal, in seconds (0 turns it off).
        negative_cache_ttl_secs: Option<u64>,
        /// Whole-request timeout, in seconds (at least 1).
        timeout_secs: Option<u64>,
        /// Accept a plain-http endpoint off loopback (trusted networks only).
        #[serde(default)]
        allow_insecure_http: bool,
    } token: false
}

impl IntrospectionProviderConfig {
    /// The introspection settings alone.
    pub fn introspection(&self) -> IntrospectionConfig {
        IntrospectionConfig {
            endpoint: self.endpoint.clone(),
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            client_secret_env: self.client_secret_env.clone(),
            client_auth: self.client_auth,
            audiences: self.audiences.clone(),
            require_audience: self.require_audience,
            cache_ttl_secs: self.cache_ttl_secs,
            negative_cache_ttl_secs: self.negative_cache_ttl_secs,
            timeout_secs: self.timeout_secs,
            allow_insecure_http: self.allow_insecure_http,
        }
    }
}

provider_config! {
    /// `provider = "oidc"` (see [`OidcProvider`]).
    OidcConfig {
        /// The exact `iss` value.
        issuer: String,
        /// Explicit JWKS URL (default: discovered from the issuer).
        jwks_uri: Option<String>,
        /// Explicit metadata URL for discovery.
        discovery_url: Option<String>,
        /// Accepted audiences (default: the MCP URL).
        audience: Option<OneOrMany>,
        /// When set, `azp` must be one of these.
        #[serde(default)]
        authorized_parties: Vec<String>,
        /// Other `iss` values of the same server and keys.
        #[serde(default)]
        additional_issuers: Vec<String>,
        /// Advertised authorization servers (default: the issuer).
        authorization_servers: Option<Vec<String>>,
    } token: true
}

provider_config! {
    /// `provider = "auth0"` (see [`presets::auth0`]).
    Auth0Config {
        /// Tenant or custom domain.
        domain: String,
        /// The API identifier.
        audience: String,
    } token: true
}

provider_config! {
    /// `provider = "workos"` (see [`presets::workos`]).
    WorkosConfig {
        /// `https://{subdomain}.authkit.app`.
        authkit_domain: String,
        /// Accepted audiences (default: the MCP URL).
        audience: Option<OneOrMany>,
    } token: true
}

provider_config! {
    /// `provider = "keycloak"` (see [`presets::keycloak`]).
    KeycloakConfig {
        /// Server URL including any context path.
        base_url: String,
        /// Realm name.
        realm: String,
        /// Expected `aud`.
        audience: String,
        /// Client whose roles count and which must be `azp`.
        client_id: Option<String>,
    } token: true
}

provider_config! {
    /// `provider = "entra"` (see [`presets::entra`]).
    EntraConfig {
        /// Directory (tenant) id.
        tenant_id: String,
        /// Application (client) id.
        client_id: String,
        /// Application ID URI (default `api://{client_id}`).
        identifier_uri: Option<String>,
        /// Authority host (default `https://login.microsoftonline.com`).
        login_host: Option<String>,
        /// v1 issuer host (default `https://sts.windows.net`).
        sts_host: Option<String>,
    } token: true
}

provider_config! {
    /// `provider = "descope"` (see [`presets::descope`]).
    DescopeConfig {
        /// Project id (`P2…`).
        project_id: String,
        /// API base (default `https://api.descope.com`).
        descope_base_url: Option<String>,
        /// An agentic app's OpenID configuration URL, instead of the project issuer.
        config_url: Option<String>,
    } token: true
}

/// `provider = "multi"`: several providers for one resource (users from one
/// issuer, machine clients from another); see [`ProviderConfig::build_all`].
/// In TOML: `[auth] provider = "multi"` and one `[[auth.providers]]` table
/// per provider.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MultiConfig {
    /// The providers; the first sets the metadata (name, scopes).
    pub providers: Vec<ProviderConfig>,
}

/// A provider as data, tagged by `provider`. Build it with
/// [`build`](Self::build); errors name the key at fault (prefix them with
/// your table's name with [`ConfigError::within`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
#[non_exhaustive]
pub enum ProviderConfig {
    /// Scalekit.
    Scalekit(ScalekitConfig),
    /// Any OpenID Connect issuer.
    Oidc(OidcConfig),
    /// Auth0.
    Auth0(Auth0Config),
    /// WorkOS AuthKit.
    Workos(WorkosConfig),
    /// Keycloak.
    Keycloak(KeycloakConfig),
    /// Microsoft Entra ID.
    Entra(EntraConfig),
    /// Descope.
    Descope(DescopeConfig),
    /// RFC 7662 introspection only (opaque tokens; no JWT verification).
    Introspection(IntrospectionProviderConfig),
    /// Several providers at once; a token's issuer selects the verifier.
    Multi(MultiConfig),
}

impl ProviderConfig {
    /// The provider's name as written in `provider`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Scalekit(_) => "scalekit",
            Self::Oidc(_) => "oidc",
            Self::Auth0(_) => "auth0",
            Self::Workos(_) => "workos",
            Self::Keycloak(_) => "keycloak",
            Self::Entra(_) => "entra",
            Self::Descope(_) => "descope",
            Self::Introspection(_) => "introspection",
            Self::Multi(_) => "multi",
        }
    }

    fn resource_settings(&self) -> ResourceSettings {
        match self {
            Self::Scalekit(c) => c.resource(),
            Self::Oidc(c) => c.resource(),
            Self::Auth0(c) => c.resource(),
            Self::Workos(c) => c.resource(),
            Self::Keycloak(c) => c.resource(),
            Self::Entra(c) => c.resource(),
            Self::Descope(c) => c.resource(),
            Self::Introspection(c) => c.resource(),
            // Each provider in the list has its own.
            Self::Multi(_) => ResourceSettings::default(),
        }
    }

    /// Whether building reads a client secret from the environment.
    fn needs_env(&self) -> bool {
        match self {
            Self::Introspection(_) => true,
            Self::Multi(c) => c.providers.iter().any(Self::needs_env),
            _ => self.extra_introspection().is_some(),
        }
    }

    /// The `introspection` table next to a JWT provider, if any.
    fn extra_introspection(&self) -> Option<&IntrospectionConfig> {
        match self {
            Self::Scalekit(c) => c.introspection.as_ref(),
            Self::Oidc(c) => c.introspection.as_ref(),
            Self::Auth0(c) => c.introspection.as_ref(),
            Self::Workos(c) => c.introspection.as_ref(),
            Self::Keycloak(c) => c.introspection.as_ref(),
            Self::Entra(c) => c.introspection.as_ref(),
            Self::Descope(c) => c.introspection.as_ref(),
            Self::Introspection(_) | Self::Multi(_) => None,
        }
    }

    fn mcp_url(&self, default_mcp_url: Option<&str>) -> Result<String, ConfigError> {
        self.resource_settings()
            .mcp_url
            .as_deref()
            .or(default_mcp_url)
            .map(str::to_owned)
            .ok_or_else(|| {
                ConfigError::new(
                    "mcp_url",
                    "is not set; set it to the public URL of the MCP endpoint, e.g. https://mcp.example.com/mcp",
                )
            })
    }

    /// The OIDC provider this configuration describes (`None` for Scalekit,
    /// which has its own provider type, and for introspection, which has no
    /// JWT verifier). An `introspection` table is not part of it (see
    /// [`build_with_env`](Self::build_with_env)).
    pub fn oidc_provider(
        &self,
        default_mcp_url: Option<&str>,
    ) -> Result<Option<OidcProvider>, ConfigError> {
        let mcp_url = self.mcp_url(default_mcp_url)?;
        self.check_identifiers()?;
        let (provider, token) = match self {
            Self::Scalekit(_) | Self::Introspection(_) | Self::Multi(_) => return Ok(None),
            Self::Oidc(c) => {
                let mut p = OidcProvider::new(&c.issuer, mcp_url)
                    .authorized_parties(c.authorized_parties.clone());
                if let Some(uri) = &c.jwks_uri {
                    p = p.jwks_uri(uri);
                }
                if let Some(url) = &c.discovery_url {
                    p = p.discovery_url(url);
                }
                if let Some(audience) = &c.audience {
                    p = p.audiences(audience.clone().into_vec());
                }
                for extra in &c.additional_issuers {
                    p = p.additional_issuer(extra);
                }
                if let Some(servers) = &c.authorization_servers {
                    p = p.authorization_servers(servers.clone());
                }
                (p, c.token())
            }
            Self::Auth0(c) => (presets::auth0(&c.domain, &c.audience, mcp_url), c.token()),
            Self::Workos(c) => {
                let mut p = presets::workos(&c.authkit_domain, mcp_url);
                if let Some(audience) = &c.audience {
                    p = p.audiences(audience.clone().into_vec());
                }
                (p, c.token())
            }
            Self::Keycloak(c) => (
                presets::keycloak(
                    &c.base_url,
                    &c.realm,
                    &c.audience,
                    c.client_id.as_deref(),
                    mcp_url,
                ),
                c.token(),
            ),
            Self::Entra(c) => (
                presets::entra_at(
                    c.login_host
                        .as_deref()
                        .unwrap_or("https://login.microsoftonline.com"),
                    c.sts_host.as_deref().unwrap_or("https://sts.windows.net"),
                    &c.tenant_id,
                    &c.client_id,
                    c.identifier_uri.as_deref(),
                    mcp_url,
                ),
                c.token(),
            ),
            Self::Descope(c) => {
                let p = match &c.config_url {
                    Some(url) => presets::descope_config_url(url, &c.project_id, mcp_url),
                    None => presets::descope(&c.project_id, c.descope_base_url.as_deref(), mcp_url),
                };
                (p, c.token())
            }
        };
        Ok(Some(
            apply(provider, self.resource_settings(), token).named_sources(self.field_names()),
        ))
    }

    /// Ids that become URL path segments or exact claim values must be
    /// plain: empty or odd ones would otherwise surface as a confusing URL
    /// error (or a check that never matches) under another key.
    fn check_identifiers(&self) -> Result<(), ConfigError> {
        // (key, value, whether it becomes a URL path segment)
        let ids: Vec<(&str, &str, bool)> = match self {
            Self::Auth0(c) => vec![("audience", &c.audience, false)],
            Self::Keycloak(c) => vec![("realm", &c.realm, true), ("audience", &c.audience, false)],
            Self::Entra(c) => vec![
                ("tenant_id", &c.tenant_id, true),
                ("client_id", &c.client_id, true),
            ],
            Self::Descope(c) => vec![("project_id", &c.project_id, true)],
            _ => Vec::new(),
        };
        for (key, value, segment) in ids {
            check_identifier(key, value, segment)?;
        }
        Ok(())
    }

    /// Which key each derived setting is reported under.
    fn field_names(&self) -> FieldNames {
        let issuer_key = match self {
            Self::Scalekit(_) => "environment_url",
            Self::Introspection(_) => "endpoint",
            Self::Multi(_) => "providers",
            Self::Oidc(_) => "issuer",
            Self::Auth0(_) => "domain",
            Self::Workos(_) => "authkit_domain",
            Self::Keycloak(_) => "base_url",
            Self::Entra(_) => "login_host",
            Self::Descope(c) if c.config_url.is_some() => "config_url",
            Self::Descope(_) => "descope_base_url",
        };
        let is_oidc = matches!(self, Self::Oidc(_));
        FieldNames {
            issuer: issuer_key.into(),
            jwks_uri: if is_oidc { "jwks_uri" } else { issuer_key }.into(),
            metadata_url: if is_oidc { "discovery_url" } else { issuer_key }.into(),
            ..FieldNames::default()
        }
    }

    /// The JWT verifier alone, for a resource that trusts several
    /// providers (see [`ProviderConfig::build_all`]). Introspection has none:
    /// that is an error naming `provider`.
    pub fn verifier(&self, default_mcp_url: Option<&str>) -> Result<JwtVerifier, ConfigError> {
        if let Some(p) = self.oidc_provider(default_mcp_url)? {
            return p.verifier();
        }
        match self {
            Self::Scalekit(_) => self
                .build_jwt(default_mcp_url)?
                .jwt_verifier()
                .cloned()
                .ok_or_else(|| ConfigError::new("provider", "scalekit built no JWT verifier")),
            _ => Err(ConfigError::new(
                "provider",
                format!(
                    "`{}` verifies no JWTs, so it has no JWT verifier",
                    self.name()
                ),
            )),
        }
    }

    /// Builds the protected resource. `default_mcp_url` is used when the
    /// configuration has no `mcp_url`. An introspection client secret is
    /// read from the process environment (and `./.env`), and only when
    /// introspection is configured; [`build_with_env`](Self::build_with_env)
    /// takes the variables explicitly.
    pub fn build(&self, default_mcp_url: Option<&str>) -> Result<ProtectedResource, ConfigError> {
        let env = if self.needs_env() {
            Env::from_process()?
        } else {
            Env::default()
        };
        self.build_with_env(&env, default_mcp_url)
    }

    /// [`build`](Self::build) with the variables introspection client
    /// secrets are read from. Errors in an `introspection` table are named
    /// `introspection.<key>`.
    pub fn build_with_env(
        &self,
        env: &Env,
        default_mcp_url: Option<&str>,
    ) -> Result<ProtectedResource, ConfigError> {
        if let Self::Multi(c) = self {
            if c.providers.is_empty() {
                return Err(ConfigError::new(
                    "providers",
                    "is empty; list at least one provider",
                ));
            }
            return Self::build_all_with_env(&c.providers, env, default_mcp_url)
                .map_err(|e| e.within("providers"));
        }
        if let Self::Introspection(c) = self {
            let mcp_url = McpUrl::parse(&self.mcp_url(default_mcp_url)?)
                .map_err(|e| ConfigError::new("mcp_url", e.to_string()))?;
            let verifier = c.introspection().build(env, &mcp_url, "")?;
            let mut builder = ProtectedResource::opaque_builder(mcp_url, verifier)
                .required_scopes(c.required_scopes.clone());
            if let Some(supported) = &c.scopes_supported {
                builder = builder.scopes_supported(supported.clone());
            }
            if let Some(name) = &c.resource_name {
                builder = builder.resource_name(name);
            }
            if let Some(docs) = &c.resource_documentation {
                builder = builder.resource_documentation(docs);
            }
            return builder.build();
        }
        let resource = self.build_jwt(default_mcp_url)?;
        let Some(introspection) = self.extra_introspection() else {
            return Ok(resource);
        };
        let verifier = introspection.build(env, resource.resource(), "introspection")?;
        let issuer = verifier.issuer().to_owned();
        resource
            .to_builder()
            .opaque_verifier(verifier)
            .authorization_server(issuer)
            .build()
    }

    /// The JWT provider's resource, without any `introspection` table.
    fn build_jwt(&self, default_mcp_url: Option<&str>) -> Result<ProtectedResource, ConfigError> {
        if let Some(p) = self.oidc_provider(default_mcp_url)? {
            return p.build();
        }
        let Self::Scalekit(c) = self else {
            return Err(ConfigError::new(
                "provider",
                format!("`{}` verifies no JWTs", self.name()),
            ));
        };
        let mut p = ScalekitProvider::new(
            &c.environment_url,
            &c.resource_id,
            self.mcp_url(default_mcp_url)?,
        )
        .required_scopes(c.required_scopes.clone());
        if let Some(supported) = &c.scopes_supported {
            p = p.scopes_supported(supported.clone());
        }
        if let Some(name) = &c.resource_name {
            p = p.resource_name(name);
        }
        if let Some(docs) = &c.resource_documentation {
            p = p.resource_documentation(docs);
        }
        p.build()
    }

    /// One resource trusting every provider in `configs` (users from one,
    /// machine clients from another): the first sets the metadata (name,
    /// scopes); every provider's authorization servers are advertised, and a
    /// token's issuer selects its verifier. Errors are prefixed with the
    /// provider's index, e.g. `[1].issuer`.
    pub fn build_all(
        configs: &[ProviderConfig],
        default_mcp_url: Option<&str>,
    ) -> Result<ProtectedResource, ConfigError> {
        let env = if configs.iter().any(Self::needs_env) {
            Env::from_process()?
        } else {
            Env::default()
        };
        Self::build_all_with_env(configs, &env, default_mcp_url)
    }

    /// [`build_all`](Self::build_all) with the variables introspection
    /// client secrets are read from.
    pub fn build_all_with_env(
        configs: &[ProviderConfig],
        env: &Env,
        default_mcp_url: Option<&str>,
    ) -> Result<ProtectedResource, ConfigError> {
        let Some((first, rest)) = configs.split_first() else {
            return Err(ConfigError::new(
                "providers",
                "is empty; configure at least one provider",
            ));
        };
        let at = |i: usize| move |e: ConfigError| e.within(&format!("[{i}]"));
        let base = first.build_with_env(env, default_mcp_url).map_err(at(0))?;
        let mut has_opaque = base.opaque_verifier().is_some();
        let mut builder = base.to_builder();
        for (i, config) in rest.iter().enumerate() {
            let resource = config
                .build_with_env(env, default_mcp_url)
                .map_err(at(i + 1))?;
            for verifier in resource.jwt_verifiers() {
                builder = builder.verifier(verifier.clone());
            }
            if let Some(opaque) = resource.opaque_verifier() {
                // A token that is not a JWT carries no issuer to route by.
                if has_opaque {
                    return Err(ConfigError::new(
                        format!("[{}].introspection", i + 1),
                        "is a second opaque-token verifier; a resource can have only one (opaque tokens carry no issuer to choose by)",
                    ));
                }
                has_opaque = true;
                builder = builder.shared_opaque_verifier(opaque.clone());
            }
            for server in resource.authorization_servers() {
                builder = builder.authorization_server(server);
            }
        }
        builder.build()
    }
}

/// A non-empty value without whitespace; for a URL path segment, also
/// without `/`, `?` or `#`.
pub(crate) fn check_identifier(key: &str, value: &str, segment: bool) -> Result<(), ConfigError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ConfigError::new(key, "is empty"));
    }
    let odd = |c: char| c.is_whitespace() || (segment && matches!(c, '/' | '?' | '#'));
    if value.contains(odd) {
        let what = if segment {
            "whitespace, `/`, `?` or `#`"
        } else {
            "whitespace"
        };
        return Err(ConfigError::new(
            key,
            format!("`{value}` contains {what}; expected a plain id"),
        ));
    }
    Ok(())
}

/// Applies the shared settings over a provider's defaults.
fn apply(mut p: OidcProvider, resource: ResourceSettings, token: TokenSettings) -> OidcProvider {
    p = p.required_scopes(resource.required_scopes);
    if let Some(supported) = resource.scopes_supported {
        p = p.scopes_supported(supported);
    }
    if let Some(name) = resource.resource_name {
        p = p.resource_name(name);
    }
    if let Some(docs) = resource.resource_documentation {
        p = p.resource_documentation(docs);
    }
    if let Some(algorithms) = token.algorithms {
        p = p.algorithms(algorithms);
    }
    if let Some(claims) = token.scope_claims {
        p = p.scope_claims(claims);
    }
    if !token.required_claims.is_empty() {
        p = p.required_claims(token.required_claims);
    }
    if let Some(secs) = token.leeway_secs {
        p = p.leeway(std::time::Duration::from_secs(secs));
    }
    p.allow_insecure_http(token.allow_insecure_http)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: serde_json::Value) -> Result<ProviderConfig, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn the_tag_selects_the_provider_and_unknown_keys_are_refused() {
        let scalekit = parse(
            json!({"provider": "scalekit", "environment_url": "https://acme.scalekit.com",
            "resource_id": "res_1", "mcp_url": "https://mcp.example.com/mcp"}),
        )
        .unwrap();
        assert_eq!(scalekit.name(), "scalekit");
        assert!(scalekit.build(None).is_ok());
        let typo = parse(
            json!({"provider": "oidc", "issuer": "https://id.example.com", "audiences": ["x"]}),
        );
        assert!(typo.unwrap_err().contains("unknown field `audiences`"));
        let scalekit_algs = parse(
            json!({"provider": "scalekit", "environment_url": "https://a",
            "resource_id": "res_1", "algorithms": ["RS256"]}),
        );
        assert!(
            scalekit_algs.is_err(),
            "Scalekit has no algorithm setting to ignore"
        );
        let bad_alg = parse(
            json!({"provider": "oidc", "issuer": "https://id.example.com", "algorithms": ["HS256"]}),
        );
        assert!(
            bad_alg
                .unwrap_err()
                .contains("unsupported algorithm `HS256`")
        );
        assert!(parse(json!({"provider": "okta"})).is_err());
    }

    #[test]
    fn build_errors_name_the_key() {
        let c = parse(json!({"provider": "oidc", "issuer": "http://id.example.com"})).unwrap();
        let e = c.build(Some("https://mcp.example.com/mcp")).unwrap_err();
        assert_eq!(e.source_name, "issuer");
        assert_eq!(e.within("auth").source_name, "auth.issuer");
        let e = c.build(None).unwrap_err();
        assert_eq!(e.source_name, "mcp_url");
        let auth0 =
            parse(json!({"provider": "auth0", "domain": "http://tenant.example", "audience": "a"}))
                .unwrap();
        assert_eq!(
            auth0.build(Some("https://m/mcp")).unwrap_err().source_name,
            "domain"
        );
    }

    #[test]
    fn several_providers_make_one_resource_listing_every_server() {
        let users = parse(
            json!({"provider": "auth0", "domain": "acme.us.auth0.com", "audience": "https://api"}),
        )
        .unwrap();
        let machines =
            parse(json!({"provider": "entra", "tenant_id": "t", "client_id": "c"})).unwrap();
        let resource = ProviderConfig::build_all(
            &[users.clone(), machines],
            Some("https://mcp.example.com/mcp"),
        )
        .unwrap();
        assert_eq!(
            resource.authorization_servers(),
            [
                "https://acme.us.auth0.com/",
                "https://login.microsoftonline.com/t/v2.0"
            ]
        );
        assert_eq!(resource.jwt_verifiers().len(), 2);
        let twice =
            ProviderConfig::build_all(&[users.clone(), users], Some("https://mcp.example.com/mcp"));
        assert_eq!(twice.unwrap_err().source_name, "verifiers");
    }

    fn introspection_table() -> serde_json::Value {
        json!({"endpoint": "https://id.example.com/introspect", "issuer": "https://id.example.com",
            "client_id": "rs_1", "client_secret_env": "RS_SECRET"})
    }

    #[test]
    fn introspection_alone_makes_an_opaque_only_resource() {
        let mut doc = introspection_table();
        doc["provider"] = json!("introspection");
        doc["required_scopes"] = json!(["mcp:tools"]);
        let c = parse(doc).unwrap();
        assert_eq!(c.name(), "introspection");
        let env = Env::from_pairs([("RS_SECRET", "s3cret")]);
        let resource = c
            .build_with_env(&env, Some("https://mcp.example.com/mcp"))
            .unwrap();
        assert!(resource.jwt_verifiers().is_empty());
        assert!(resource.opaque_verifier().is_some());
        assert_eq!(resource.authorization_servers(), ["https://id.example.com"]);
        assert_eq!(resource.required_scopes().to_string(), "mcp:tools");
        let missing = c
            .build_with_env(&Env::default(), Some("https://mcp.example.com/mcp"))
            .unwrap_err();
        assert_eq!(missing.source_name, "RS_SECRET");
        assert_eq!(
            c.verifier(Some("https://mcp.example.com/mcp"))
                .unwrap_err()
                .source_name,
            "provider"
        );
        let mut typo = introspection_table();
        typo["provider"] = json!("introspection");
        typo["client_secret"] = json!("in clear");
        assert!(
            parse(typo)
                .unwrap_err()
                .contains("unknown field `client_secret`")
        );
    }

    #[test]
    fn an_introspection_table_adds_opaque_tokens_to_a_jwt_provider() {
        let c = parse(json!({"provider": "auth0", "domain": "acme.us.auth0.com",
            "audience": "https://api", "introspection": introspection_table()}))
        .unwrap();
        let env = Env::from_pairs([("RS_SECRET", "s3cret")]);
        let resource = c
            .build_with_env(&env, Some("https://mcp.example.com/mcp"))
            .unwrap();
        assert_eq!(resource.jwt_verifiers().len(), 1);
        assert!(resource.opaque_verifier().is_some());
        assert_eq!(
            resource.authorization_servers(),
            ["https://acme.us.auth0.com/", "https://id.example.com"]
        );
        let mut bad = introspection_table();
        bad["endpoint"] = json!("http://id.example.com/introspect");
        let c = parse(
            json!({"provider": "scalekit", "environment_url": "https://acme.scalekit.com",
            "resource_id": "res_1", "introspection": bad}),
        )
        .unwrap();
        let err = c
            .build_with_env(&env, Some("https://mcp.example.com/mcp"))
            .unwrap_err();
        assert_eq!(
            err.within("auth").source_name,
            "auth.introspection.endpoint"
        );
    }

    #[test]
    fn several_providers_may_have_one_opaque_verifier_only() {
        let mut opaque = introspection_table();
        opaque["provider"] = json!("introspection");
        let opaque = parse(opaque).unwrap();
        let users = parse(
            json!({"provider": "auth0", "domain": "acme.us.auth0.com", "audience": "https://api"}),
        )
        .unwrap();
        let mcp = Some("https://mcp.example.com/mcp");
        let env = Env::from_pairs([("RS_SECRET", "s3cret")]);
        let resource =
            ProviderConfig::build_all_with_env(&[users, opaque.clone()], &env, mcp).unwrap();
        assert_eq!(resource.jwt_verifiers().len(), 1);
        assert!(resource.opaque_verifier().is_some());
        let twice =
            ProviderConfig::build_all_with_env(&[opaque.clone(), opaque], &env, mcp).unwrap_err();
        assert_eq!(twice.source_name, "[1].introspection");
    }

    #[test]
    fn multi_lists_several_providers_in_one_table() {
        let c = parse(json!({"provider": "multi", "providers": [
            {"provider": "auth0", "domain": "acme.us.auth0.com", "audience": "https://api"},
            {"provider": "entra", "tenant_id": "t", "client_id": "c"},
        ]}))
        .unwrap();
        assert_eq!(c.name(), "multi");
        let resource = c.build(Some("https://mcp.example.com/mcp")).unwrap();
        assert_eq!(resource.jwt_verifiers().len(), 2);
        assert_eq!(resource.authorization_servers().len(), 2);
        let bad = parse(json!({"provider": "multi", "providers": [
            {"provider": "auth0", "domain": "acme.us.auth0.com", "audience": "https://api"},
            {"provider": "oidc", "issuer": "http://id.example.com"},
        ]}))
        .unwrap();
        let err = bad.build(Some("https://mcp.example.com/mcp")).unwrap_err();
        assert_eq!(err.within("auth").source_name, "auth.providers[1].issuer");
        assert!(parse(json!({"provider": "multi", "provider_list": []})).is_err());
    }
}
