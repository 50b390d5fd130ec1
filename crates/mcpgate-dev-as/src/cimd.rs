//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document):
//! a client whose `client_id` is an HTTPS URL is described by the JSON document
//! served at that URL, so it needs no registration.
//!
//! Fetching a URL a stranger chose is a server-side request; the limits below
//! (no redirects, short timeout, small body, https or loopback http only) keep a
//! local dev server from being turned against anything interesting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use url::Url;

use crate::client::{AuthMethod, Client, ClientMetadata, is_loopback_host};
use crate::error::Error;

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Short enough that editing the document during development shows up quickly.
const CACHE_TTL: Duration = Duration::from_secs(60);
const MAX_CACHE_ENTRIES: usize = 256;

/// Why a metadata document could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CimdError {
    #[error("client_id {0:?} is not a usable metadata document URL: {1}")]
    BadUrl(String, &'static str),
    #[error("fetching the client metadata document failed: {0}")]
    Fetch(String),
    #[error("the client metadata document answered HTTP {0} (redirects are not followed)")]
    Status(u16),
    #[error("the client metadata document is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("the client metadata document is not JSON: {0}")]
    NotJson(String),
    #[error("the client metadata document's client_id does not equal its URL")]
    ClientIdMismatch,
    #[error("the client metadata document is invalid: {0}")]
    Metadata(String),
}

/// Whether `client_id` names a metadata document rather than a registered client.
pub(crate) fn is_metadata_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// Fetches, validates and briefly caches metadata documents.
#[derive(Debug)]
pub(crate) struct CimdResolver {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, (Instant, Client)>>,
}

impl CimdResolver {
    pub(crate) fn new() -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .user_agent(concat!("mcpgate-dev-as/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::HttpClient(e.to_string()))?;
        Ok(Self {
            http,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The client described at `client_id`, from cache or freshly fetched.
    pub(crate) async fn resolve(&self, client_id: &str) -> Result<Client, CimdError> {
        if let Some(client) = self.cached(client_id) {
            return Ok(client);
        }
        let url = check_url(client_id)?;
        let body = self.fetch(url).await?;
        let document: Value =
            serde_json::from_slice(&body).map_err(|e| CimdError::NotJson(e.to_string()))?;
        // The document must claim exactly the URL it was fetched from, or one
        // client could impersonate another by pointing at its document.
        if document.get("client_id").and_then(Value::as_str) != Some(client_id) {
            return Err(CimdError::ClientIdMismatch);
        }
        let metadata = ClientMetadata::parse(document, AuthMethod::None, None)
            .map_err(|e| CimdError::Metadata(e.description))?;
        if metadata.auth_method != AuthMethod::None {
            // A secret cannot be shared through a public document.
            return Err(CimdError::Metadata(
                "token_endpoint_auth_method must be \"none\"".into(),
            ));
        }
        let client = metadata.into_client(client_id.to_owned(), None);
        self.remember(client.clone());
        Ok(client)
    }

    fn cached(&self, client_id: &str) -> Option<Client> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(client_id)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, c)| c.clone())
    }

    fn remember(&self, client: Client) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
        if cache.len() < MAX_CACHE_ENTRIES {
            cache.insert(client.client_id.clone(), (Instant::now(), client));
        }
    }

    async fn fetch(&self, url: Url) -> Result<Vec<u8>, CimdError> {
        let mut response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| CimdError::Fetch(e.to_string()))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(CimdError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(CimdError::TooLarge);
        }
        // Content-Length may be absent or lie; count what actually arrives.
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| CimdError::Fetch(e.to_string()))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(CimdError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The URL rules of the draft (§3): https, a path, no fragment, no credentials,
/// no dot segments; plus `http` to a loopback host, which a dev server allows so a
/// client under development can serve its document locally.
fn check_url(client_id: &str) -> Result<Url, CimdError> {
    let bad = |why| CimdError::BadUrl(client_id.to_owned(), why);
    let url = Url::parse(client_id).map_err(|_| bad("not a URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&url) => {}
        _ => return Err(bad("must be https (or http on a loopback host)")),
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain credentials"));
    }
    if url.path() == "/" {
        return Err(bad("must have a path"));
    }
    // Parsing resolves dot segments and normalizes case; the client_id must
    // already be in that form so that string comparison stays meaningful.
    if url.as_str() != client_id {
        return Err(bad(
            "must be in normalized form (no dot segments, lower-case scheme and host)",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_url_rules() {
        assert!(check_url("https://client.example/meta.json").is_ok());
        assert!(check_url("http://127.0.0.1:9/meta.json").is_ok());
        assert!(check_url("http://client.example/meta.json").is_err());
        assert!(check_url("https://client.example/").is_err());
        assert!(check_url("https://client.example/a/../meta.json").is_err());
        assert!(check_url("https://u:p@client.example/meta.json").is_err());
        assert!(check_url("https://client.example/meta.json#x").is_err());
    }
}
