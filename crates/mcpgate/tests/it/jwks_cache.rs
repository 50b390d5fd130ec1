//! The JWKS cache, observed from outside: fetches are counted at the Scalekit
//! stand-in, behaviour at the MCP endpoint.

use std::sync::Arc;
use std::time::Duration;

use http::{StatusCode, header};
use mcpgate::jwks::{JwksCache, JwksConfig, KeyLookupError};
use mcpgate_dev_as::keys::random_digits_id;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::*;

async fn status_of(server: &TestServer, token: &str) -> StatusCode {
    server.initialize(Some(token)).await.status()
}

/// A token signed by the current key but naming a random, unpublished `kid`.
fn random_kid_token(server: &TestServer) -> String {
    forge(
        &server.idp.signer(),
        &scalekit_header(&random_digits_id("snk_")),
        &server.claims(),
    )
}

/// Moves tokio's clock, on which the cache measures key-set lifetimes and
/// refetch slots, forward by `by` without waiting for it.
///
/// The clock is paused only while no fetch is in flight, and callers make
/// sure of that: a paused clock jumps to the next timer whenever the runtime
/// is idle, and a real loopback fetch does leave it idle at moments, so
/// reqwest's connect and request timeouts could fire under a fetch that is
/// doing fine. Skips stay well under the servers' own timers (30 s to read a
/// request head, idle keep-alive connections included), so no connection is
/// dropped under a client. (`pause` needs the current-thread runtime,
/// `#[tokio::test]`'s default.)
async fn skip(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}

/// A request with a valid token was answered: the start-up fetch has
/// completed, so its key set is stored and its lifetime is running.
async fn assert_warm(server: &TestServer) {
    assert_eq!(status_of(server, &server.token()).await, StatusCode::OK);
    assert_eq!(server.idp.keys_hits(), 1, "the start-up fetch only");
}

// --- laziness and single flight -------------------------------------------------

#[tokio::test]
async fn building_a_provider_fetches_no_keys_until_one_is_needed() {
    let idp = StandIn::start().await;
    let resource = idp.provider("http://127.0.0.1:1/mcp").build().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(idp.keys_hits(), 0, "nothing is fetched at build time");
    assert_eq!(
        resource.jwt_verifier().unwrap().keys().jwks_uri(),
        format!("{}/keys", idp.url())
    );

    let key = resource
        .jwt_verifier()
        .unwrap()
        .keys()
        .key(idp.signer().kid())
        .await;
    assert!(key.is_ok());
    assert_eq!(idp.keys_hits(), 1);
    assert_eq!(resource.jwt_verifier().unwrap().keys().fetch_count(), 1);
}

#[tokio::test]
async fn server_warms_the_cache_once_at_start_and_requests_reuse_it() {
    let server = TestServer::start().await;
    // The one fetch before any request is the start-up prefetch.
    server.idp.wait_for_keys_hits(1).await;
    for _ in 0..5 {
        assert_eq!(status_of(&server, &server.token()).await, StatusCode::OK);
    }
    assert_eq!(
        server.idp.keys_hits(),
        1,
        "known keys are served from the cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_lookups_share_one_fetch() {
    let idp = StandIn::start().await;
    idp.set_keys_mode(KeysMode::Slow(Duration::from_millis(300)));
    let cache = JwksCache::new(format!("{}/keys", idp.url()), test_jwks_config());
    let kid = idp.signer().kid().to_owned();
    let lookups: Vec<_> = (0..32)
        .map(|_| {
            let (cache, kid) = (cache.clone(), kid.clone());
            tokio::spawn(async move { cache.key(&kid).await.map(|_| ()) })
        })
        .collect();
    for lookup in lookups {
        assert_eq!(lookup.await.unwrap(), Ok(()));
    }
    assert_eq!(idp.keys_hits(), 1, "32 concurrent misses, one fetch");
    assert_eq!(cache.fetch_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_requests_during_the_warm_up_fetch_share_it() {
    let idp = StandIn::start().await;
    idp.set_keys_mode(KeysMode::Slow(Duration::from_millis(400)));
    // The default 5 s interval: a request that wrongly waits for the next slot
    // would take seconds, and would cause a second fetch.
    let server = TestServer::start_with(idp, |p| p.jwks_config(JwksConfig::default())).await;
    let server = Arc::new(server);
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move {
                let token = server.token();
                status_of(&server, &token).await
            })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(
        server.idp.keys_hits(),
        1,
        "prefetch and 20 first requests share one fetch"
    );
}

// --- rotation ---------------------------------------------------------------------

#[tokio::test]
async fn rotated_key_is_accepted_after_a_refetch_and_old_key_keeps_working() {
    let server = TestServer::start().await;
    server.idp.wait_for_keys_hits(1).await;
    let old_token = server.token();
    assert_eq!(status_of(&server, &old_token).await, StatusCode::OK);

    server.idp.rotate();
    let new_token = server.token();
    assert_eq!(
        status_of(&server, &new_token).await,
        StatusCode::OK,
        "new kid accepted after refetch"
    );
    assert_eq!(server.idp.keys_hits(), 2, "one refetch for the new kid");
    assert_eq!(
        status_of(&server, &old_token).await,
        StatusCode::OK,
        "old key still published"
    );
    assert_eq!(status_of(&server, &server.token()).await, StatusCode::OK);
    assert_eq!(server.idp.keys_hits(), 2, "no further fetches");
}

#[tokio::test]
async fn retired_key_is_dropped_only_by_a_successful_fetch() {
    let server = TestServer::start().await;
    server.idp.wait_for_keys_hits(1).await;
    let old_token = server.token();
    let old_kid = server.idp.signer().kid().to_owned();

    // The issuer retires the old key, but is down when we next refetch.
    server.idp.rotate();
    server.idp.retire_old_keys();
    server.idp.set_keys_mode(KeysMode::Error500);
    let response = server.initialize(Some(&random_kid_token(&server))).await;
    assert_eq!(
        www_authenticate(&response),
        server.invalid_token("unknown signing key")
    );
    assert_eq!(server.idp.keys_hits(), 2);
    assert_eq!(
        status_of(&server, &old_token).await,
        StatusCode::OK,
        "a failed fetch drops nothing"
    );

    // Back up: the next fetch (caused by the new kid) drops the old key.
    server.idp.set_keys_mode(KeysMode::Normal);
    assert_eq!(status_of(&server, &server.token()).await, StatusCode::OK);
    let response = server.initialize(Some(&old_token)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        www_authenticate(&response),
        server.invalid_token("unknown signing key")
    );
    assert!(!server.idp.jwks().to_string().contains(&old_kid));
}

// --- the refetch limit at its default ----------------------------------------------------

/// The refetch limit at its real default interval (the other tests use 1 s),
/// on tokio's clock: seconds pass without being waited for.
#[tokio::test]
async fn unknown_kid_refetch_limit_holds_at_the_default_interval() {
    let interval = JwksConfig::default().refetch_interval;
    assert_eq!(interval, Duration::from_secs(5), "the README's 5 s");
    let idp = StandIn::start().await;
    let cache = JwksCache::new(format!("{}/keys", idp.url()), JwksConfig::default());
    assert!(cache.key(idp.signer().kid()).await.is_ok());
    assert_eq!(idp.keys_hits(), 1, "first use fetches");
    // Leave the first fetch's interval behind.
    skip(interval).await;

    // An unknown kid triggers one refetch (it started between these instants).
    let refetch_after = Instant::now();
    assert_eq!(
        cache.key("snk_000000000000000001").await.err(),
        Some(KeyLookupError::UnknownKid)
    );
    let refetch_before = Instant::now();
    assert_eq!(idp.keys_hits(), 2, "one refetch for the unknown kid");

    // A second unknown kid within the interval. The issuer has published it
    // by now, so a fetch would find it: the lookup waits for the next slot.
    let kid = idp.rotate().kid().to_owned();
    let mut second = tokio::spawn({
        let (cache, kid) = (cache.clone(), kid.clone());
        async move { cache.key(&kid).await.map(|_| ()) }
    });
    // The next slot opens `interval` after the refetch started, so not before
    // `refetch_after + interval`. Wait on the paused clock until just before
    // that: with nothing in flight, the idle runtime jumps straight there.
    // (Were the lookup to fetch at once, that fetch would be the one thing in
    // flight, and its loopback round trip would finish it first.)
    tokio::time::pause();
    let within = refetch_after + interval - Duration::from_millis(1);
    let early = tokio::time::timeout_at(within, &mut second).await;
    assert!(early.is_err(), "answered within the interval: {early:?}");
    assert_eq!(idp.keys_hits(), 2, "no refetch within the interval");
    assert!(!cache.has_key(&kid));

    // Past the interval the waiting lookup refetches, with the clock running
    // again before its fetch starts (`advance` hands control back first).
    let past = (refetch_before + interval).saturating_duration_since(Instant::now());
    tokio::time::advance(past).await;
    tokio::time::resume();
    assert_eq!(second.await.unwrap(), Ok(()), "found after the refetch");
    assert_eq!(
        idp.keys_hits(),
        3,
        "one refetch once the interval has passed"
    );
}

// --- flood ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_kid_flood_is_rate_limited_to_one_fetch_per_interval() {
    let server = Arc::new(TestServer::start().await);
    server.idp.wait_for_keys_hits(1).await;
    let baseline = server.idp.keys_hits();
    let started = Instant::now();
    let flood_for = TEST_REFETCH_INTERVAL * 2 + Duration::from_millis(300);

    // A burst of 50 concurrent forged kids, then 4 clients sending them back to back.
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let token = random_kid_token(&server);
            vec![status_of(&server, &token).await]
        }));
    }
    for _ in 0..4 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            while started.elapsed() < flood_for {
                statuses.push(status_of(&server, &random_kid_token(&server)).await);
            }
            statuses
        }));
    }
    let mut requests = 0;
    for task in tasks {
        for status in task.await.unwrap() {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            requests += 1;
        }
    }
    let elapsed = started.elapsed();
    let fetches = server.idp.keys_hits() - baseline;
    let bound = elapsed.as_secs_f64() / TEST_REFETCH_INTERVAL.as_secs_f64() + 1.0;
    assert!(fetches >= 1, "unknown kids do trigger refetches");
    assert!(
        fetches as f64 <= bound,
        "{requests} unknown-kid requests in {elapsed:?} caused {fetches} fetches (bound {bound:.1})"
    );
    assert!(requests >= 54);

    // A key published right after the flood is accepted (within one interval).
    server.idp.rotate();
    assert_eq!(status_of(&server, &server.token()).await, StatusCode::OK);
}

// --- outages and bad documents ----------------------------------------------------------

#[tokio::test]
async fn issuer_outage_keeps_cached_keys_in_service() {
    let server = TestServer::start().await;
    server.idp.wait_for_keys_hits(1).await;
    server.idp.set_keys_mode(KeysMode::Error500);
    // An unknown kid forces a (failing) fetch; it must not wipe the cache.
    let response = server.initialize(Some(&random_kid_token(&server))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        www_authenticate(&response),
        server.invalid_token("unknown signing key")
    );
    assert_eq!(server.idp.keys_hits(), 2);
    assert_eq!(status_of(&server, &server.token()).await, StatusCode::OK);
}

#[tokio::test]
async fn garbage_jwks_keeps_the_last_good_keys() {
    let server = TestServer::start().await;
    server.idp.wait_for_keys_hits(1).await;
    server.idp.set_keys_mode(KeysMode::Garbage);
    let response = server.initialize(Some(&random_kid_token(&server))).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(server.idp.keys_hits(), 2);
    assert_eq!(status_of(&server, &server.token()).await, StatusCode::OK);
}

#[tokio::test]
async fn expired_key_set_keeps_serving_while_the_issuer_is_down() {
    let ttl = Duration::from_secs(10);
    let server = TestServer::start_with(StandIn::start().await, |p| {
        p.jwks_config(test_jwks_config().with_default_ttl(ttl))
    })
    .await;
    assert_warm(&server).await;
    server.idp.set_keys_mode(KeysMode::Error500);
    skip(ttl + Duration::from_secs(1)).await;
    // Past the TTL and the issuer is down: the stale set still answers.
    assert_eq!(status_of(&server, &server.token()).await, StatusCode::OK);
    // The stale hit scheduled one background refresh, which fails.
    server.idp.wait_for_keys_hits(2).await;
    assert_eq!(status_of(&server, &server.token()).await, StatusCode::OK);
}

/// A JWK of `key`'s public half under another kid, with fields overridden.
fn jwk_variant(key: &mcpgate_dev_as::keys::SigningKey, kid: &str, overrides: Value) -> Value {
    let mut jwk = key.jwk().clone();
    jwk["kid"] = json!(kid);
    for (k, v) in overrides.as_object().unwrap() {
        jwk[k] = v.clone();
    }
    jwk
}

#[tokio::test]
async fn unusable_keys_are_skipped_and_the_good_key_still_works() {
    let idp = StandIn::start().await;
    let other = shared_key(1);
    let short_n = b64(&[0xC5u8; 128]); // a 1024-bit modulus
    idp.set_extra_jwks(vec![
        // Each junk entry reuses a real key pair, so only the filter stops it.
        jwk_variant(
            &other,
            "snk_oct",
            json!({"kty": "oct", "k": b64(b"secret")}),
        ),
        jwk_variant(&other, "snk_enc", json!({"use": "enc"})),
        jwk_variant(&other, "snk_ps", json!({"alg": "PS256"})),
        jwk_variant(&other, "snk_ops", json!({"key_ops": ["encrypt"]})),
        jwk_variant(&other, "snk_short", json!({"n": short_n})),
        json!({"kty": "RSA", "use": "sig", "alg": "RS256", "n": other.jwk()["n"], "e": "AQAB"}),
        json!("not an object"),
    ]);
    let server = TestServer::start_with(idp, |p| p).await;
    assert_eq!(
        status_of(&server, &server.token()).await,
        StatusCode::OK,
        "one good key is enough"
    );
    // Concurrent, so the misses share one refetch. Loaded, the short key would
    // give "invalid signature"; skipped, it is unknown like the other junk.
    let kids = ["snk_oct", "snk_enc", "snk_ps", "snk_ops", "snk_short"];
    let answers = futures::future::join_all(kids.iter().map(|kid| {
        let token = forge(&other, &scalekit_header(kid), &server.claims());
        let server = &server;
        async move { www_authenticate(&server.initialize(Some(&token)).await) }
    }))
    .await;
    for (kid, answer) in kids.iter().zip(answers) {
        // A PS256 key is usable (for PS256): it is kept, and an RS256 token
        // naming it is refused because the key was not made for RS256.
        let expected = if *kid == "snk_ps" {
            "algorithm does not match the signing key"
        } else {
            "unknown signing key"
        };
        assert_eq!(answer, server.invalid_token(expected), "{kid}");
    }
}

#[tokio::test]
async fn a_key_set_of_only_unusable_keys_counts_as_no_keys() {
    let idp = StandIn::start().await;
    let key = idp.signer();
    idp.publish(vec![]);
    idp.set_extra_jwks(vec![jwk_variant(&key, key.kid(), json!({"use": "enc"}))]);
    let server = TestServer::start_with(idp, |p| p).await;
    let response = server.initialize(Some(&server.token())).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn no_keys_ever_and_issuer_down_gives_503_with_retry_after() {
    let idp = StandIn::start().await;
    idp.set_keys_mode(KeysMode::Error500);
    let server = TestServer::start_with(idp, |p| p).await;
    let response = server.initialize(Some(&server.token())).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
    assert!(
        response.headers().get(header::WWW_AUTHENTICATE).is_none(),
        "not the client's fault"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");

    // The issuer recovers: after the retry interval, tokens are accepted.
    server.idp.set_keys_mode(KeysMode::Normal);
    tokio::time::sleep(TEST_REFETCH_INTERVAL + Duration::from_millis(100)).await;
    assert_eq!(status_of(&server, &server.token()).await, StatusCode::OK);
}

#[tokio::test]
async fn retry_after_defaults_to_the_five_second_refetch_interval() {
    let idp = StandIn::start().await;
    idp.set_keys_mode(KeysMode::Garbage);
    let server = TestServer::start_with(idp, |p| p.jwks_config(JwksConfig::default())).await;
    let response = server.initialize(Some(&server.token())).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "5");
}

#[tokio::test]
async fn slow_issuer_times_out_instead_of_hanging_requests() {
    let idp = StandIn::start().await;
    idp.set_keys_mode(KeysMode::Slow(Duration::from_secs(30)));
    let server = TestServer::start_with(idp, |p| {
        p.jwks_config(test_jwks_config().with_request_timeout(Duration::from_millis(300)))
    })
    .await;
    // Without the timeout this would hang for 30 s (and the client gives up at 20 s).
    let response = server.initialize(Some(&server.token())).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn lookup_reports_unavailable_then_unknown_kid() {
    let idp = StandIn::start().await;
    idp.set_keys_mode(KeysMode::Error500);
    let cache = JwksCache::new(format!("{}/keys", idp.url()), test_jwks_config());
    assert_eq!(
        cache.key("snk_1").await.err(),
        Some(KeyLookupError::Unavailable)
    );
    idp.set_keys_mode(KeysMode::Normal);
    tokio::time::sleep(TEST_REFETCH_INTERVAL + Duration::from_millis(100)).await;
    assert_eq!(
        cache.key("snk_1").await.err(),
        Some(KeyLookupError::UnknownKid)
    );
    assert!(cache.key(idp.signer().kid()).await.is_ok());
}

// --- Cache-Control ------------------------------------------------------------------------

/// A server whose key-set lifetime is whatever `/keys` says (no clamping),
/// warmed (see [`assert_warm`]).
async fn warm_server(cache_control: Option<&str>) -> TestServer {
    let idp = StandIn::start().await;
    idp.set_cache_control(cache_control);
    let server = TestServer::start_with(idp, |p| {
        p.jwks_config(test_jwks_config().with_ttl_bounds(Duration::ZERO, Duration::from_secs(3600)))
    })
    .await;
    assert_warm(&server).await;
    server
}

#[tokio::test]
async fn cache_control_max_age_sets_the_key_set_lifetime() {
    let none = warm_server(None).await;
    let long = warm_server(Some("max-age=600")).await;
    let short = warm_server(Some("public, max-age=1")).await;
    skip(Duration::from_secs(2)).await;

    // A request to each; only an expired set schedules a background refresh.
    for server in [&none, &long, &short] {
        assert_eq!(status_of(server, &server.token()).await, StatusCode::OK);
    }
    short.idp.wait_for_keys_hits(2).await;
    // The other two were asked first: had they scheduled a refresh, it would
    // have had longer to arrive than the one just seen.
    assert_eq!(none.idp.keys_hits(), 1, "default TTL (10 min) still fresh");
    assert_eq!(long.idp.keys_hits(), 1, "max-age=600 still fresh");
    assert_eq!(short.idp.keys_hits(), 2, "max-age=1 expired: one refresh");
}
