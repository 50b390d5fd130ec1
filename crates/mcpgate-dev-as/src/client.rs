//! OAuth clients: their metadata (RFC 7591 §2), how it is validated, and how
//! redirect URIs are matched.
//!
//! The same rules apply to dynamically registered clients and to clients described
//! by a Client ID Metadata Document, so both end up as one [`Client`].

use std::net::IpAddr;

use serde_json::{Map, Value};
use url::{Host, Url};

use crate::config::is_scope_token;
use crate::params::split_scopes;

/// How a client authenticates at the token and revocation endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthMethod {
    /// A public client: no secret (native apps, browser apps, CIMD clients).
    None,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// HTTP Basic with the client id and secret.
    ClientSecretBasic,
}

impl AuthMethod {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretBasic => "client_secret_basic",
        }
    }
}

/// A client this server knows, registered or described by a metadata document.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) client_id: String,
    pub(crate) client_name: Option<String>,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) auth_method: AuthMethod,
    pub(crate) grant_types: Vec<String>,
    /// The scopes the client registered for, if it named any.
    pub(crate) scope: Option<Vec<String>>,
    /// Hash of the client secret (see [`crate::secret::hash`]) for confidential clients.
    pub(crate) secret_hash: Option<String>,
}

impl Client {
    /// What the consent page calls the client.
    pub(crate) fn display_name(&self) -> &str {
        self.client_name.as_deref().unwrap_or(&self.client_id)
    }

    pub(crate) fn is_confidential(&self) -> bool {
        self.auth_method != AuthMethod::None
    }

    pub(crate) fn has_grant_type(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    /// The registered redirect URI that `requested` designates, if any.
    pub(crate) fn find_redirect_uri(&self, requested: &str) -> Option<&str> {
        self.redirect_uris
            .iter()
            .map(String::as_str)
            .find(|r| redirect_uri_matches(r, requested))
    }

    /// Whether every scope in `scopes` is one the client registered for.
    pub(crate) fn may_request(&self, scopes: &[String]) -> bool {
        match &self.scope {
            None => true,
            Some(allowed) => scopes.iter().all(|s| allowed.contains(s)),
        }
    }

    /// Rebuilds a client from what [`crate::store`] kept.
    pub(crate) fn from_stored(
        client_id: String,
        secret_hash: Option<String>,
        metadata: Map<String, Value>,
    ) -> Result<Self, MetadataError> {
        // Stored metadata was validated at registration; re-validating is cheap and
        // keeps a hand-edited database from smuggling in an unsafe redirect URI. The
        // scope list is not re-checked: it may have shrunk since, which must not
        // lock the client out.
        let parsed =
            ClientMetadata::parse(Value::Object(metadata), AuthMethod::ClientSecretBasic, None)?;
        Ok(parsed.into_client(client_id, secret_hash))
    }
}

/// A refused piece of client metadata, with its RFC 7591 §3.2.2 error code.
#[derive(Debug, Clone)]
pub(crate) struct MetadataError {
    pub(crate) code: &'static str,
    pub(crate) description: String,
}

impl MetadataError {
    fn metadata(description: impl Into<String>) -> Self {
        Self {
            code: "invalid_client_metadata",
            description: description.into(),
        }
    }

    fn redirect(description: impl Into<String>) -> Self {
        Self {
            code: "invalid_redirect_uri",
            description: description.into(),
        }
    }
}

/// OpenID Connect Registration §2 `application_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApplicationType {
    /// The default: a web application.
    Web,
    /// Desktop, mobile and CLI apps, and web apps served from `localhost`.
    Native,
}

impl ApplicationType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }
}

/// Validated client metadata, before it is bound to a client id.
#[derive(Debug, Clone)]
pub(crate) struct ClientMetadata {
    pub(crate) client_name: Option<String>,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) auth_method: AuthMethod,
    pub(crate) grant_types: Vec<String>,
    pub(crate) scope: Option<Vec<String>>,
    /// What is kept and echoed: the fields this server understands, with
    /// defaults filled in. Everything else a client sent is dropped (RFC 7591
    /// §2: a server ignores metadata it does not understand).
    pub(crate) normalized: Map<String, Value>,
}

const GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    crate::exchange::GRANT_TYPE,
];
const MAX_NAME_LEN: usize = 256;
/// More than any real client registers (VS Code: two; most: one).
pub(crate) const MAX_REDIRECT_URIS: usize = 10;
/// Bytes per redirect URI.
pub(crate) const MAX_REDIRECT_URI_LEN: usize = 1024;
/// Bytes of the `scope` string.
const MAX_SCOPE_LEN: usize = 1024;
/// Entries of `grant_types` and `response_types` (duplicates count).
const MAX_LIST_LEN: usize = 8;

impl ClientMetadata {
    /// Validates RFC 7591 metadata. `default_auth` applies when
    /// `token_endpoint_auth_method` is absent (RFC 7591 says `client_secret_basic`;
    /// metadata documents describe public clients). With `scopes_supported`, a
    /// registered `scope` must stay within it.
    pub(crate) fn parse(
        value: Value,
        default_auth: AuthMethod,
        scopes_supported: Option<&[String]>,
    ) -> Result<Self, MetadataError> {
        let Value::Object(map) = value else {
            return Err(MetadataError::metadata(
                "client metadata must be a JSON object",
            ));
        };

        let auth_method = match map.get("token_endpoint_auth_method") {
            None | Some(Value::Null) => default_auth,
            Some(Value::String(s)) => AuthMethod::parse(s).ok_or_else(|| {
                MetadataError::metadata(format!(
                    "token_endpoint_auth_method {:?} is not supported (none, client_secret_post, client_secret_basic)",
                    truncated(s)
                ))
            })?,
            Some(_) => return Err(MetadataError::metadata("token_endpoint_auth_method must be a string")),
        };

        let grant_types = dedup(
            string_array(&map, "grant_types", MAX_LIST_LEN)?
                .unwrap_or_else(|| vec!["authorization_code".to_owned()]),
        );
        if grant_types.is_empty() {
            return Err(MetadataError::metadata("grant_types must not be empty"));
        }
        if let Some(bad) = grant_types
            .iter()
            .find(|g| !GRANT_TYPES.contains(&g.as_str()))
        {
            return Err(MetadataError::metadata(format!(
                "grant type {:?} is not supported",
                truncated(bad)
            )));
        }
        if grant_types.iter().any(|g| g == "client_credentials") && auth_method == AuthMethod::None
        {
            return Err(MetadataError::metadata(
                "client_credentials requires a confidential client",
            ));
        }
        // RFC 8693 §2.1: the exchanging party is the client, so it must be
        // able to prove who it is (it becomes the `act` of what it gets).
        if grant_types.iter().any(|g| g == crate::exchange::GRANT_TYPE)
            && auth_method == AuthMethod::None
        {
            return Err(MetadataError::metadata(
                "urn:ietf:params:oauth:grant-type:token-exchange requires a confidential client",
            ));
        }

        let response_types = dedup(
            string_array(&map, "response_types", MAX_LIST_LEN)?
                .unwrap_or_else(|| vec!["code".to_owned()]),
        );
        if let Some(bad) = response_types.iter().find(|r| *r != "code") {
            return Err(MetadataError::metadata(format!(
                "response type {:?} is not supported",
                truncated(bad)
            )));
        }

        let redirect_uris =
            string_array(&map, "redirect_uris", MAX_REDIRECT_URIS)?.unwrap_or_default();
        for uri in &redirect_uris {
            if uri.len() > MAX_REDIRECT_URI_LEN {
                return Err(MetadataError::redirect(format!(
                    "a redirect URI is longer than {MAX_REDIRECT_URI_LEN} bytes"
                )));
            }
            validate_redirect_uri(uri).map_err(MetadataError::redirect)?;
        }
        if redirect_uris.is_empty() && grant_types.iter().any(|g| g == "authorization_code") {
            return Err(MetadataError::redirect(
                "redirect_uris is required for the authorization_code grant",
            ));
        }

        let application_type = match map.get("application_type") {
            None | Some(Value::Null) => ApplicationType::Web,
            Some(Value::String(s)) if s == "web" => ApplicationType::Web,
            Some(Value::String(s)) if s == "native" => ApplicationType::Native,
            Some(Value::String(s)) => {
                return Err(MetadataError::metadata(format!(
                    "application_type {:?} is not supported (native, web)",
                    truncated(s)
                )));
            }
            Some(_) => return Err(MetadataError::metadata("application_type must be a string")),
        };
        // OpenID Connect Registration §2: native clients use loopback http or
        // private-use scheme redirect URIs. Web clients are constrained only for
        // the implicit grant, which this server does not offer.
        if application_type == ApplicationType::Native
            && let Some(bad) = redirect_uris.iter().find(|u| u.starts_with("https:"))
        {
            return Err(MetadataError::redirect(format!(
                "redirect URI {bad:?}: a native application (application_type \"native\") may only \
                 register loopback http or private-use scheme redirect URIs; register https \
                 redirect URIs with application_type \"web\""
            )));
        }

        let client_name = match map.get("client_name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.chars().count() <= MAX_NAME_LEN => Some(s.clone()),
            Some(Value::String(_)) => {
                return Err(MetadataError::metadata(format!(
                    "client_name is longer than {MAX_NAME_LEN} characters"
                )));
            }
            Some(_) => return Err(MetadataError::metadata("client_name must be a string")),
        };

        let scope = match map.get("scope") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.len() > MAX_SCOPE_LEN => {
                return Err(MetadataError::metadata(format!(
                    "scope is longer than {MAX_SCOPE_LEN} bytes"
                )));
            }
            Some(Value::String(s)) => {
                let scopes = split_scopes(s);
                if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
                    return Err(MetadataError::metadata(format!(
                        "scope {:?} is not a valid scope token",
                        truncated(bad)
                    )));
                }
                if let Some(supported) = scopes_supported
                    && let Some(bad) = scopes.iter().find(|s| !supported.contains(s))
                {
                    return Err(MetadataError::metadata(format!(
                        "scope {bad:?} is not supported"
                    )));
                }
                Some(scopes)
            }
            Some(_) => {
                return Err(MetadataError::metadata(
                    "scope must be a space-separated string",
                ));
            }
        };

        let mut normalized = Map::new();
        if let Some(name) = &client_name {
            normalized.insert("client_name".into(), name.clone().into());
        }
        normalized.insert("redirect_uris".into(), redirect_uris.clone().into());
        normalized.insert(
            "token_endpoint_auth_method".into(),
            auth_method.as_str().into(),
        );
        normalized.insert("grant_types".into(), grant_types.clone().into());
        normalized.insert("response_types".into(), response_types.into());
        if let Some(scopes) = &scope {
            normalized.insert("scope".into(), scopes.join(" ").into());
        }
        normalized.insert("application_type".into(), application_type.as_str().into());

        Ok(Self {
            client_name,
            redirect_uris,
            auth_method,
            grant_types,
            scope,
            normalized,
        })
    }

    pub(crate) fn into_client(self, client_id: String, secret_hash: Option<String>) -> Client {
        Client {
            client_id,
            client_name: self.client_name,
            redirect_uris: self.redirect_uris,
            auth_method: self.auth_method,
            grant_types: self.grant_types,
            scope: self.scope,
            secret_hash,
        }
    }
}

fn string_array(
    map: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<Vec<String>>, MetadataError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if items.len() > max => {
            let e = format!("{field} may have at most {max} entries");
            Err(if field == "redirect_uris" {
                MetadataError::redirect(e)
            } else {
                MetadataError::metadata(e)
            })
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| bad_array(field)),
        Some(_) => Err(bad_array(field)),
    }
}

/// Removes repeated entries, keeping the first of each.
fn dedup(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for item in list {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// A client-supplied value shortened for an error message.
fn truncated(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn bad_array(field: &str) -> MetadataError {
    let e = format!("{field} must be an array of strings");
    if field == "redirect_uris" {
        MetadataError::redirect(e)
    } else {
        MetadataError::metadata(e)
    }
}

/// Schemes that would run code or read local data in the browser that follows the redirect.
const FORBIDDEN_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "file",
    "vbscript",
    "blob",
    "about",
    "ftp",
    "ws",
    "wss",
];

/// RFC 8252 / OAuth 2.1 §2.3 redirect URI rules: absolute, no fragment; `https`
/// anywhere; `http` only to a loopback host (native apps); other schemes are
/// native apps' private-use schemes (`cursor://…`, `com.example.app:/cb`) unless
/// they could run code in the browser.
pub(crate) fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    let url =
        Url::parse(uri).map_err(|_| format!("redirect URI {uri:?} is not an absolute URL"))?;
    if url.fragment().is_some() {
        return Err(format!("redirect URI {uri:?} must not contain a fragment"));
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "https" => Err(format!("redirect URI {uri:?} has no host")),
        "http" if is_loopback_host(&url) => Ok(()),
        "http" => Err(format!(
            "redirect URI {uri:?} uses http with a non-loopback host; use https or 127.0.0.1"
        )),
        s if FORBIDDEN_SCHEMES.contains(&s) => {
            Err(format!("redirect URI scheme {s:?} is not allowed"))
        }
        _ => Ok(()),
    }
}

/// Whether the URL's host is `localhost` or a loopback IP literal.
pub(crate) fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Exact string match, except that loopback IP redirect URIs match on any port:
/// RFC 8252 §7.3 and OAuth 2.1 §2.3.1 require it, because a native app only
/// learns its port from the OS when it starts listening.
pub(crate) fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(mut a), Ok(mut b)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    let loopback_ip = |u: &Url| {
        u.scheme() == "http"
            && matches!(u.host(), Some(Host::Ipv4(_) | Host::Ipv6(_)))
            && is_loopback_host(u)
    };
    if !loopback_ip(&a) || !loopback_ip(&b) {
        return false;
    }
    // Setting the port cannot fail on an http URL with a host.
    a.set_port(None).is_ok() && b.set_port(None).is_ok() && a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        assert!(validate_redirect_uri("https://app.example/cb").is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1:8000/cb").is_ok());
        assert!(validate_redirect_uri("http://[::1]/cb").is_ok());
        assert!(validate_redirect_uri("http://localhost:3000/cb").is_ok());
        assert!(
            validate_redirect_uri("cursor://anysphere.cursor-retrieval/oauth/callback").is_ok()
        );
        assert!(validate_redirect_uri("http://app.example/cb").is_err());
        assert!(validate_redirect_uri("https://app.example/cb#x").is_err());
        assert!(validate_redirect_uri("javascript:alert(1)").is_err());
        assert!(validate_redirect_uri("/relative").is_err());
    }

    #[test]
    fn loopback_ip_redirects_match_on_any_port_only() {
        assert!(redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:4242/cb"
        ));
        assert!(!redirect_uri_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:4242/other"
        ));
        assert!(!redirect_uri_matches(
            "http://localhost:1/cb",
            "http://localhost:2/cb"
        ));
        assert!(!redirect_uri_matches(
            "https://a.example/cb",
            "https://a.example:444/cb"
        ));
    }
}
