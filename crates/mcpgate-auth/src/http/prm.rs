//! RFC 9728 protected resource metadata, served at the path-inserted URL
//! (`/.well-known/oauth-protected-resource/mcp` for `/mcp`) and at the root,
//! because clients probe both and FastMCP's missing root broke some of them.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, header};

/// The well-known prefix of RFC 9728.
pub(crate) const PRM_PREFIX: &str = "/.well-known/oauth-protected-resource";

/// The metadata document, serialised once at start-up.
#[derive(Debug, Clone)]
pub(crate) struct MetadataDocument(pub(crate) axum::body::Bytes);

impl MetadataDocument {
    pub(crate) fn respond(&self) -> Response {
        tracing::debug!("discovery: served protected resource metadata");
        let mut response = Response::new(Body::from(self.0.clone()));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        response
    }
}
