//! Which web pages may call the registration, token and revocation endpoints.
//!
//! A browser attaches `Origin` to every cross-origin `fetch` and to every
//! `POST`, so the header tells a web page's request from a native client's
//! (which sends none). Pages on an allowed origin (MCP Inspector's, plus the
//! configured ones, plus this server's own) get the CORS grant of
//! [`OAUTH_ENDPOINT`] with their origin echoed; any other page is refused with
//! 403 before the endpoint runs, so it cannot even cause side effects with a
//! "simple" request that needs no preflight (a `text/plain` registration, a
//! form post to the token endpoint). Requests without `Origin` pass untouched.
//!
//! The discovery documents and the JWKS keep `Access-Control-Allow-Origin: *`:
//! they are the same public, read-only documents for everyone, carry nothing
//! a page could not learn otherwise, and browser-based MCP clients on any
//! origin need them to discover this server.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mcpgate_auth::http::cors::OAUTH_ENDPOINT;
use url::Url;

use crate::error::OAuthError;
use crate::state::{AppState, Shared};

/// Response headers a page on an allowed origin may read.
const EXPOSED: &str = "WWW-Authenticate, Retry-After";

/// The request's `Origin`, normalized as allowed origins are; `None` for an
/// origin that cannot be allowed (`null`, not a URL).
fn request_origin(value: &HeaderValue) -> Option<String> {
    let url = Url::parse(value.to_str().ok()?).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

impl Shared {
    /// Whether a page at `origin` may call the credential-free OAuth endpoints.
    pub(crate) fn origin_allowed(&self, origin: &HeaderValue) -> bool {
        request_origin(origin)
            .is_some_and(|o| o == self.own_origin || self.allowed_origins.contains(&o))
    }
}

/// Middleware for the registration, token and revocation routes.
pub(crate) async fn allow_listed_cors(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        let mut response = next.run(request).await;
        vary_on_origin(response.headers_mut());
        return response;
    };
    if !state.origin_allowed(&origin) {
        tracing::debug!(
            origin = %String::from_utf8_lossy(origin.as_bytes()),
            path = request.uri().path(),
            "refused a request from a web page whose origin is not allowed"
        );
        let mut response = OAuthError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            "requests from this web origin are not allowed; allow it with \
             DevAuthServerConfig::with_allowed_origins (mcpgate dev --allow-origin)",
        )
        .into_response();
        vary_on_origin(response.headers_mut());
        return response;
    }
    let mut response = if request.method() == Method::OPTIONS {
        OAUTH_ENDPOINT.preflight(request.headers())
    } else {
        let mut response = next.run(request).await;
        OAUTH_ENDPOINT.apply(response.headers_mut(), Some(&origin));
        response
    };
    grant(response.headers_mut(), origin);
    response
}

/// Names the allowed origin itself rather than `*` (which [`OAUTH_ENDPOINT`]
/// writes), so the grant is visibly tied to the allow-list.
fn grant(headers: &mut HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED),
    );
    vary_on_origin(headers);
}

/// The answer depends on `Origin`, so no cache may reuse it for another one.
fn vary_on_origin(headers: &mut HeaderMap) {
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}
