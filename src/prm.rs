//! RFC 9728 protected resource metadata, served at the path-inserted URL
//! (`/.well-known/oauth-protected-resource/mcp` for `/mcp`) and at the root,
//! because clients probe both and FastMCP's missing root broke some of them.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::cors;

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
        cors::public_document(headers);
        response
    }
}

/// Answer to `OPTIONS` on a public document.
pub(crate) fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    cors::public_document(response.headers_mut());
    response
}
