//! The OIDC-based providers from environment variables, in FastMCP's names,
//! so a FastMCP deployment moves over without touching its environment.
//! `FASTMCP_SERVER_AUTH` selects the provider by FastMCP's class path (or a
//! short name); each reads its own prefix:
//!
//! | `FASTMCP_SERVER_AUTH` | prefix | variables |
//! |---|---|---|
//! | `fastmcp.server.auth.providers.jwt.JWTVerifier` (`jwt`, `oidc`) | `FASTMCP_SERVER_AUTH_JWT_` | `ISSUER`, `JWKS_URI` (else discovery), `AUDIENCE`, `ALGORITHM`, `REQUIRED_SCOPES`, `BASE_URL`/`MCP_URL` |
//! | `fastmcp.server.auth.providers.auth0.Auth0Provider` (`auth0`) | `FASTMCP_SERVER_AUTH_AUTH0_` | `CONFIG_URL` or `DOMAIN`, `AUDIENCE`, `REQUIRED_SCOPES`, `BASE_URL`/`MCP_URL` |
//! | `fastmcp.server.auth.providers.workos.AuthKitProvider` (`workos`, `authkit`) | `FASTMCP_SERVER_AUTH_AUTHKITPROVIDER_` | `AUTHKIT_DOMAIN`, `AUDIENCE`, `REQUIRED_SCOPES`, `BASE_URL`/`MCP_URL` |
//! | `fastmcp.server.auth.providers.keycloak.KeycloakAuthProvider` (`keycloak`) | `FASTMCP_SERVER_AUTH_KEYCLOAK_` | `REALM_URL`, `AUDIENCE`, `CLIENT_ID`, `REQUIRED_SCOPES`, `BASE_URL`/`MCP_URL` |
//! | `fastmcp.server.auth.providers.azure.AzureProvider` (`azure`, `entra`) | `FASTMCP_SERVER_AUTH_AZURE_` | `TENANT_ID`, `CLIENT_ID`, `IDENTIFIER_URI`, `REQUIRED_SCOPES`, `BASE_URL`/`MCP_URL` |
//! | `fastmcp.server.auth.providers.descope.DescopeProvider` (`descope`) | `FASTMCP_SERVER_AUTH_DESCOPEPROVIDER_` | `PROJECT_ID`, `DESCOPE_BASE_URL` or `CONFIG_URL`, `REQUIRED_SCOPES`, `BASE_URL`/`MCP_URL` |
//! | `fastmcp.server.auth.providers.introspection.IntrospectionTokenVerifier` (`introspection`) | `FASTMCP_SERVER_AUTH_INTROSPECTION_` | `INTROSPECTION_URL`, `CLIENT_ID`, `CLIENT_SECRET`, `ISSUER`, `REQUIRED_SCOPES`, `TIMEOUT_SECONDS`, `CLIENT_AUTH`, `AUDIENCES`, `BASE_URL`/`MCP_URL` (see [`introspection::env`](crate::introspection::env)) |
//!
//! The MCP URL is `{PREFIX}MCP_URL`, else `{PREFIX}BASE_URL` plus `/mcp`
//! (FastMCP's mount point), else `MCP_URL`. Variables FastMCP needs only
//! for its OAuth proxy (`CLIENT_SECRET`, `REDIRECT_PATH`) are ignored: a
//! resource server has no use for them. Errors name the variable.

use crate::config::{ConfigError, Env, parse_scope_list};
use crate::introspection::env as introspection_env;
use crate::introspection::{IntrospectionVerifier, InvalidIntrospectionSettings};
use crate::protection::ProtectedResource;
use crate::types::McpUrl;
use crate::verify::SigningAlgorithm;

use super::config::check_identifier;
use super::oidc::{FieldNames, OidcProvider};
use super::presets;
use super::scalekit::env::mcp_url_from_base;

/// Which OIDC preset a `FASTMCP_SERVER_AUTH` value names, and its prefix.
fn preset_of(class: &str) -> Option<(&'static str, &'static str)> {
    let short = class
        .rsplit('.')
        .next()
        .unwrap_or(class)
        .to_ascii_lowercase();
    let found = match short.as_str() {
        "jwtverifier" | "jwt" | "oidc" => ("oidc", "FASTMCP_SERVER_AUTH_JWT_"),
        "auth0provider" | "auth0" => ("auth0", "FASTMCP_SERVER_AUTH_AUTH0_"),
        "authkitprovider" | "authkit" | "workos" => {
            ("workos", "FASTMCP_SERVER_AUTH_AUTHKITPROVIDER_")
        }
        "keycloakauthprovider" | "keycloakprovider" | "keycloak" => {
            ("keycloak", "FASTMCP_SERVER_AUTH_KEYCLOAK_")
        }
        "azureprovider" | "azure" | "entra" => ("entra", "FASTMCP_SERVER_AUTH_AZURE_"),
        "descopeprovider" | "descope" => ("descope", "FASTMCP_SERVER_AUTH_DESCOPEPROVIDER_"),
        _ => return None,
    };
    Some(found)
}

/// Whether `class` names Scalekit (handled by `scalekit::env`).
fn is_scalekit(class: &str) -> bool {
    let short = class.rsplit('.').next().unwrap_or(class);
    short.eq_ignore_ascii_case("ScalekitProvider") || short.eq_ignore_ascii_case("scalekit")
}

/// Whether `class` names introspection (FastMCP's `IntrospectionTokenVerifier`).
fn is_introspection(class: &str) -> bool {
    let short = class.rsplit('.').next().unwrap_or(class);
    short.eq_ignore_ascii_case("IntrospectionTokenVerifier")
        || short.eq_ignore_ascii_case("introspection")
}

/// The opaque-token-only resource `FASTMCP_SERVER_AUTH` selects when it
/// names introspection; `Ok(None)` otherwise. Errors name the variable.
pub(crate) fn introspection_from(env: &Env) -> Result<Option<ProtectedResource>, ConfigError> {
    let Some(class) = env.get("FASTMCP_SERVER_AUTH").map(str::trim) else {
        return Ok(None);
    };
    if !is_introspection(class) {
        return Ok(None);
    }
    let v = Vars {
        env,
        prefix: introspection_env::ENV_PREFIX,
    };
    let mcp_url = McpUrl::parse(&v.mcp_url()?)
        .map_err(|e| ConfigError::new(v.mcp_url_source(), e.to_string()))?;
    let vars = introspection_env::from_vars(env, &mcp_url)?.ok_or_else(|| {
        ConfigError::new(
            introspection_env::INTROSPECTION_URL,
            "is not set; FASTMCP_SERVER_AUTH selects introspection, so set the introspection endpoint URL",
        )
    })?;
    let verifier = IntrospectionVerifier::new(vars.settings).map_err(|e| {
        let var = match e {
            InvalidIntrospectionSettings::BadEndpoint(_)
            | InvalidIntrospectionSettings::InsecureEndpoint(_) => {
                introspection_env::INTROSPECTION_URL
            }
            InvalidIntrospectionSettings::NoIssuer => introspection_env::ISSUER,
            InvalidIntrospectionSettings::NoClientId => introspection_env::CLIENT_ID,
            InvalidIntrospectionSettings::NoClientSecret => introspection_env::CLIENT_SECRET,
            _ => introspection_env::AUDIENCES,
        };
        ConfigError::new(var, e.to_string())
    })?;
    ProtectedResource::opaque_builder(mcp_url, verifier)
        .required_scopes(vars.required_scopes)
        .build()
        .map_err(|e| {
            let var = match e.source_name.as_str() {
                "required_scopes" => introspection_env::REQUIRED_SCOPES,
                _ => introspection_env::ISSUER,
            };
            ConfigError::new(var, e.problem)
        })
        .map(Some)
}

/// The OIDC-based provider `FASTMCP_SERVER_AUTH` selects; `Ok(None)` when it
/// is unset or names Scalekit or introspection.
pub(crate) fn provider_from(env: &Env) -> Result<Option<OidcProvider>, ConfigError> {
    let Some(class) = env.get("FASTMCP_SERVER_AUTH").map(str::trim) else {
        return Ok(None);
    };
    if is_scalekit(class) || is_introspection(class) {
        return Ok(None);
    }
    let Some((preset, prefix)) = preset_of(class) else {
        return Err(ConfigError::new(
            "FASTMCP_SERVER_AUTH",
            format!(
                "unsupported provider `{class}`; mcpgate supports FastMCP's ScalekitProvider, JWTVerifier, Auth0Provider, AuthKitProvider, KeycloakAuthProvider, AzureProvider, DescopeProvider and IntrospectionTokenVerifier (or the short names scalekit, oidc, auth0, workos, keycloak, entra, descope, introspection)"
            ),
        ));
    };
    let v = Vars { env, prefix };
    let mcp_url = v.mcp_url()?;
    let mut names = FieldNames {
        mcp_url: v.mcp_url_source(),
        required_scopes: v.name("REQUIRED_SCOPES"),
        algorithms: v.name("ALGORITHM"),
        ..FieldNames::default()
    };
    let provider = match preset {
        "oidc" => {
            let issuer = v.require("ISSUER", "set it to the exact `iss` of the tokens")?;
            let mut p = OidcProvider::new(issuer, &mcp_url);
            if let Some(uri) = v.optional("JWKS_URI") {
                p = p.jwks_uri(uri);
            }
            if let Some(raw) = v.optional("ALGORITHM") {
                let algorithms = parse_scope_list(raw)
                    .map_err(|e| ConfigError::new(v.name("ALGORITHM"), e))?
                    .iter()
                    .map(|a| a.parse::<SigningAlgorithm>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ConfigError::new(v.name("ALGORITHM"), e.to_string()))?;
                p = p.algorithms(algorithms);
            }
            names.issuer = v.name("ISSUER");
            names.jwks_uri = v.name("JWKS_URI");
            p
        }
        "auth0" => {
            let audience =
                v.require("AUDIENCE", "set it to the API identifier of your Auth0 API")?;
            match (v.optional("DOMAIN"), v.optional("CONFIG_URL")) {
                (Some(domain), _) => {
                    names.issuer = v.name("DOMAIN");
                    presets::auth0(domain, audience, &mcp_url)
                }
                (None, Some(config_url)) => {
                    names.issuer = v.name("CONFIG_URL");
                    let domain = config_url
                        .trim_end_matches('/')
                        .strip_suffix("/.well-known/openid-configuration")
                        .unwrap_or(config_url);
                    presets::auth0(domain, audience, &mcp_url)
                }
                (None, None) => {
                    return Err(ConfigError::new(
                        v.name("CONFIG_URL"),
                        format!(
                            "is not set (nor {}); set it to https://{{tenant}}.auth0.com/.well-known/openid-configuration",
                            v.name("DOMAIN")
                        ),
                    ));
                }
            }
        }
        "workos" => {
            let domain = v.require("AUTHKIT_DOMAIN", "set it to https://{your-app}.authkit.app")?;
            names.issuer = v.name("AUTHKIT_DOMAIN");
            let mut p = presets::workos(domain, &mcp_url);
            if let Some(audience) = v.optional("AUDIENCE") {
                p = p.audiences(v.list("AUDIENCE", audience)?);
            }
            p
        }
        "keycloak" => {
            let realm_url = v.require("REALM_URL", "set it to {keycloak}/realms/{realm}")?;
            names.issuer = v.name("REALM_URL");
            let audience = v.optional("AUDIENCE").unwrap_or(&mcp_url).to_owned();
            presets::keycloak_realm(realm_url, audience, v.optional("CLIENT_ID"), &mcp_url)
        }
        "entra" => {
            let tenant = v.require("TENANT_ID", "set it to your directory (tenant) id")?;
            let client = v.require("CLIENT_ID", "set it to the application (client) id")?;
            check_identifier(&v.name("TENANT_ID"), tenant, true)?;
            check_identifier(&v.name("CLIENT_ID"), client, true)?;
            names.issuer = v.name("TENANT_ID");
            presets::entra(tenant, client, v.optional("IDENTIFIER_URI"), &mcp_url)
        }
        "descope" => {
            let project = v.require("PROJECT_ID", "set it to your Descope project id (P2…)")?;
            check_identifier(&v.name("PROJECT_ID"), project, true)?;
            match v.optional("CONFIG_URL") {
                Some(url) => {
                    names.issuer = v.name("CONFIG_URL");
                    names.metadata_url = v.name("CONFIG_URL");
                    presets::descope_config_url(url, project, &mcp_url)
                }
                None => {
                    names.issuer = v.name("DESCOPE_BASE_URL");
                    presets::descope(project, v.optional("DESCOPE_BASE_URL"), &mcp_url)
                }
            }
        }
        _ => unreachable!("preset_of returns only the names above"),
    };
    names.jwks_uri = if preset == "oidc" {
        names.jwks_uri
    } else {
        names.issuer.clone()
    };
    let mut provider = provider.named_sources(names);
    if preset == "oidc"
        && let Some(audience) = v.optional("AUDIENCE")
    {
        provider = provider.audiences(v.list("AUDIENCE", audience)?);
    }
    if let Some(raw) = v.optional("REQUIRED_SCOPES") {
        provider = provider.required_scopes(v.list("REQUIRED_SCOPES", raw)?);
    }
    Ok(Some(provider))
}

struct Vars<'a> {
    env: &'a Env,
    prefix: &'static str,
}

impl<'a> Vars<'a> {
    fn name(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    fn optional(&self, suffix: &str) -> Option<&'a str> {
        self.env
            .get(&self.name(suffix))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    fn require(&self, suffix: &str, hint: &str) -> Result<&'a str, ConfigError> {
        self.env.require(&self.name(suffix), hint)
    }

    fn list(&self, suffix: &str, raw: &str) -> Result<Vec<String>, ConfigError> {
        parse_scope_list(raw).map_err(|p| ConfigError::new(self.name(suffix), p))
    }

    fn mcp_url_source(&self) -> String {
        if self.optional("MCP_URL").is_some() {
            self.name("MCP_URL")
        } else if self.optional("BASE_URL").is_some() {
            self.name("BASE_URL")
        } else {
            "MCP_URL".to_owned()
        }
    }

    fn mcp_url(&self) -> Result<String, ConfigError> {
        if let Some(url) = self.optional("MCP_URL") {
            return Ok(url.to_owned());
        }
        if let Some(base) = self.optional("BASE_URL") {
            return Ok(mcp_url_from_base(base));
        }
        match self
            .env
            .get("MCP_URL")
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            Some(url) => Ok(url.to_owned()),
            None => Err(ConfigError::new(
                self.name("BASE_URL"),
                "is not set (nor MCP_URL); set it to the public base URL of this server, e.g. https://mcp.example.com",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(pairs: &[(&str, &str)]) -> Result<crate::ProtectedResource, ConfigError> {
        let env = Env::from_pairs(pairs.iter().copied());
        provider_from(&env)?.expect("a provider").build()
    }

    #[test]
    fn fastmcp_names_configure_each_preset() {
        let r = build(&[
            (
                "FASTMCP_SERVER_AUTH",
                "fastmcp.server.auth.providers.auth0.Auth0Provider",
            ),
            (
                "FASTMCP_SERVER_AUTH_AUTH0_CONFIG_URL",
                "https://acme.us.auth0.com/.well-known/openid-configuration",
            ),
            ("FASTMCP_SERVER_AUTH_AUTH0_AUDIENCE", "https://api.acme"),
            ("FASTMCP_SERVER_AUTH_AUTH0_BASE_URL", "https://mcp.acme"),
            (
                "FASTMCP_SERVER_AUTH_AUTH0_REQUIRED_SCOPES",
                "read:docs,write:docs",
            ),
        ])
        .unwrap();
        assert_eq!(r.authorization_servers(), ["https://acme.us.auth0.com/"]);
        assert_eq!(r.resource().as_str(), "https://mcp.acme/mcp");
        assert_eq!(
            r.required_scopes().to_space_separated(),
            "read:docs write:docs"
        );
        assert_eq!(r.jwt_verifier().unwrap().provider(), "auth0");
        let r = build(&[
            (
                "FASTMCP_SERVER_AUTH",
                "fastmcp.server.auth.providers.azure.AzureProvider",
            ),
            ("FASTMCP_SERVER_AUTH_AZURE_TENANT_ID", "t-1"),
            ("FASTMCP_SERVER_AUTH_AZURE_CLIENT_ID", "c-1"),
            ("FASTMCP_SERVER_AUTH_AZURE_CLIENT_SECRET", "ignored"),
            ("FASTMCP_SERVER_AUTH_AZURE_BASE_URL", "https://mcp.acme"),
        ])
        .unwrap();
        assert_eq!(
            r.jwt_verifier().unwrap().issuers(),
            [
                "https://login.microsoftonline.com/t-1/v2.0",
                "https://sts.windows.net/t-1/"
            ]
        );
        let r = build(&[
            ("FASTMCP_SERVER_AUTH", "keycloak"),
            (
                "FASTMCP_SERVER_AUTH_KEYCLOAK_REALM_URL",
                "https://sso.acme/realms/main",
            ),
            ("MCP_URL", "https://mcp.acme/mcp"),
        ])
        .unwrap();
        assert_eq!(r.authorization_servers(), ["https://sso.acme/realms/main"]);
        let r = build(&[
            (
                "FASTMCP_SERVER_AUTH",
                "fastmcp.server.auth.providers.jwt.JWTVerifier",
            ),
            ("FASTMCP_SERVER_AUTH_JWT_ISSUER", "https://id.acme"),
            ("FASTMCP_SERVER_AUTH_JWT_JWKS_URI", "https://id.acme/jwks"),
            ("FASTMCP_SERVER_AUTH_JWT_ALGORITHM", "ES256"),
            ("FASTMCP_SERVER_AUTH_JWT_AUDIENCE", "a,b"),
            ("MCP_URL", "https://mcp.acme/mcp"),
        ])
        .unwrap();
        assert_eq!(
            r.jwt_verifier().unwrap().algorithms(),
            [SigningAlgorithm::Es256]
        );
        for (class, var, value) in [
            (
                "workos",
                "FASTMCP_SERVER_AUTH_AUTHKITPROVIDER_AUTHKIT_DOMAIN",
                "https://acme.authkit.app",
            ),
            (
                "descope",
                "FASTMCP_SERVER_AUTH_DESCOPEPROVIDER_PROJECT_ID",
                "P2abc",
            ),
        ] {
            build(&[
                ("FASTMCP_SERVER_AUTH", class),
                (var, value),
                ("MCP_URL", "https://mcp.acme/mcp"),
            ])
            .unwrap_or_else(|e| panic!("{class}: {e}"));
        }
    }

    #[test]
    fn errors_name_the_variable() {
        let e = build(&[
            ("FASTMCP_SERVER_AUTH", "auth0"),
            ("FASTMCP_SERVER_AUTH_AUTH0_DOMAIN", "http://acme.example"),
            ("FASTMCP_SERVER_AUTH_AUTH0_AUDIENCE", "a"),
            ("MCP_URL", "https://mcp.acme/mcp"),
        ])
        .unwrap_err();
        assert_eq!(e.source_name, "FASTMCP_SERVER_AUTH_AUTH0_DOMAIN");
        let e = build(&[
            ("FASTMCP_SERVER_AUTH", "jwt"),
            ("FASTMCP_SERVER_AUTH_JWT_ISSUER", "https://id.acme"),
            ("FASTMCP_SERVER_AUTH_JWT_ALGORITHM", "HS256"),
            ("MCP_URL", "https://mcp.acme/mcp"),
        ])
        .unwrap_err();
        assert_eq!(e.source_name, "FASTMCP_SERVER_AUTH_JWT_ALGORITHM");
        let e = build(&[
            ("FASTMCP_SERVER_AUTH", "entra"),
            ("MCP_URL", "https://m/mcp"),
        ])
        .unwrap_err();
        assert_eq!(e.source_name, "FASTMCP_SERVER_AUTH_AZURE_TENANT_ID");
        let e = provider_from(&Env::from_pairs([("FASTMCP_SERVER_AUTH", "okta")])).unwrap_err();
        assert_eq!(e.source_name, "FASTMCP_SERVER_AUTH");
    }

    #[test]
    fn fastmcp_introspection_variables_make_an_opaque_only_resource() {
        let vars = [
            (
                "FASTMCP_SERVER_AUTH",
                "fastmcp.server.auth.providers.introspection.IntrospectionTokenVerifier",
            ),
            (
                introspection_env::INTROSPECTION_URL,
                "https://id.example.com/introspect",
            ),
            (introspection_env::ISSUER, "https://id.example.com"),
            (introspection_env::CLIENT_ID, "rs_1"),
            (introspection_env::CLIENT_SECRET, "s3cret"),
            (introspection_env::REQUIRED_SCOPES, "mcp:tools mcp:read"),
            (
                "FASTMCP_SERVER_AUTH_INTROSPECTION_BASE_URL",
                "https://mcp.example.com",
            ),
        ];
        let r = crate::providers::from_vars(&Env::from_pairs(vars))
            .unwrap()
            .expect("a provider")
            .build()
            .unwrap();
        assert!(r.jwt_verifiers().is_empty());
        assert!(r.opaque_verifier().is_some());
        assert_eq!(r.resource().as_str(), "https://mcp.example.com/mcp");
        assert_eq!(r.authorization_servers(), ["https://id.example.com"]);
        assert_eq!(r.required_scopes().to_string(), "mcp:tools mcp:read");

        let short: Vec<_> = vars
            .iter()
            .map(|&(k, v)| {
                if k == "FASTMCP_SERVER_AUTH" {
                    (k, "introspection")
                } else {
                    (k, v)
                }
            })
            .filter(|(k, _)| *k != introspection_env::INTROSPECTION_URL)
            .collect();
        let err = crate::providers::from_vars(&Env::from_pairs(short))
            .err()
            .expect("the endpoint is required");
        assert_eq!(err.source_name, introspection_env::INTROSPECTION_URL);
        let insecure: Vec<_> = vars
            .iter()
            .map(|&(k, v)| {
                if k == introspection_env::INTROSPECTION_URL {
                    (k, "http://id.example.com/introspect")
                } else {
                    (k, v)
                }
            })
            .collect();
        let err = crate::providers::from_vars(&Env::from_pairs(insecure))
            .err()
            .expect("plain http off loopback is refused");
        assert_eq!(err.source_name, introspection_env::INTROSPECTION_URL);
    }
}
