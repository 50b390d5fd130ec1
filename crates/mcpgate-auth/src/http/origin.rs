//! DNS-rebinding defences: the `Host` allow-list and the `Origin` check.
//!
//! The MCP specification requires servers to validate `Origin` (a foreign one
//! gets 403); reference SDKs also refuse a `Host` that is not theirs (421).
//! Both lists default to what the MCP URL implies, so a server is protected
//! without configuration.

use std::collections::HashSet;

use http::HeaderMap;
use http::header::{HOST, ORIGIN};
use url::Url;

use crate::types::McpUrl;

/// Which `Host` and `Origin` values the server answers.
#[derive(Debug, Clone)]
pub(crate) struct OriginPolicy {
    /// Lower-cased `host[:port]` authorities; `None` disables the Host check.
    hosts: Option<HashSet<String>>,
    /// Serialized origins (`scheme://host[:port]`) that may call the MCP endpoint.
    origins: HashSet<String>,
}

const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// Why a request was refused before authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OriginRejection {
    /// `Host` is not one of ours: 421 Misdirected Request.
    Host,
    /// `Origin` is present and foreign: 403.
    Origin,
}

impl OriginPolicy {
    /// The default policy for an MCP URL: its own authority (every loopback
    /// spelling when it is a loopback URL) and its own origin.
    pub(crate) fn for_mcp_url(url: &McpUrl) -> Self {
        let parsed = url.url();
        let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = parsed.port();
        let default_port = parsed.port_or_known_default();
        let names: Vec<String> = if is_loopback_name(&host) {
            LOOPBACK_NAMES.iter().map(|s| s.to_string()).collect()
        } else {
            vec![host]
        };
        let mut hosts = HashSet::new();
        let mut origins = HashSet::new();
        for name in &names {
            match port {
                Some(p) => {
                    hosts.insert(format!("{name}:{p}"));
                }
                None => {
                    hosts.insert(name.clone());
                    if let Some(p) = default_port {
                        hosts.insert(format!("{name}:{p}"));
                    }
                }
            }
            let origin = match port {
                Some(p) => format!("{}://{name}:{p}", parsed.scheme()),
                None => format!("{}://{name}", parsed.scheme()),
            };
            if let Some(o) = normalize_origin(&origin) {
                origins.insert(o);
            }
        }
        Self {
            hosts: Some(hosts),
            origins,
        }
    }

    /// Also accepts requests whose `Host` is `authority` (e.g. behind a proxy).
    pub(crate) fn allow_host(mut self, authority: &str) -> Self {
        if let Some(hosts) = &mut self.hosts {
            hosts.insert(authority.trim().to_ascii_lowercase());
        }
        self
    }

    /// Also accepts browser requests from `origin` (e.g. `http://localhost:6274`).
    /// Returns `None` if `origin` is not a valid origin.
    pub(crate) fn allow_origin(mut self, origin: &str) -> Option<Self> {
        self.origins.insert(normalize_origin(origin)?);
        Some(self)
    }

    pub(crate) fn check_host(
        &self,
        headers: &HeaderMap,
        uri_authority: Option<&str>,
    ) -> Result<(), OriginRejection> {
        let Some(hosts) = &self.hosts else {
            return Ok(());
        };
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or(uri_authority);
        match host {
            Some(h) if hosts.contains(&h.trim().to_ascii_lowercase()) => Ok(()),
            _ => Err(OriginRejection::Host),
        }
    }

    pub(crate) fn check_origin(&self, headers: &HeaderMap) -> Result<(), OriginRejection> {
        let mut values = headers.get_all(ORIGIN).iter();
        let Some(origin) = values.next() else {
            return Ok(()); // non-browser clients send none; the spec allows that
        };
        if values.next().is_some() {
            return Err(OriginRejection::Origin);
        }
        let allowed = origin
            .to_str()
            .ok()
            .and_then(normalize_origin)
            .is_some_and(|o| self.origins.contains(&o));
        if allowed {
            Ok(())
        } else {
            Err(OriginRejection::Origin)
        }
    }
}

fn is_loopback_name(host: &str) -> bool {
    matches!(host, "localhost" | "[::1]" | "::1") || host.starts_with("127.")
}

/// `scheme://host[:port]` with scheme and host lower-cased and the default port
/// dropped, so `http://LOCALHOST:80` and `http://localhost` compare equal.
fn normalize_origin(origin: &str) -> Option<String> {
    let origin = origin.trim();
    if origin == "null" {
        return None;
    }
    let url = Url::parse(origin).ok()?;
    if url.path() != "/" && !url.path().is_empty() {
        return None;
    }
    let serialized = url.origin().ascii_serialization();
    (serialized != "null").then_some(serialized)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(name: http::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn loopback_url_allows_every_loopback_spelling_on_its_port() {
        let p = OriginPolicy::for_mcp_url(&McpUrl::parse("http://localhost:8000/mcp").unwrap());
        for host in ["localhost:8000", "127.0.0.1:8000", "[::1]:8000"] {
            assert_eq!(p.check_host(&headers(HOST, host), None), Ok(()), "{host}");
        }
        assert_eq!(
            p.check_host(&headers(HOST, "evil.example:8000"), None),
            Err(OriginRejection::Host)
        );
        assert_eq!(
            p.check_host(&headers(HOST, "localhost:9000"), None),
            Err(OriginRejection::Host)
        );
        assert_eq!(
            p.check_origin(&headers(ORIGIN, "http://127.0.0.1:8000")),
            Ok(())
        );
        assert_eq!(
            p.check_origin(&headers(ORIGIN, "http://evil.example")),
            Err(OriginRejection::Origin)
        );
        assert_eq!(
            p.check_origin(&headers(ORIGIN, "null")),
            Err(OriginRejection::Origin)
        );
        assert_eq!(p.check_origin(&HeaderMap::new()), Ok(()));
    }

    #[test]
    fn public_url_allows_its_host_with_and_without_default_port() {
        let p = OriginPolicy::for_mcp_url(&McpUrl::parse("https://mcp.example.com/mcp").unwrap());
        assert_eq!(
            p.check_host(&headers(HOST, "MCP.example.com"), None),
            Ok(())
        );
        assert_eq!(
            p.check_host(&headers(HOST, "mcp.example.com:443"), None),
            Ok(())
        );
        assert_eq!(
            p.check_origin(&headers(ORIGIN, "https://mcp.example.com:443")),
            Ok(())
        );
        assert_eq!(
            p.check_origin(&headers(ORIGIN, "http://mcp.example.com")),
            Err(OriginRejection::Origin)
        );
        let p = p.allow_origin("http://localhost:6274").unwrap();
        assert_eq!(
            p.check_origin(&headers(ORIGIN, "http://localhost:6274")),
            Ok(())
        );
    }
}
