//! The consent page lets the user grant a subset of the requested scopes:
//! one checkbox per scope, all checked by default; the token carries
//! exactly the boxes that came back checked.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{Fixture, csrf_token, location_params, param, pkce, start};

const REQUESTED: &str = "openid mcp:tools email offline_access";

/// Opens the consent page for a fresh public client; returns the page, the
/// client id and the PKCE verifier.
async fn consent_page(f: &Fixture) -> (String, String, String) {
    let client = f.register_public().await;
    let (verifier, challenge) = pkce();
    let page = f
        .authorize(&Fixture::auth_params(&client, &challenge, REQUESTED))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    (page.text().await.unwrap(), client, verifier)
}

/// Approves with exactly `form` (plus the CSRF token) and redeems the code;
/// returns the token response and the verified claims.
async fn approve_with(
    f: &Fixture,
    html: &str,
    client: &str,
    verifier: &str,
    form: &[(&str, &str)],
) -> (Value, Value) {
    let csrf = csrf_token(html);
    let mut all = vec![("csrf_token", csrf.as_str()), ("decision", "approve")];
    all.extend_from_slice(form);
    let response = f
        .http
        .post(f.url("/oauth/authorize/decision"))
        .form(&all)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, params) = location_params(&response);
    let code = param(&params, "code").expect("a code").to_owned();
    let (status, body) = f.exchange_code(client, &code, verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = f.verify(body["access_token"].as_str().unwrap()).await;
    (body, claims)
}

#[tokio::test]
async fn every_requested_scope_has_a_checked_box_inside_the_form() {
    let f = start().await;
    let (html, _, _) = consent_page(&f).await;
    let form_start = html.find("<form").unwrap();
    let form_end = html.find("</form>").unwrap();
    for (i, scope) in REQUESTED.split(' ').enumerate() {
        let checkbox =
            format!("<input type=\"checkbox\" name=\"grant_scope_{i}\" value=\"{scope}\" checked>");
        let at = html
            .find(&checkbox)
            .unwrap_or_else(|| panic!("{checkbox} in {html}"));
        assert!(form_start < at && at < form_end, "{scope}: inside the form");
    }
    assert!(html.contains("<input type=\"hidden\" name=\"scope_selection\" value=\"1\">"));
}

#[tokio::test]
async fn the_token_gets_only_the_checked_scopes() {
    let f = start().await;
    let (html, client, verifier) = consent_page(&f).await;
    // openid (0) and offline_access (3) unticked: a browser sends neither.
    let (body, claims) = approve_with(
        &f,
        &html,
        &client,
        &verifier,
        &[
            ("scope_selection", "1"),
            ("grant_scope_1", "mcp:tools"),
            ("grant_scope_2", "email"),
        ],
    )
    .await;
    assert_eq!(claims["scope"], "mcp:tools email");
    assert_eq!(body["scope"], "mcp:tools email");
    assert!(
        body.get("refresh_token").is_none(),
        "offline_access was not granted"
    );
}

#[tokio::test]
async fn a_box_grants_only_the_scope_it_was_rendered_for() {
    let f = start().await;
    let (html, client, verifier) = consent_page(&f).await;
    let (_, claims) = approve_with(
        &f,
        &html,
        &client,
        &verifier,
        &[
            ("scope_selection", "1"),
            // Box 0 was rendered for openid; another value grants nothing.
            ("grant_scope_0", "profile"),
            ("grant_scope_1", "mcp:tools"),
            // No box 9 was rendered.
            ("grant_scope_9", "email"),
        ],
    )
    .await;
    assert_eq!(claims["scope"], "mcp:tools");
}

#[tokio::test]
async fn all_unticked_grants_nothing_and_no_boxes_at_all_grants_everything() {
    let f = start().await;
    let (html, client, verifier) = consent_page(&f).await;
    let (body, claims) =
        approve_with(&f, &html, &client, &verifier, &[("scope_selection", "1")]).await;
    assert_eq!(claims["scope"], "");
    assert_eq!(body["scope"], "");

    // A client that posts only the decision (no checkbox marker) gets what
    // it asked for, as before the page had checkboxes.
    let (html, client, verifier) = consent_page(&f).await;
    let (body, claims) = approve_with(&f, &html, &client, &verifier, &[]).await;
    assert_eq!(claims["scope"], REQUESTED);
    assert!(body["refresh_token"].is_string());
}
