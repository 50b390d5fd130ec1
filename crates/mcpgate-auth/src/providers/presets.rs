//! Presets: [`OidcProvider`]s with each identity provider's documented issuer
//! form, key location, audience and scope claims filled in. Every preset is
//! an ordinary `OidcProvider`, so any default can still be changed with its
//! builder methods (for example `.algorithms(..)` or `.scope_claims(..)`).
//!
//! | preset | `iss` | keys | audience | scopes from |
//! |---|---|---|---|---|
//! | [`auth0`] | `https://{domain}/` | `{iss}.well-known/jwks.json` | API identifier | `scope`, `permissions` |
//! | [`workos`] | `https://{authkit domain}` | `{iss}/oauth2/jwks` | MCP URL (or given) | `scope`, `permissions` |
//! | [`keycloak`] | `{base}/realms/{realm}` | `{iss}/protocol/openid-connect/certs` | given (audience mapper) | `scope`, realm roles, client roles |
//! | [`entra`] | v2 `https://login.microsoftonline.com/{tenant}/v2.0`, v1 `https://sts.windows.net/{tenant}/` | `https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys` | client id GUID, application ID URI | `scp`, `roles` |
//! | [`descope`] | `{base}/v1/apps/{project}` | `{base}/{project}/.well-known/jwks.json` | project id | `scope`, `permissions`, `roles` |

use super::oidc::OidcProvider;
use crate::verify::SigningAlgorithm;

/// The host part of a domain given with or without a scheme, and the
/// scheme to use (`https` unless `http://` was written, which loopback test
/// stand-ins need; non-loopback http is refused at build time).
fn origin(domain: &str) -> String {
    let domain = domain.trim().trim_end_matches('/');
    if domain.starts_with("https://") || domain.starts_with("http://") {
        domain.to_owned()
    } else {
        format!("https://{domain}")
    }
}

/// Auth0: `domain` is the tenant domain (`acme.us.auth0.com`, or a custom
/// domain), `audience` the API identifier the tokens are requested for.
/// Auth0's `iss` ends with `/`; RBAC permissions arrive in `permissions`.
///
/// ```
/// let p = mcpgate_auth::providers::presets::auth0("acme.us.auth0.com", "https://api.acme.example", "https://mcp.acme.example/mcp");
/// assert!(p.build().is_ok());
/// ```
pub fn auth0(
    domain: impl AsRef<str>,
    audience: impl Into<String>,
    mcp_url: impl Into<String>,
) -> OidcProvider {
    let issuer = format!("{}/", origin(domain.as_ref()));
    OidcProvider::new(issuer.clone(), mcp_url)
        .jwks_uri(format!("{issuer}.well-known/jwks.json"))
        .audiences([audience.into()])
        .algorithms([SigningAlgorithm::Rs256, SigningAlgorithm::Ps256])
        .scope_claims(["scope", "permissions"])
        .provider_name("auth0")
}

/// WorkOS AuthKit: `authkit_domain` is `https://{subdomain}.authkit.app` (or
/// a custom domain). The audience defaults to the MCP URL (the resource the
/// client asked for); change it with `.audiences(..)`.
pub fn workos(authkit_domain: impl AsRef<str>, mcp_url: impl Into<String>) -> OidcProvider {
    let issuer = origin(authkit_domain.as_ref());
    OidcProvider::new(issuer.clone(), mcp_url)
        .jwks_uri(format!("{issuer}/oauth2/jwks"))
        .scope_claims(["scope", "permissions"])
        .provider_name("workos")
}

/// Keycloak: `base_url` is the server (`https://sso.example.com`, with any
/// context path such as `/auth`), `realm` the realm name. `audience` is what
/// the realm's audience mapper puts into `aud`. With `client_id`, `azp` must
/// be that client and its client roles count as scopes; realm roles always do.
pub fn keycloak(
    base_url: impl AsRef<str>,
    realm: impl AsRef<str>,
    audience: impl Into<String>,
    client_id: Option<&str>,
    mcp_url: impl Into<String>,
) -> OidcProvider {
    let realm_url = format!(
        "{}/realms/{}",
        origin(base_url.as_ref()),
        realm.as_ref().trim()
    );
    keycloak_realm(realm_url, audience, client_id, mcp_url)
}

/// [`keycloak`] from the realm URL (`{base}/realms/{realm}`, the issuer), as
/// FastMCP's `REALM_URL` gives it.
pub fn keycloak_realm(
    realm_url: impl AsRef<str>,
    audience: impl Into<String>,
    client_id: Option<&str>,
    mcp_url: impl Into<String>,
) -> OidcProvider {
    let issuer = origin(realm_url.as_ref());
    let mut scope_claims = vec!["scope".to_owned(), "/realm_access/roles".to_owned()];
    let mut provider = OidcProvider::new(issuer.clone(), mcp_url)
        .jwks_uri(format!("{issuer}/protocol/openid-connect/certs"))
        .audiences([audience.into()])
        .provider_name("keycloak");
    if let Some(client) = client_id.map(str::trim).filter(|c| !c.is_empty()) {
        let escaped = client.replace('~', "~0").replace('/', "~1");
        scope_claims.push(format!("/resource_access/{escaped}/roles"));
        provider = provider.authorized_parties([client]);
    }
    provider.scope_claims(scope_claims)
}

/// Microsoft Entra ID: both token versions of one app registration.
/// `tenant_id` is the directory (tenant) GUID, `client_id` the application
/// (client) id; the audience is the client id (v2 tokens) or the application
/// ID URI (v1 tokens; `api://{client_id}` unless `identifier_uri` says
/// otherwise). Scopes come from `scp` (delegated) and `roles` (application
/// permissions).
pub fn entra(
    tenant_id: impl AsRef<str>,
    client_id: impl AsRef<str>,
    identifier_uri: Option<&str>,
    mcp_url: impl Into<String>,
) -> OidcProvider {
    entra_at(
        "https://login.microsoftonline.com",
        "https://sts.windows.net",
        tenant_id,
        client_id,
        identifier_uri,
        mcp_url,
    )
}

/// [`entra`] against other authority hosts (a national cloud such as
/// `https://login.microsoftonline.us`, or a test stand-in): `login_host`
/// serves v2 issuers and keys, `sts_host` is the v1 issuer's host.
pub fn entra_at(
    login_host: &str,
    sts_host: &str,
    tenant_id: impl AsRef<str>,
    client_id: impl AsRef<str>,
    identifier_uri: Option<&str>,
    mcp_url: impl Into<String>,
) -> OidcProvider {
    let login = origin(login_host);
    let tenant = tenant_id.as_ref().trim();
    let client = client_id.as_ref().trim();
    let v2 = format!("{login}/{tenant}/v2.0");
    let v1 = format!("{}/{tenant}/", origin(sts_host));
    let uri = identifier_uri
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| format!("api://{client}"));
    OidcProvider::new(v2.clone(), mcp_url)
        .additional_issuer(v1)
        .jwks_uri(format!("{login}/{tenant}/discovery/v2.0/keys"))
        .audiences([client.to_owned(), uri])
        .scope_claims(["scp", "roles"])
        .authorization_servers([v2])
        .provider_name("entra")
}

/// Descope: `project_id` (`P2…`), with `descope_base_url` defaulting to
/// `https://api.descope.com`. The audience is the project id.
pub fn descope(
    project_id: impl AsRef<str>,
    descope_base_url: Option<&str>,
    mcp_url: impl Into<String>,
) -> OidcProvider {
    let base = origin(descope_base_url.unwrap_or("https://api.descope.com"));
    let project = project_id.as_ref().trim();
    OidcProvider::new(format!("{base}/v1/apps/{project}"), mcp_url)
        .jwks_uri(format!("{base}/{project}/.well-known/jwks.json"))
        .audiences([project.to_owned()])
        .scope_claims(["scope", "permissions", "roles"])
        .provider_name("descope")
}

/// Descope's agentic (MCP server) apps: configured by the app's OpenID
/// configuration URL (`…/v1/apps/agentic/{project}/{app}/.well-known/openid-configuration`);
/// the issuer is that URL without the well-known suffix, keys are
/// discovered from it, and the audience is the project id.
pub fn descope_config_url(
    config_url: impl AsRef<str>,
    project_id: impl Into<String>,
    mcp_url: impl Into<String>,
) -> OidcProvider {
    let config_url = config_url.as_ref().trim();
    let issuer = config_url
        .strip_suffix("/.well-known/openid-configuration")
        .unwrap_or(config_url);
    OidcProvider::new(issuer, mcp_url)
        .discovery_url(config_url)
        .audiences([project_id.into()])
        .scope_claims(["scope", "permissions", "roles"])
        .provider_name("descope")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_forms_follow_each_providers_documentation() {
        let mcp = "https://mcp.example.com/mcp";
        let a = auth0("acme.us.auth0.com", "https://api", mcp);
        assert_eq!(a.issuer, "https://acme.us.auth0.com/");
        assert_eq!(
            a.jwks_uri.as_deref(),
            Some("https://acme.us.auth0.com/.well-known/jwks.json")
        );
        let k = keycloak(
            "https://sso.example.com/auth/",
            "acme",
            "mcp",
            Some("mcp-client"),
            mcp,
        );
        assert_eq!(k.issuer, "https://sso.example.com/auth/realms/acme");
        assert!(
            k.scope_claims
                .contains(&"/resource_access/mcp-client/roles".to_owned())
        );
        let e = entra("t-1", "c-1", None, mcp);
        assert_eq!(e.issuer, "https://login.microsoftonline.com/t-1/v2.0");
        assert_eq!(e.additional_issuers, ["https://sts.windows.net/t-1/"]);
        assert_eq!(e.audiences, ["c-1", "api://c-1"]);
        let d = descope("P2abc", None, mcp);
        assert_eq!(d.issuer, "https://api.descope.com/v1/apps/P2abc");
        let w = workos("acme.authkit.app", mcp);
        assert_eq!(
            w.jwks_uri.as_deref(),
            Some("https://acme.authkit.app/oauth2/jwks")
        );
        for p in [a, k, e, d, w] {
            p.build().expect("each preset builds");
        }
    }
}
