//! Cost of one token verification with mcpgate's public API.
//!
//! - `verify/cached_key`: `JwtVerifier::verify` when the signing key is already
//!   in the `JwksCache`, with the verified-token cache off: the full check
//!   (header, RS256 signature, claims) that every new token costs.
//! - `verify/repeat_token`: the same token again with the default
//!   verified-token cache (`DEFAULT_VERIFIED_TOKEN_CACHE`): what a client that
//!   reuses its token for a session pays per request.
//! - `verify/first_with_jwks_fetch`: the first `verify` of a freshly built
//!   verifier, which fetches `{env}/keys` from a local dev authorization server
//!   over loopback, parses it and then verifies (building the verifier is not
//!   timed: a server does that once at start-up).
//!
//! - `verify_alg/{RS256,ES256,EdDSA}/new_token` and `…/repeat_token`: the
//!   same two costs per signature algorithm, with tokens from a dev
//!   authorization server signing with that algorithm (`bench/fastmcp_verify.py
//!   --jwt` measures FastMCP's `JWTVerifier` on the same kind of tokens).
//!
//! Run: `cargo bench -p mcpgate-bench --bench verify`. Results land in
//! `target/criterion/verify/*/new/estimates.json`, which the driver reads.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mcpgate::BearerToken;
use mcpgate::jwks::{JwksCache, JwksConfig};
use mcpgate::verify::{
    DEFAULT_VERIFIED_TOKEN_CACHE, JwtVerifier, SigningAlgorithm, VerifierSettings,
};
use mcpgate_dev_as::{
    DevAuthServer, DevAuthServerConfig, DevAuthServerHandle, KeyAlgorithm, RateLimits, Storage,
    TokenRequest, Url,
};

struct Fixture {
    _server: DevAuthServerHandle,
    jwks_uri: String,
    settings: VerifierSettings,
    token: BearerToken,
}

async fn fixture(alg: KeyAlgorithm) -> Fixture {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mcp_url = Url::parse("http://127.0.0.1:9/mcp").expect("url");
    let server = DevAuthServer::start(
        listener,
        // Every iteration of the cold-fetch bench fetches the JWKS: no per-IP limit.
        DevAuthServerConfig::new(mcp_url.clone())
            .with_storage(Storage::Memory)
            .with_rate_limits(RateLimits::unlimited())
            .with_signing_algorithm(alg),
    )
    .await
    .expect("dev AS starts");
    let token = server
        .mint_token(
            TokenRequest::user("usr_1")
                .with_scopes(["mcp:tools"])
                .with_lifetime(Duration::from_secs(3600)),
        )
        .expect("mint");
    let [env, resource_issuer] = server.issuers();
    let mut settings = VerifierSettings::new(
        [env, resource_issuer],
        [server.resource_id().to_owned(), mcp_url.to_string()],
        [match alg {
            KeyAlgorithm::Es256 => SigningAlgorithm::Es256,
            KeyAlgorithm::EdDsa => SigningAlgorithm::EdDsa,
            _ => SigningAlgorithm::Rs256,
        }],
    );
    settings.verified_token_cache = 0;
    Fixture {
        jwks_uri: server.jwks_url(),
        _server: server,
        settings,
        token: BearerToken::new(token),
    }
}

fn verify(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let f = rt.block_on(fixture(KeyAlgorithm::Rs256));
    let fresh = || {
        JwtVerifier::new(
            JwksCache::new(f.jwks_uri.clone(), JwksConfig::default()),
            f.settings.clone(),
        )
        .expect("valid settings")
    };
    let cached = fresh();
    rt.block_on(cached.verify(&f.token))
        .expect("token verifies");
    let remembering =
        JwtVerifier::new(JwksCache::new(f.jwks_uri.clone(), JwksConfig::default()), {
            let mut settings = f.settings.clone();
            settings.verified_token_cache = DEFAULT_VERIFIED_TOKEN_CACHE;
            settings
        })
        .expect("valid settings");
    rt.block_on(remembering.verify(&f.token))
        .expect("token verifies");

    let token = &f.token;
    let mut group = c.benchmark_group("verify");
    group.bench_function("cached_key", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(cached.verify(token).await.expect("ok")) })
    });
    group.bench_function("repeat_token", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(remembering.verify(token).await.expect("ok")) })
    });
    group.bench_function("first_with_jwks_fetch", |b| {
        b.to_async(&rt).iter_batched(
            fresh,
            // The verifier is returned so that Criterion drops it outside the timing.
            |verifier| async move {
                let access = verifier.verify(token).await.expect("ok");
                (verifier, black_box(access))
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// New-token and repeat-token cost per signature algorithm.
fn verify_per_algorithm(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("verify_alg");
    for alg in [
        KeyAlgorithm::Rs256,
        KeyAlgorithm::Es256,
        KeyAlgorithm::EdDsa,
    ] {
        let f = rt.block_on(fixture(alg));
        let verifier = |cache: usize| {
            let mut settings = f.settings.clone();
            settings.verified_token_cache = cache;
            let v = JwtVerifier::new(
                JwksCache::new(f.jwks_uri.clone(), JwksConfig::default()),
                settings,
            )
            .expect("valid settings");
            rt.block_on(v.verify(&f.token)).expect("token verifies");
            v
        };
        let (full, remembering) = (verifier(0), verifier(DEFAULT_VERIFIED_TOKEN_CACHE));
        let token = &f.token;
        group.bench_function(format!("{alg}/new_token"), |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(full.verify(token).await.expect("ok")) })
        });
        group.bench_function(format!("{alg}/repeat_token"), |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(remembering.verify(token).await.expect("ok")) })
        });
    }
    group.finish();
}

criterion_group!(benches, verify, verify_per_algorithm);
criterion_main!(benches);
