//! The local Scalekit-compatible authorization server for the benchmarks.
//!
//! `bench-as --mcp-url http://127.0.0.1:PORT/mcp` listens on a free loopback
//! port and prints `Environment URL:`, `Resource ID:`, `MCP URL:`, `Token:` and
//! `READY` lines. Besides the dev AS's own routes (`/keys`,
//! `POST /admin/rotate-keys`, …) it serves `GET /bench/mint?sub=…`, which
//! returns a fresh access token signed with the current key, so the driver can
//! keep minting after a rotation; `GET /bench/mint?sub=…&count=N` returns N
//! distinct tokens (subjects `…_0` to `…_{N-1}`, each with its own `jti`), one
//! per line, for measuring the verification of tokens a verifier has not seen.
//! `POST /bench/keys-outage?on=1|0` switches a JWKS outage on or off (`GET /keys`
//! answers 503 meanwhile), for the soak run.
//!
//! `--signing-alg RS256|ES256|EdDSA` (default RS256, as Scalekit signs) picks
//! the algorithm its key signs with, for the per-algorithm verification cost.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use mcpgate_bench::args::Flags;
use mcpgate_dev_as::{
    DevAuthServer, DevAuthServerConfig, KeyAlgorithm, RateLimits, Storage, TokenRequest, Url,
};
use tokio::net::TcpListener;

/// Tokens outlive any benchmark run.
const LIFETIME: Duration = Duration::from_secs(4 * 3600);

/// Most tokens one `/bench/mint` request returns.
const MAX_COUNT: usize = 100_000;

fn token_request(sub: String) -> TokenRequest {
    TokenRequest::user(sub)
        .with_scopes(["mcp:tools"])
        .with_client_id("skc_bench")
        .with_lifetime(LIFETIME)
}

async fn mint(
    State(server): State<DevAuthServer>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<String, (StatusCode, String)> {
    let sub = q
        .get("sub")
        .cloned()
        .unwrap_or_else(|| "usr_bench".to_owned());
    let internal = |e: mcpgate_dev_as::Error| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let Some(count) = q.get("count") else {
        return server.mint_token(token_request(sub)).map_err(internal);
    };
    let count: usize = count
        .parse()
        .ok()
        .filter(|n| (1..=MAX_COUNT).contains(n))
        .ok_or_else(|| {
            (
                StatusCode::BAD_REQUEST,
                format!("count must be 1 to {MAX_COUNT}"),
            )
        })?;
    let mut tokens = Vec::with_capacity(count);
    for i in 0..count {
        tokens.push(
            server
                .mint_token(token_request(format!("{sub}_{i}")))
                .map_err(internal)?,
        );
    }
    Ok(tokens.join("\n"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::from_env().map_err(anyhow::Error::msg)?;
    let mcp_url = Url::parse(flags.require("mcp-url").map_err(anyhow::Error::msg)?)?;
    let port: u16 = flags.parse_or("port", 0).map_err(anyhow::Error::msg)?;
    let alg: KeyAlgorithm = flags
        .parse_or("signing-alg", KeyAlgorithm::Rs256)
        .map_err(anyhow::Error::msg)?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    // The load generators and every system's key fetches come from one
    // address: the dev server's per-IP limits would measure themselves.
    let config = DevAuthServerConfig::new(mcp_url)
        .with_storage(Storage::Memory)
        .with_token_lifetime(LIFETIME)
        .with_rate_limits(RateLimits::unlimited())
        .with_signing_algorithm(alg);
    let server = DevAuthServer::new(config, format!("http://{addr}")).await?;
    let bench = Router::new()
        .route("/bench/mint", get(mint))
        .with_state(server.clone());
    // Bench-only: `POST /bench/keys-outage?on=1` makes `GET /keys` answer 503
    // (the soak run's JWKS outages; see `mcpgate_bench::keys_outage`).
    let app = mcpgate_bench::keys_outage::wrap(server.router().merge(bench))
        .into_make_service_with_connect_info::<SocketAddr>();
    let token = server.mint_token(token_request("usr_bench".to_owned()))?;
    println!("Environment URL: {}", server.env_url());
    println!("Resource ID: {}", server.resource_id());
    println!("MCP URL: {}", server.mcp_url());
    println!("Token: {token}");
    println!("READY");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
