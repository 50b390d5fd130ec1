//! Authorization-server metadata discovery: from an issuer URL to its
//! `jwks_uri`, through OpenID Connect discovery
//! (`{issuer}/.well-known/openid-configuration`) or RFC 8414
//! (`{origin}/.well-known/oauth-authorization-server{path}`).
//!
//! Why it is strict: the metadata decides which keys are trusted, so a
//! document whose `issuer` is not exactly the configured one (RFC 8414 §3.3,
//! OIDC Discovery §4.3) is refused rather than followed, and the `jwks_uri`
//! must not downgrade to plain http. Bounded like a JWKS fetch: the caller's
//! client carries the timeouts and refuses redirects; the body is capped.

/// Why discovery found no usable `jwks_uri` (logged, never sent to clients).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The request failed (connect, timeout, TLS).
    #[error("request to {url} failed: {source}")]
    Http {
        /// The metadata URL.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with a non-success status.
    #[error("{url} answered {status}")]
    Status {
        /// The metadata URL.
        url: String,
        /// The status received.
        status: u16,
    },
    /// The body exceeded the size cap.
    #[error("{url}: body larger than {max} bytes")]
    TooLarge {
        /// The metadata URL.
        url: String,
        /// The cap.
        max: usize,
    },
    /// The body is not a JSON object.
    #[error("{url}: not a JSON metadata document")]
    NotMetadata {
        /// The metadata URL.
        url: String,
    },
    /// The document names another issuer.
    #[error("{url}: issuer is `{found}`, expected exactly `{expected}`")]
    IssuerMismatch {
        /// The metadata URL.
        url: String,
        /// The configured issuer.
        expected: String,
        /// What the document says.
        found: String,
    },
    /// The document has no usable `jwks_uri`.
    #[error("{url}: no https `jwks_uri` (found {found:?})")]
    NoJwksUri {
        /// The metadata URL.
        url: String,
        /// The value found, if any.
        found: Option<String>,
    },
    /// No metadata URL was configured.
    #[error("no metadata URL to try")]
    NothingToTry,
}

/// The standard metadata locations of `issuer`, in the order they are tried:
/// OpenID Connect discovery, then RFC 8414 (path inserted after the
/// well-known segment). An issuer that does not parse as a URL gives the
/// OpenID Connect form only.
pub fn metadata_urls(issuer: &str) -> Vec<String> {
    let trimmed = issuer.trim_end_matches('/');
    let mut urls = vec![format!("{trimmed}/.well-known/openid-configuration")];
    if let Ok(url) = url::Url::parse(issuer) {
        let path = url.path().trim_end_matches('/');
        let origin = url.origin().ascii_serialization();
        urls.push(format!(
            "{origin}/.well-known/oauth-authorization-server{path}"
        ));
    }
    urls
}

/// The `jwks_uri` of the first of `metadata_urls` that answers with a
/// document for exactly `issuer`. A URL that fails is logged and the next
/// one tried; the last failure is returned when none succeeds.
pub async fn resolve_jwks_uri(
    http: &reqwest::Client,
    metadata_urls: &[String],
    issuer: &str,
    max_body_bytes: usize,
) -> Result<String, DiscoveryError> {
    let mut last = DiscoveryError::NothingToTry;
    for url in metadata_urls {
        match one(http, url, issuer, max_body_bytes).await {
            Ok(jwks_uri) => return Ok(jwks_uri),
            Err(error) => {
                tracing::debug!(%url, %error, "metadata discovery attempt failed");
                last = error;
            }
        }
    }
    Err(last)
}

async fn one(
    http: &reqwest::Client,
    url: &str,
    issuer: &str,
    max: usize,
) -> Result<String, DiscoveryError> {
    let http_error = |source| DiscoveryError::Http {
        url: url.to_owned(),
        source,
    };
    let mut response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(http_error)?;
    if !response.status().is_success() {
        return Err(DiscoveryError::Status {
            url: url.to_owned(),
            status: response.status().as_u16(),
        });
    }
    let body = read_bounded(&mut response, max)
        .await
        .map_err(|e| match e {
            BodyError::Http(source) => DiscoveryError::Http {
                url: url.to_owned(),
                source,
            },
            BodyError::TooLarge => DiscoveryError::TooLarge {
                url: url.to_owned(),
                max,
            },
        })?;
    let document: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&body)
        .map_err(|_| DiscoveryError::NotMetadata {
            url: url.to_owned(),
        })?;
    let found = document
        .get("issuer")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    if found != issuer {
        return Err(DiscoveryError::IssuerMismatch {
            url: url.to_owned(),
            expected: issuer.to_owned(),
            found: found.to_owned(),
        });
    }
    let jwks_uri = document.get("jwks_uri").and_then(|v| v.as_str());
    // Plain http only where the issuer itself is plain http (a loopback
    // issuer in development; providers refuse other http issuers).
    let issuer_is_http = issuer.starts_with("http://");
    match jwks_uri.and_then(|u| url::Url::parse(u).ok()) {
        Some(u) if u.scheme() == "https" || (issuer_is_http && u.scheme() == "http") => {
            Ok(u.to_string())
        }
        _ => Err(DiscoveryError::NoJwksUri {
            url: url.to_owned(),
            found: jwks_uri.map(str::to_owned),
        }),
    }
}

/// Why a bounded body read failed.
pub(crate) enum BodyError {
    Http(reqwest::Error),
    TooLarge,
}

/// Reads a response body of at most `max` bytes, refusing early on a larger
/// `Content-Length` and stopping as soon as the cap is passed.
pub(crate) async fn read_bounded(
    response: &mut reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Http)? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_standard_locations_are_derived() {
        assert_eq!(
            metadata_urls("https://id.example.com/realms/acme"),
            [
                "https://id.example.com/realms/acme/.well-known/openid-configuration",
                "https://id.example.com/.well-known/oauth-authorization-server/realms/acme",
            ]
        );
        assert_eq!(
            metadata_urls("https://tenant.auth0.com/"),
            [
                "https://tenant.auth0.com/.well-known/openid-configuration",
                "https://tenant.auth0.com/.well-known/oauth-authorization-server",
            ]
        );
    }
}
