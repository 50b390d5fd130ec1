//! CORS headers. Browser-based MCP clients (MCP Inspector, web apps) read the
//! metadata documents cross-origin and must be able to see `WWW-Authenticate`
//! and `Mcp-Session-Id` on MCP responses.

use http::{HeaderMap, HeaderValue, header};

/// Headers a browser may send to the MCP endpoint.
const ALLOWED_REQUEST_HEADERS: &str = "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name";

/// Response headers a browser script may read.
const EXPOSED_HEADERS: &str = "WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version";

/// For public, credential-free documents (metadata): any origin may read them.
pub(crate) fn public_document(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Accept, MCP-Protocol-Version"),
    );
}

/// For the MCP endpoint: only an origin that passed the Origin check is echoed.
pub(crate) fn mcp_endpoint(headers: &mut HeaderMap, origin: Option<&HeaderValue>) {
    match origin {
        Some(origin) => {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        None => {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
    }
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_HEADERS),
    );
}

/// The extra headers of a preflight answer for the MCP endpoint.
pub(crate) fn mcp_preflight(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_REQUEST_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
}
