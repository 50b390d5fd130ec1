//! The authorization endpoint: `GET /oauth/authorize` validates the request and
//! shows the consent page; `POST /oauth/authorize/decision` turns the user's
//! answer into a code (or `access_denied`) sent back to the client.
//!
//! Until the client and its redirect URI are established, errors are shown to
//! the user and never redirected (RFC 6749 §4.1.2.1): redirecting to an
//! unverified URI would make this server an open redirector.

use axum::body::Bytes;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use url::Url;

use crate::cimd::is_metadata_url;
use crate::config::canonical_resource;
use crate::consent::{
    ConsentView, GRANT_PREFIX, SELECTION_FIELD, error_response, html_response, render_consent,
};
use crate::keys::random_digits_id;
use crate::params::{Params, split_scopes};
use crate::pending::{AuthCode, PendingConsent};
use crate::secret::is_pkce_value;
use crate::state::{AppState, ClientLookupError, Shared};

/// Where the consent form posts.
pub(crate) const DECISION_PATH: &str = "/oauth/authorize/decision";
const MAX_SUBJECT_CHARS: usize = 200;
/// Bytes of `state` kept with a pending consent.
const MAX_STATE_LEN: usize = 1024;

/// Middleware for `GET /oauth/authorize`: a browser may load it only as a
/// top-level page. Browsers label every request with `Sec-Fetch-Dest`; an
/// image, script, `fetch` or frame load of the consent page is another site
/// driving this server from the background, never a user signing in (the
/// page forbids framing anyway). Clients that send no `Sec-Fetch-Dest` (older
/// browsers, native HTTP clients) are unaffected.
pub(crate) async fn top_level_navigation_only(request: Request, next: Next) -> Response {
    let dest = request.headers().get("sec-fetch-dest");
    if dest.is_some_and(|d| d.as_bytes() != b"document") {
        tracing::debug!(
            dest = %String::from_utf8_lossy(dest.map(HeaderValue::as_bytes).unwrap_or_default()),
            "refused an authorization request that is not a top-level navigation"
        );
        return error_response(
            StatusCode::FORBIDDEN,
            "Request refused",
            "The sign-in page can only be opened as a page of its own.",
        );
    }
    next.run(request).await
}

/// `GET /oauth/authorize`.
pub(crate) async fn authorize(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => {
            return error_response(StatusCode::BAD_REQUEST, "Invalid authorization request", &e);
        }
    };
    let Some(client_id) = params.get("client_id") else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "Invalid authorization request",
            "client_id is missing.",
        );
    };
    let client = match state.resolve_client(client_id).await {
        Ok(c) => c,
        Err(ClientLookupError::Store(e)) => {
            tracing::error!(error = %e, "client lookup failed");
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Server error",
                "See the server log.",
            );
        }
        Err(e) => {
            tracing::info!(client_id, error = %e, "authorization request from an unusable client");
            return error_response(
                StatusCode::BAD_REQUEST,
                "Unknown application",
                &format!("Client {client_id}: {e}."),
            );
        }
    };

    let (redirect_uri, redirect_uri_in_request) = match params.get("redirect_uri") {
        Some(requested) => match client.find_redirect_uri(requested) {
            // Keep the URI as requested: with a loopback IP it carries the app's actual port.
            Some(_) => (requested.to_owned(), true),
            None => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "Redirect URI mismatch",
                    &format!(
                        "{requested} is not registered for {}.",
                        client.display_name()
                    ),
                );
            }
        },
        None if client.redirect_uris.len() == 1 => (client.redirect_uris[0].clone(), false),
        None => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "Invalid authorization request",
                "redirect_uri is required when a client has several.",
            );
        }
    };
    let Ok(redirect_url) = Url::parse(&redirect_uri) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "Invalid redirect URI",
            "The redirect URI is not a URL.",
        );
    };

    // From here on, errors go back to the client.
    let state_param = params.get("state").map(str::to_owned);
    if state_param
        .as_ref()
        .is_some_and(|s| s.len() > MAX_STATE_LEN)
    {
        // Not echoed back: it is the oversized part.
        return redirect(
            StatusCode::FOUND,
            &redirect_url,
            &error_params(
                &state,
                "invalid_request",
                &format!("state is longer than {MAX_STATE_LEN} bytes"),
                None,
            ),
        );
    }
    let fail = |code: &str, description: &str| {
        redirect(
            StatusCode::FOUND,
            &redirect_url,
            &error_params(&state, code, description, state_param.as_deref()),
        )
    };

    match params.get("response_type") {
        Some("code") => {}
        None => return fail("invalid_request", "response_type is required"),
        Some(_) => return fail("unsupported_response_type", "response_type must be code"),
    }
    let Some(code_challenge) = params.get("code_challenge") else {
        return fail("invalid_request", "code_challenge is required (PKCE)");
    };
    if params.get("code_challenge_method") != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    // An S256 challenge is a base64url SHA-256: 43 characters of the verifier alphabet.
    if code_challenge.len() != 43 || !is_pkce_value(code_challenge) {
        return fail(
            "invalid_request",
            "code_challenge is not a base64url SHA-256 value",
        );
    }
    if let Err(description) = check_resources(&state, params.resources()) {
        return fail("invalid_target", &description);
    }
    let scopes = match params.get("scope") {
        Some(scope) => split_scopes(scope),
        // Without a scope, grant what the client registered for, else everything
        // offered: the dev server should simply work for a client that asks for nothing.
        None => client
            .scope
            .clone()
            .unwrap_or_else(|| state.config.scopes_supported.clone()),
    };
    if let Some(bad) = scopes
        .iter()
        .find(|s| !state.config.scopes_supported.contains(s))
    {
        return fail("invalid_scope", &format!("scope {bad} is not supported"));
    }
    if !client.may_request(&scopes) {
        return fail(
            "invalid_scope",
            "the client did not register for all requested scopes",
        );
    }

    let consent = PendingConsent::new(
        client.client_id.clone(),
        redirect_uri,
        redirect_uri_in_request,
        state_param.clone(),
        code_challenge.to_owned(),
        scopes.clone(),
    );
    let csrf_token = state.pending.insert_consent(consent);
    let redirect_target = match redirect_url.host_str() {
        Some(host) => match redirect_url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        },
        None => format!("{}:", redirect_url.scheme()),
    };
    let metadata_host = if is_metadata_url(&client.client_id) {
        Url::parse(&client.client_id)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
    } else {
        None
    };
    let html = render_consent(&ConsentView {
        client_name: client.display_name(),
        client_id: &client.client_id,
        redirect_target: &redirect_target,
        scopes: &scopes,
        resource: &state.mcp_url,
        subject: &state.dev_user_id,
        csrf_token: &csrf_token,
        action: DECISION_PATH,
        metadata_host: metadata_host.as_deref(),
    });
    html_response(StatusCode::OK, html)
}

/// `POST /oauth/authorize/decision`.
pub(crate) async fn decision(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !same_origin(&headers) {
        return error_response(
            StatusCode::FORBIDDEN,
            "Request refused",
            "The form was submitted from another site.",
        );
    }
    let params = match Params::parse(&body) {
        Ok(p) => p,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, "Invalid form", &e),
    };
    // The CSRF token is the only handle on the pending request: unguessable, bound
    // to it, removed on first use and expiring with it.
    let Some(consent) = params
        .get("csrf_token")
        .and_then(|t| state.pending.take_consent(t))
    else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "This sign-in request has expired",
            "Start again from the application.",
        );
    };
    let Ok(redirect_url) = Url::parse(&consent.redirect_uri) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "Invalid redirect URI",
            "The redirect URI is not a URL.",
        );
    };
    let state_param = consent.state.clone();
    match params.get("decision") {
        Some("approve") => {}
        Some("deny") => {
            let p = error_params(
                &state,
                "access_denied",
                "the user denied the request",
                state_param.as_deref(),
            );
            return redirect(StatusCode::SEE_OTHER, &redirect_url, &p);
        }
        _ => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "Invalid form",
                "decision must be approve or deny.",
            );
        }
    }
    let subject = match params.get("subject").map(str::trim) {
        None | Some("") => state.dev_user_id.clone(),
        Some(s) if s.chars().count() <= MAX_SUBJECT_CHARS && !s.chars().any(char::is_control) => {
            s.to_owned()
        }
        Some(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "Invalid user",
                "The user id is too long or not printable.",
            );
        }
    };
    let mut consent = consent;
    consent.scopes = granted_scopes(&params, &consent.scopes);
    let code = AuthCode::new(consent, subject, random_digits_id("ses_"));
    let Some(code) = state.pending.insert_code(code) else {
        let p = error_params(
            &state,
            "temporarily_unavailable",
            "too many outstanding codes",
            state_param.as_deref(),
        );
        return redirect(StatusCode::SEE_OTHER, &redirect_url, &p);
    };
    let mut p = vec![("code", code)];
    if let Some(s) = state_param {
        p.push(("state", s));
    }
    p.push(("iss", state.resource_issuer()));
    redirect(StatusCode::SEE_OTHER, &redirect_url, &p)
}

/// The scopes the user granted on the consent page: the requested scopes
/// whose checkbox came back checked, in the requested order. A form without
/// the checkbox marker (a client posting only the decision) grants them all.
/// A box can only grant the scope it was rendered for: its value must be
/// the requested scope at its index, so a forged field adds nothing.
fn granted_scopes(params: &Params, requested: &[String]) -> Vec<String> {
    if params.get(SELECTION_FIELD).is_none() {
        return requested.to_vec();
    }
    requested
        .iter()
        .enumerate()
        .filter(|(i, scope)| params.get(&format!("{GRANT_PREFIX}{i}")) == Some(scope.as_str()))
        .map(|(_, scope)| scope.clone())
        .collect()
}

/// RFC 8707: every `resource` must name the MCP server this server issues tokens for.
pub(crate) fn check_resources(state: &Shared, resources: &[String]) -> Result<(), String> {
    for r in resources {
        let matches = Url::parse(r)
            .is_ok_and(|u| u.fragment().is_none() && canonical_resource(&u) == state.mcp_url);
        if !matches {
            return Err(format!(
                "resource {r} is not served by this authorization server; expected {}",
                state.mcp_url
            ));
        }
    }
    Ok(())
}

fn error_params(
    state: &Shared,
    code: &str,
    description: &str,
    state_param: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("error", code.to_owned()),
        ("error_description", description.to_owned()),
    ];
    if let Some(s) = state_param {
        p.push(("state", s.to_owned()));
    }
    // RFC 9207: lets the client check which server answered (mix-up defence).
    p.push(("iss", state.resource_issuer()));
    p
}

fn redirect(status: StatusCode, base: &Url, params: &[(&str, String)]) -> Response {
    let mut url = base.clone();
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    let Ok(location) = HeaderValue::from_str(url.as_str()) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "Invalid redirect URI",
            "The redirect URI cannot be used.",
        );
    };
    let mut response = status.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// A browser always sends `Origin` on a cross-site form post; when present it
/// must name this server (the `Host` the browser addressed). Absent is allowed:
/// tests and older browsers omit it, and the CSRF token still protects the form.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let (Ok(origin), Some(Ok(host))) = (
        origin.to_str(),
        headers.get(header::HOST).map(|h| h.to_str()),
    ) else {
        return false;
    };
    Url::parse(origin).ok().is_some_and(|o| {
        let authority = match (o.host_str(), o.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => return false,
        };
        authority.eq_ignore_ascii_case(host)
    })
}
