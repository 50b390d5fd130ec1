//! The authorization and token endpoints under a flood: pending consents are
//! capped per client (so one client cannot lock the others out), background
//! loads of the consent page are refused, and every unauthenticated endpoint
//! answers 429 with `Retry-After` past its per-IP rate.

use mcpgate_dev_as::RateLimits;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{Fixture, csrf_token, location_params, param, pkce, start, start_with};

/// More than the per-client cap of pending consents (16).
const FLOOD: usize = 40;

#[tokio::test]
async fn one_client_flooding_the_consent_page_cannot_lock_out_another() {
    let f = start_with(crate::common::config().with_rate_limits(RateLimits::unlimited())).await;
    let flooder = f.register_public().await;
    let victim = f.register_public().await;
    let (_, challenge) = pkce();

    let consent = |client: String| {
        let challenge = challenge.clone();
        let f = &f;
        async move {
            let page = f
                .authorize(&Fixture::auth_params(&client, &challenge, "openid"))
                .await;
            assert_eq!(page.status(), StatusCode::OK);
            csrf_token(&page.text().await.unwrap())
        }
    };
    let oldest = consent(flooder.clone()).await;
    let mut newest = String::new();
    for _ in 0..FLOOD {
        newest = consent(flooder.clone()).await;
    }

    // The other client is not affected.
    let theirs = consent(victim.clone()).await;
    let response = f.decide(&theirs, "approve", None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, q) = location_params(&response);
    assert!(param(&q, "code").is_some(), "{q:?}");

    // The flooding client only pushed out its own oldest requests.
    let response = f.decide(&oldest, "approve", None).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("expired"));
    let response = f.decide(&newest, "approve", None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn background_loads_of_the_consent_page_are_refused() {
    let f = start().await;
    let client = f.register_public().await;
    let (_, challenge) = pkce();
    let params = Fixture::auth_params(&client, &challenge, "openid");
    for dest in ["image", "empty", "script", "iframe", "style"] {
        let response = f
            .http
            .get(f.url("/oauth/authorize"))
            .query(&params)
            .header("sec-fetch-dest", dest)
            .header("sec-fetch-mode", "no-cors")
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{dest}");
        assert!(!response.text().await.unwrap().contains("csrf_token"));
    }
    // Node's fetch (the e2e suites' consent helper) sends Sec-Fetch-Mode but no
    // Sec-Fetch-Dest: not a browser page, so not refused.
    let response = f
        .http
        .get(f.url("/oauth/authorize"))
        .query(&params)
        .header("sec-fetch-mode", "cors")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // A top-level navigation, even from another site, is a person signing in.
    let response = f
        .http
        .get(f.url("/oauth/authorize"))
        .query(&params)
        .header("sec-fetch-dest", "document")
        .header("sec-fetch-mode", "navigate")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("csrf_token"));
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_authorization_endpoint_is_rate_limited_per_ip() {
    let f = start().await;
    let client = f.register_public().await;
    let (_, challenge) = pkce();
    let mut served = 0;
    let mut limited = None;
    for _ in 0..200 {
        let response = f
            .authorize(&Fixture::auth_params(&client, &challenge, "openid"))
            .await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
        served += 1;
    }
    let limited = limited.expect("the authorization endpoint must be rate-limited");
    assert!(served >= 30, "the burst allows 30, got {served}");
    assert!(retry_after(&limited) >= 1);
    assert!(
        limited.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn the_token_and_revocation_endpoints_are_rate_limited_per_ip() {
    let f = start().await;
    let form = [("grant_type", "client_credentials"), ("client_id", "m2m_0")];
    let mut answered = 0;
    let mut limited = None;
    for _ in 0..400 {
        let response = f
            .http
            .post(f.url("/oauth/token"))
            .form(&form)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        answered += 1;
    }
    let limited = limited.expect("the token endpoint must be rate-limited");
    assert!(answered >= 60, "the burst allows 60, got {answered}");
    assert!(retry_after(&limited) >= 1);
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");

    // Revocation shares the token endpoint's budget.
    let response = f
        .http
        .post(f.url("/oauth/revoke"))
        .form(&[("token", "x"), ("client_id", "m2m_0")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);

    // Without limits, the same traffic is never refused.
    let f = start_with(crate::common::config().with_rate_limits(RateLimits::unlimited())).await;
    for _ in 0..answered + 20 {
        let response = f
            .http
            .post(f.url("/oauth/token"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn an_oversized_state_is_not_kept() {
    let f = start().await;
    let client = f.register_public().await;
    let (_, challenge) = pkce();
    let state = "s".repeat(1025);
    let mut params = Fixture::auth_params(&client, &challenge, "openid");
    params.retain(|(k, _)| *k != "state");
    params.push(("state", &state));
    let response = f.authorize(&params).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let (_, q) = location_params(&response);
    assert_eq!(param(&q, "error"), Some("invalid_request"));
    assert_eq!(
        param(&q, "state"),
        None,
        "the oversized value is not echoed"
    );
    assert_eq!(param(&q, "iss"), Some(f.server.resource_issuer().as_str()));
}

#[tokio::test]
async fn the_public_documents_are_rate_limited_per_ip() {
    let mut limits = RateLimits::default();
    limits.documents = Some(mcpgate_dev_as::RateLimit::new(
        5,
        std::time::Duration::from_secs(60),
    ));
    let f = start_with(crate::common::config().with_rate_limits(limits)).await;
    let mut served = 0;
    let mut limited = None;
    for _ in 0..20 {
        let response = f.http.get(f.url("/keys")).send().await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
        served += 1;
    }
    assert_eq!(served, 5, "the burst is 5");
    let limited = limited.expect("the documents must be rate-limited");
    assert!(retry_after(&limited) >= 1);
    // Discovery shares the budget: the address is still over it.
    let response = f
        .http
        .get(f.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);

    // Turned off, the same traffic is never refused.
    let mut limits = RateLimits::default();
    limits.documents = None;
    let f = start_with(crate::common::config().with_rate_limits(limits)).await;
    for _ in 0..20 {
        let response = f.http.get(f.url("/keys")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
