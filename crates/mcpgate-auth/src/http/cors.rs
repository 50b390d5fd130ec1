//! CORS, one mechanism for every route: a [`Cors`] policy value says who may
//! read a route cross-origin, and [`Cors::apply`] / [`Cors::preflight`] (or
//! the [`cors`] middleware) write the headers. Browser-based MCP clients (MCP
//! Inspector, web apps) read the metadata documents cross-origin and must be
//! able to see `WWW-Authenticate` and `Mcp-Session-Id` on MCP responses.
//!
//! None of these routes relies on cookies or other ambient credentials, which
//! is why `*` is safe where it is used; the MCP endpoint echoes only an origin
//! that already passed the Origin check.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

/// Which `Access-Control-Allow-Origin` a policy answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AllowOrigin {
    /// `*`.
    Any,
    /// The request's `Origin` (which the caller has already checked), or `*`
    /// for requests without one.
    Checked,
}

/// A CORS policy for one kind of route.
#[derive(Debug, Clone, Copy)]
pub struct Cors {
    allow_origin: AllowOrigin,
    allow_methods: &'static str,
    /// `None`: echo the preflight's `Access-Control-Request-Headers`.
    allow_headers: Option<&'static str>,
    /// Used when `allow_headers` echoes and the preflight asked for none.
    default_headers: &'static str,
    expose_headers: Option<&'static str>,
}

/// Public, credential-free documents (RFC 9728 and RFC 8414 metadata).
pub const PUBLIC_DOCUMENT: Cors = Cors {
    allow_origin: AllowOrigin::Any,
    allow_methods: "GET, OPTIONS",
    allow_headers: Some("Accept, MCP-Protocol-Version"),
    default_headers: "",
    expose_headers: None,
};

/// The MCP endpoint: only an origin that passed the Origin check is echoed.
pub const MCP_ENDPOINT: Cors = Cors {
    allow_origin: AllowOrigin::Checked,
    allow_methods: "GET, POST, DELETE, OPTIONS",
    allow_headers: Some(
        "Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name",
    ),
    default_headers: "",
    expose_headers: Some("WWW-Authenticate, Mcp-Session-Id, Mcp-Protocol-Version, Retry-After"),
};

/// Credential-free OAuth endpoints a browser client calls directly
/// (discovery, keys, registration, token, revocation): requested headers are
/// echoed so clients that add their own keep working.
pub const OAUTH_ENDPOINT: Cors = Cors {
    allow_origin: AllowOrigin::Any,
    allow_methods: "GET, POST, OPTIONS",
    allow_headers: None,
    default_headers: "Authorization, Content-Type, Accept, MCP-Protocol-Version",
    expose_headers: Some("WWW-Authenticate"),
};

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

impl Cors {
    /// Adds this policy's headers to a response for a request from `origin`.
    pub fn apply(&self, headers: &mut HeaderMap, origin: Option<&HeaderValue>) {
        match (self.allow_origin, origin) {
            (AllowOrigin::Checked, Some(origin)) => {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                headers.append(header::VARY, HeaderValue::from_static("Origin"));
            }
            _ => {
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
            }
        }
        if let Some(exposed) = self.expose_headers {
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(exposed),
            );
        }
    }

    /// The answer to a preflight (`OPTIONS`) request with these headers.
    pub fn preflight(&self, request: &HeaderMap) -> Response {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        self.apply(headers, request.get(header::ORIGIN));
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(self.allow_methods),
        );
        let allowed = match self.allow_headers {
            Some(fixed) => HeaderValue::from_static(fixed),
            None => request
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static(self.default_headers)),
        };
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(PREFLIGHT_MAX_AGE),
        );
        response
    }
}

/// Middleware applying a policy to every route it wraps: preflights are
/// answered here, every other response gets the policy's headers.
///
/// ```
/// use axum::{Router, middleware::from_fn_with_state, routing::get};
/// use mcpgate_auth::http::cors::{OAUTH_ENDPOINT, cors};
///
/// let app: Router = Router::new()
///     .route("/token", get(|| async { "{}" }))
///     .layer(from_fn_with_state(&OAUTH_ENDPOINT, cors));
/// ```
pub async fn cors(State(policy): State<&'static Cors>, request: Request, next: Next) -> Response {
    if request.method() == Method::OPTIONS {
        return policy.preflight(request.headers());
    }
    let origin = request.headers().get(header::ORIGIN).cloned();
    let mut response = next.run(request).await;
    policy.apply(response.headers_mut(), origin.as_ref());
    response
}
