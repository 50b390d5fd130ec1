//! A validated protected-resource setup: what the HTTP layer needs to publish
//! metadata, challenge clients and verify tokens. Providers build it, through
//! [`ProtectedResource::builder`] like any provider outside this crate would.

use std::sync::Arc;

use http::HeaderMap;
use serde_json::{Value, json};

use crate::bearer::bearer_token;
use crate::claims::AccessToken;
use crate::config::ConfigError;
use crate::error::AuthError;
use crate::resource_description::ResourceDescription;
use crate::types::{BearerToken, McpUrl, ScopeSet};
use crate::verifier_set::{OpaqueTokenVerifier, VerifierSet, VerifierSetError};
use crate::verify::JwtVerifier;

/// Everything needed to protect one MCP endpoint with bearer tokens.
#[derive(Debug, Clone)]
pub struct ProtectedResource {
    pub(crate) resource: McpUrl,
    pub(crate) authorization_servers: Vec<String>,
    pub(crate) scopes_supported: ScopeSet,
    pub(crate) required_scopes: ScopeSet,
    pub(crate) resource_name: Option<String>,
    pub(crate) resource_documentation: Option<String>,
    pub(crate) verifiers: VerifierSet,
    /// Where the authorization server's RFC 8414 metadata lives, for the
    /// `/.well-known/oauth-authorization-server` forwarder older clients use.
    pub(crate) upstream_metadata_url: Option<String>,
}

impl ProtectedResource {
    /// Starts a protected resource at `resource` (the canonical MCP URL, the
    /// RFC 9728 `resource` and an accepted audience is up to the verifier)
    /// whose tokens `verifier` checks. This is how a provider written outside
    /// this crate builds one.
    ///
    /// ```
    /// use mcpgate_auth::{McpUrl, ProtectedResource};
    /// use mcpgate_auth::jwks::{JwksCache, JwksConfig};
    /// use mcpgate_auth::verify::{JwtVerifier, SigningAlgorithm, VerifierSettings};
    ///
    /// let keys = JwksCache::new("https://id.example.com/keys", JwksConfig::default());
    /// let verifier = JwtVerifier::new(keys, VerifierSettings::new(
    ///     ["https://id.example.com"],
    ///     ["https://mcp.example.com/mcp"],
    ///     [SigningAlgorithm::Rs256],
    /// )).unwrap();
    /// let resource = ProtectedResource::builder(McpUrl::parse("https://mcp.example.com/mcp").unwrap(), verifier)
    ///     .authorization_server("https://id.example.com")
    ///     .required_scopes(["mcp:tools"])
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(resource.metadata_document()["authorization_servers"][0], "https://id.example.com");
    /// ```
    pub fn builder(resource: McpUrl, verifier: JwtVerifier) -> ProtectedResourceBuilder {
        ProtectedResourceBuilder::empty(resource).verifier(verifier)
    }

    /// Starts a protected resource whose tokens are all checked by `opaque`
    /// (for example RFC 7662 introspection), with no JWT verifier: for an
    /// authorization server that issues opaque tokens, or to have every
    /// token (JWTs too) checked by the server so revocation takes effect.
    /// The verifier's issuer, when it knows one, is advertised in
    /// `authorization_servers`.
    ///
    /// ```
    /// use mcpgate_auth::introspection::{ClientSecret, IntrospectionSettings, IntrospectionVerifier};
    /// use mcpgate_auth::{McpUrl, ProtectedResource};
    ///
    /// let mcp_url = "https://mcp.example.com/mcp";
    /// let introspection = IntrospectionVerifier::new(IntrospectionSettings::new(
    ///     "https://id.example.com/oauth2/introspect",
    ///     "https://id.example.com",
    ///     "mcp-server",
    ///     ClientSecret::new("from-your-vault".to_owned()),
    ///     [mcp_url],
    /// ))?;
    /// let resource = ProtectedResource::opaque_builder(McpUrl::parse(mcp_url)?, introspection)
    ///     .required_scopes(["mcp:tools"])
    ///     .build()?;
    /// assert_eq!(resource.authorization_servers(), ["https://id.example.com"]);
    /// assert!(resource.jwt_verifiers().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn opaque_builder(
        resource: McpUrl,
        opaque: impl OpaqueTokenVerifier,
    ) -> ProtectedResourceBuilder {
        let issuer = opaque.issuer().map(str::to_owned);
        let builder = ProtectedResourceBuilder::empty(resource).opaque_verifier(opaque);
        match issuer {
            Some(issuer) => builder.authorization_server(issuer),
            None => builder,
        }
    }

    /// The canonical MCP URL (the RFC 9728 `resource`).
    pub fn resource(&self) -> &McpUrl {
        &self.resource
    }

    /// Scopes every request must carry.
    pub fn required_scopes(&self) -> &ScopeSet {
        &self.required_scopes
    }

    /// The authorization servers published in the metadata.
    pub fn authorization_servers(&self) -> &[String] {
        &self.authorization_servers
    }

    /// Where the authorization server's RFC 8414 metadata is fetched from for
    /// `/.well-known/oauth-authorization-server`, if forwarded.
    pub fn upstream_metadata_url(&self) -> Option<&str> {
        self.upstream_metadata_url.as_deref()
    }

    /// The first JWT verifier (the only one unless the resource trusts
    /// several issuers; see [`jwt_verifiers`](Self::jwt_verifiers)), or
    /// `None` for a resource that checks every token with its opaque-token
    /// verifier (one made with [`opaque_builder`](Self::opaque_builder)).
    pub fn jwt_verifier(&self) -> Option<&JwtVerifier> {
        self.verifiers.primary()
    }

    /// The verifier for tokens that are not JWTs (every token, when there is
    /// no JWT verifier), if any.
    pub fn opaque_verifier(&self) -> Option<&Arc<dyn OpaqueTokenVerifier>> {
        self.verifiers.opaque()
    }

    /// Every JWT verifier, one per trusted authorization server.
    pub fn jwt_verifiers(&self) -> &[JwtVerifier] {
        self.verifiers.jwt()
    }

    /// Fetches every JWT verifier's keys now (if not fetched yet), so the
    /// first client does not pay for the fetch. Nothing to do for an opaque
    /// verifier: it asks per token.
    pub async fn prefetch_keys(&self) {
        futures::future::join_all(self.verifiers.jwt().iter().map(|v| v.keys().prefetch())).await;
    }

    /// Verifies a bearer token with the verifier its issuer selects (or the
    /// opaque-token verifier for a token that is not a JWT), without the
    /// server-wide scope check.
    pub async fn verify(&self, token: &BearerToken) -> Result<Arc<AccessToken>, AuthError> {
        self.verifiers.verify(token).await
    }

    /// Authenticates one request from its headers: bearer token, signature and
    /// claims, then the server-wide required scopes.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<AccessToken>, AuthError> {
        let token = bearer_token(headers, self.verifiers.max_token_bytes())?;
        let access = self.verifiers.verify(&token).await?;
        if !access.scopes().contains_all(&self.required_scopes) {
            // Ask for what the token has plus what is missing, so a step-up
            // does not cost the client the permissions it already holds.
            let mut required = access.scopes().clone();
            required.extend(&self.required_scopes);
            return Err(AuthError::InsufficientScope { required });
        }
        Ok(access)
    }

    /// A builder holding everything this resource has, to extend it (more
    /// verifiers, another authorization server).
    pub(crate) fn to_builder(&self) -> ProtectedResourceBuilder {
        ProtectedResourceBuilder {
            resource: self.resource.clone(),
            jwt: self.verifiers.jwt().to_vec(),
            opaque: self.verifiers.opaque().cloned(),
            authorization_servers: self.authorization_servers.clone(),
            description: ResourceDescription {
                required_scopes: self.required_scopes.iter().map(str::to_owned).collect(),
                scopes_supported: Some(self.scopes_supported.iter().map(str::to_owned).collect()),
                name: self.resource_name.clone(),
                documentation: self.resource_documentation.clone(),
            },
            upstream_metadata_url: self.upstream_metadata_url.clone(),
        }
    }

    /// The RFC 9728 protected resource metadata document. Empty optional fields
    /// are omitted: some clients (VS Code) fail on `"scopes_supported": []`.
    pub fn metadata_document(&self) -> Value {
        let mut doc = json!({
            "resource": self.resource.as_str(),
            "authorization_servers": self.authorization_servers,
            "bearer_methods_supported": ["header"],
        });
        let obj = doc.as_object_mut().expect("literal object");
        if !self.scopes_supported.is_empty() {
            obj.insert("scopes_supported".into(), json!(self.scopes_supported));
        }
        if let Some(name) = &self.resource_name {
            obj.insert("resource_name".into(), json!(name));
        }
        if let Some(docs) = &self.resource_documentation {
            obj.insert("resource_documentation".into(), json!(docs));
        }
        doc
    }
}

/// Builds a [`ProtectedResource`]; every problem is reported by
/// [`build`](Self::build) as a [`ConfigError`] naming the field.
#[derive(Debug, Clone)]
#[must_use = "call .build() to get the ProtectedResource"]
pub struct ProtectedResourceBuilder {
    resource: McpUrl,
    jwt: Vec<JwtVerifier>,
    opaque: Option<Arc<dyn OpaqueTokenVerifier>>,
    authorization_servers: Vec<String>,
    description: ResourceDescription,
    upstream_metadata_url: Option<String>,
}

impl ProtectedResourceBuilder {
    crate::resource_description::setters!(description);

    /// Every description setting at once (the providers' builders).
    pub(crate) fn description(mut self, description: ResourceDescription) -> Self {
        self.description = description;
        self
    }

    fn empty(resource: McpUrl) -> Self {
        Self {
            resource,
            jwt: Vec::new(),
            opaque: None,
            authorization_servers: Vec::new(),
            description: ResourceDescription::default(),
            upstream_metadata_url: None,
        }
    }

    /// Trusts another issuer's tokens too (several authorization servers at
    /// once, e.g. users from one and machine clients from another). A token's
    /// `iss`, read before verification only to pick the verifier, selects
    /// the verifier; that one then checks everything. Two verifiers may not
    /// accept the same issuer. Add each server with
    /// [`authorization_server`](Self::authorization_server) as well.
    pub fn verifier(mut self, verifier: JwtVerifier) -> Self {
        self.jwt.push(verifier);
        self
    }

    /// Verifies tokens that are not JWTs (opaque tokens) with `verifier`,
    /// e.g. RFC 7662 introspection. Without one, such tokens are rejected as
    /// malformed. Setting it again replaces it.
    pub fn opaque_verifier(mut self, verifier: impl OpaqueTokenVerifier) -> Self {
        self.opaque = Some(Arc::new(verifier));
        self
    }

    /// [`opaque_verifier`](Self::opaque_verifier) with a verifier that is
    /// already shared.
    pub(crate) fn shared_opaque_verifier(mut self, verifier: Arc<dyn OpaqueTokenVerifier>) -> Self {
        self.opaque = Some(verifier);
        self
    }

    /// Adds an authorization server (its issuer URL) to the metadata's
    /// `authorization_servers`. At least one is required.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// Forwards this RFC 8414 document at `/.well-known/oauth-authorization-server`
    /// for clients that predate RFC 9728.
    pub fn forward_authorization_server_metadata(mut self, url: impl Into<String>) -> Self {
        self.upstream_metadata_url = Some(url.into());
        self
    }

    /// Validates the settings.
    pub fn build(self) -> Result<ProtectedResource, ConfigError> {
        if self.authorization_servers.is_empty() {
            return Err(ConfigError::new(
                "authorization_servers",
                "is empty; name at least one authorization server (its issuer URL)",
            ));
        }
        for server in &self.authorization_servers {
            match url::Url::parse(server) {
                Ok(u) if matches!(u.scheme(), "https" | "http") => {}
                _ => {
                    return Err(ConfigError::new(
                        "authorization_servers",
                        format!("`{server}` is not an http(s) URL"),
                    ));
                }
            }
        }
        let required_scopes = ScopeSet::parse(self.description.required_scopes)
            .map_err(|e| ConfigError::new("required_scopes", e.to_string()))?;
        let scopes_supported = match self.description.scopes_supported {
            Some(list) => ScopeSet::parse(list)
                .map_err(|e| ConfigError::new("scopes_supported", e.to_string()))?,
            None => required_scopes.clone(),
        };
        let verifiers = VerifierSet::new(self.jwt, self.opaque).map_err(|e| match e {
            VerifierSetError::DuplicateIssuer(issuer) => ConfigError::new(
                "verifiers",
                format!(
                    "two verifiers accept the issuer `{issuer}`; each issuer needs exactly one"
                ),
            ),
            VerifierSetError::Empty => ConfigError::new(
                "verifiers",
                "is empty; add a JWT verifier or an opaque-token verifier",
            ),
        })?;
        let mut servers: Vec<String> = Vec::new();
        for server in self.authorization_servers {
            if !servers.contains(&server) {
                servers.push(server);
            }
        }
        Ok(ProtectedResource {
            resource: self.resource,
            authorization_servers: servers,
            scopes_supported,
            required_scopes,
            resource_name: self.description.name,
            resource_documentation: self.description.documentation,
            verifiers,
            upstream_metadata_url: self.upstream_metadata_url,
        })
    }
}
