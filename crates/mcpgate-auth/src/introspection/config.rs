//! Introspection settings as they appear in a configuration file (the
//! gateway's TOML), with the client secret read from a named environment
//! variable so it is never written in the file in clear.

use std::time::Duration;

use crate::config::{ConfigError, Env};
use crate::types::McpUrl;

use super::{
    ClientAuthMethod, ClientSecret, IntrospectionSettings, IntrospectionVerifier,
    InvalidIntrospectionSettings,
};

/// RFC 7662 introspection in a configuration file:
///
/// ```toml
/// endpoint = "https://id.example.com/oauth2/introspect"
/// issuer = "https://id.example.com"
/// client_id = "mcp-gateway"
/// client_secret_env = "MCP_INTROSPECTION_SECRET"   # the variable holding the secret
/// client_auth = "client_secret_post"               # default "client_secret_basic"
/// audiences = ["https://mcp.example.com/mcp"]      # default: the MCP URL
/// require_audience = true                          # default false
/// cache_ttl_secs = 30                              # default 60
/// negative_cache_ttl_secs = 5                      # default 5
/// timeout_secs = 5                                 # default 5
/// allow_insecure_http = false                      # plain http off loopback
/// ```
///
/// Errors from [`settings`](Self::settings) name the key (prefixed with the
/// `key_prefix` given, e.g. `auth.introspection.endpoint`) or the environment
/// variable at fault.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct IntrospectionConfig {
    /// The introspection endpoint URL.
    pub endpoint: String,
    /// The authorization server's issuer identifier.
    pub issuer: String,
    /// The resource server's client id at the authorization server.
    pub client_id: String,
    /// The name of the environment variable that holds the client secret.
    pub client_secret_env: String,
    /// `client_secret_basic` (default) or `client_secret_post`.
    #[serde(default)]
    pub client_auth: ClientAuthMethod,
    /// Accepted audiences; empty means the MCP URL.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Refuse answers without `aud`.
    #[serde(default)]
    pub require_audience: bool,
    /// Longest reuse of a positive answer, in seconds.
    pub cache_ttl_secs: Option<u64>,
    /// Reuse of a refusal, in seconds (0 turns it off).
    pub negative_cache_ttl_secs: Option<u64>,
    /// Whole-request timeout, in seconds (at least 1).
    pub timeout_secs: Option<u64>,
    /// Accept a plain-http endpoint off loopback (trusted networks only).
    #[serde(default)]
    pub allow_insecure_http: bool,
}

impl IntrospectionConfig {
    /// The settings this configuration describes, for the MCP endpoint at
    /// `resource`, with the secret read from `env`. `key_prefix` (e.g.
    /// `auth.introspection`) is put in front of key names in errors.
    pub fn settings(
        &self,
        env: &Env,
        resource: &McpUrl,
        key_prefix: &str,
    ) -> Result<IntrospectionSettings, ConfigError> {
        let key = |name: &str| {
            if key_prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{key_prefix}.{name}")
            }
        };
        let var = self.client_secret_env.trim();
        if var.is_empty() {
            return Err(ConfigError::new(
                key("client_secret_env"),
                "is empty; name the environment variable that holds the client secret",
            ));
        }
        let secret = env.require(
            var,
            &format!(
                "it must hold the client secret for the introspection endpoint (named by `{}`)",
                key("client_secret_env")
            ),
        )?;
        let audiences = if self.audiences.is_empty() {
            vec![resource.as_str().to_owned()]
        } else {
            self.audiences.clone()
        };
        let mut settings = IntrospectionSettings::new(
            &self.endpoint,
            &self.issuer,
            &self.client_id,
            ClientSecret::new(secret),
            audiences,
        )
        .client_auth(self.client_auth)
        .require_audience(self.require_audience);
        settings.allow_insecure_http = self.allow_insecure_http;
        if let Some(secs) = self.cache_ttl_secs {
            settings.cache_ttl = Duration::from_secs(secs);
        }
        if let Some(secs) = self.negative_cache_ttl_secs {
            settings.negative_cache_ttl = Duration::from_secs(secs);
        }
        match self.timeout_secs {
            Some(0) => {
                return Err(ConfigError::new(
                    key("timeout_secs"),
                    "is 0; give the introspection request at least 1 second",
                ));
            }
            Some(secs) => settings.request_timeout = Duration::from_secs(secs),
            None => {}
        }
        Ok(settings)
    }

    /// Builds the verifier (see [`settings`](Self::settings)).
    pub fn build(
        &self,
        env: &Env,
        resource: &McpUrl,
        key_prefix: &str,
    ) -> Result<IntrospectionVerifier, ConfigError> {
        let settings = self.settings(env, resource, key_prefix)?;
        IntrospectionVerifier::new(settings).map_err(|e| {
            let name = match e {
                InvalidIntrospectionSettings::BadEndpoint(_)
                | InvalidIntrospectionSettings::InsecureEndpoint(_) => "endpoint",
                InvalidIntrospectionSettings::NoIssuer => "issuer",
                InvalidIntrospectionSettings::NoClientId => "client_id",
                InvalidIntrospectionSettings::NoClientSecret => {
                    return ConfigError::new(
                        self.client_secret_env.trim(),
                        "is empty; it must hold the client secret for the introspection endpoint",
                    );
                }
                InvalidIntrospectionSettings::NoAudience => "audiences",
                InvalidIntrospectionSettings::NoConcurrency => "max_concurrent_requests",
            };
            let name = if key_prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{key_prefix}.{name}")
            };
            ConfigError::new(name, e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(extra: serde_json::Value) -> Result<IntrospectionConfig, serde_json::Error> {
        let mut doc = json!({
            "endpoint": "https://as.example/introspect",
            "issuer": "https://as.example",
            "client_id": "rs_1",
            "client_secret_env": "INTROSPECTION_SECRET",
        });
        doc.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(doc)
    }

    fn resource() -> McpUrl {
        McpUrl::parse("https://mcp.example/mcp").unwrap()
    }

    #[test]
    fn the_secret_comes_from_the_named_variable() {
        let c = config(json!({"client_auth": "client_secret_post"})).unwrap();
        let env = Env::from_pairs([("INTROSPECTION_SECRET", "s3cret")]);
        let s = c.settings(&env, &resource(), "auth.introspection").unwrap();
        assert_eq!(s.client_secret.expose_secret(), "s3cret");
        assert_eq!(s.client_auth, ClientAuthMethod::ClientSecretPost);
        assert_eq!(s.audiences, ["https://mcp.example/mcp"]);
        assert!(c.build(&env, &resource(), "auth.introspection").is_ok());
        let err = c
            .settings(&Env::default(), &resource(), "auth.introspection")
            .unwrap_err();
        assert_eq!(err.source_name, "INTROSPECTION_SECRET");
        assert!(err.problem.contains("auth.introspection.client_secret_env"));
    }

    #[test]
    fn unknown_keys_and_a_secret_in_clear_are_refused() {
        assert!(config(json!({"client_secret": "s3cret"})).is_err());
        assert!(config(json!({"client_auth": "private_key_jwt"})).is_err());
    }

    #[test]
    fn errors_name_the_key() {
        let env = Env::from_pairs([("INTROSPECTION_SECRET", "s3cret")]);
        let c = config(json!({"endpoint": "http://as.example/introspect"})).unwrap();
        let err = c
            .build(&env, &resource(), "auth.introspection")
            .unwrap_err();
        assert_eq!(err.source_name, "auth.introspection.endpoint");
        let c = config(json!({"timeout_secs": 0})).unwrap();
        let err = c.build(&env, &resource(), "").unwrap_err();
        assert_eq!(err.source_name, "timeout_secs");
    }
}
