//! The soak run (`mcpgate-bench soak`, usually through `bash bench/soak.sh`):
//! mcpgate with auth on under steady load for minutes while the authorization
//! server rotates its signing key and its JWKS endpoint goes down twice.
//!
//! What runs:
//! - `bench-as` (the dev authorization server plus its bench routes) and
//!   `bench-server --system mcpgate` with the verified-token cache on and the
//!   per-principal rate limit and session caps far above the load (the same
//!   command line as the main benchmark's `mcpgate` system);
//! - `--connections` workers, each with its own keep-alive connection, MCP
//!   session and subject, sending authenticated `tools/call add` back to back
//!   for `--duration`. Every token sent is valid (4-hour lifetime, subject of
//!   the connection's session, signed by a key the AS still publishes), so any
//!   failed request — transport error, timeout, non-200, JSON-RPC error,
//!   `isError` or a wrong sum — counts as an error for a valid token;
//! - a key rotation every tenth of the run (`POST /admin/rotate-keys`); after
//!   rotation *k* the connections with `i % 2 == (k - 1) % 2` switch to tokens
//!   minted with the new key, so two key generations are always in use and
//!   mcpgate must pick each new key up through its JWKS cache (unknown `kid` →
//!   refetch);
//! - two JWKS outages (at a third and two thirds of the run, a twentieth of it
//!   long each) during which `GET /keys` answers `503`
//!   ([`crate::keys_outage`]). Tokens signed with keys mcpgate already has must
//!   keep working. To prove mcpgate really tries (and fails) to fetch during
//!   an outage, a separate connection sends, once a second, a request whose
//!   token names a `kid` nobody published: each forces a refetch attempt (at
//!   most one per refetch interval), expected answer `401`; these probes are
//!   not valid tokens and are counted apart;
//! - no rotation inside an outage, nor in the [`OUTAGE_GUARD`] before one: a
//!   key published while mcpgate cannot fetch the JWKS cannot be verified
//!   until the endpoint is back, so tokens signed with it would fail for a
//!   reason that is the issuer's, not the verifier's. A rotation planned there
//!   runs [`AFTER_OUTAGE`] after the outage ends instead;
//! - upstream restarts are not part of the run: mcpgate has no gateway
//!   (upstream) mode yet.
//!
//! Every [`SAMPLE_EVERY`] it records the server's VmRSS (`/proc/PID/status`,
//! children included), the correct results and errors of the interval and
//! their p50/p99. The results go to `bench/results/soak-<date>.json`, and the
//! `## Reliability (soak)` section of `BENCHMARKS.md` (between
//! [`SECTION_BEGIN`] and [`SECTION_END`]) is regenerated from the newest such
//! file; the rest of `BENCHMARKS.md` is left alone (and the main report
//! writer keeps this section, see [`keep_section`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::driver::{AuthServer, source_tree, today_utc};
use crate::load::{TokenSlot, process_tree_rss_kib};
use crate::proto::simple_request;
use crate::proto::{Connection, Failure, Target, call_add, initialize_body, open_session};
use crate::results::{LoadAverages, Machine, SourceTree};
use crate::stats::{Latency, summarise};
use crate::system::{Environment, Kind, Running, System, wait_ready};

/// How often RSS, throughput, errors and latency are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Per-request timeout: bounds every request the soak sends.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// No rotation this long before an outage: mcpgate refetches the JWKS for an
/// unknown `kid` at most once per refetch interval (5 s by default), so a key
/// published just before the outage might not be fetched before it starts.
pub const OUTAGE_GUARD: Duration = Duration::from_secs(7);
/// A rotation planned inside an outage (or its guard) runs this long after it ends.
pub const AFTER_OUTAGE: Duration = Duration::from_secs(1);
/// Interval between unknown-`kid` probes during an outage.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// Errors kept with their details in the results (all are counted).
const MAX_ERROR_LOG: usize = 50;
/// Longest soak: tokens live 4 hours and the AS publishes a retired key for 1 hour.
pub const MAX_DURATION: Duration = Duration::from_secs(3 * 3600);
/// Shortest soak that still has a schedule worth the name.
pub const MIN_DURATION: Duration = Duration::from_secs(20);
/// Most connections (mcpgate's default connection cap is 1,024).
pub const MAX_CONNECTIONS: usize = 512;
/// The default run, issue 13's.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(600);
/// The default connection count.
pub const DEFAULT_CONNECTIONS: usize = 64;

/// Start of the generated section in `BENCHMARKS.md`.
pub const SECTION_BEGIN: &str = "<!-- soak:begin";
/// End of the generated section in `BENCHMARKS.md`.
pub const SECTION_END: &str = "<!-- soak:end -->";

// ---------------------------------------------------------------------------
// The schedule

/// When the key rotates and when the JWKS endpoint is down, in seconds from
/// the start of the load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Nominal interval between rotations (a tenth of the run).
    pub rotate_every_s: f64,
    /// When each rotation runs, after moving those that fell into an outage.
    pub rotations_s: Vec<f64>,
    /// Outage windows `[start, end)`.
    pub outages_s: Vec<[f64; 2]>,
    /// What was moved or merged, and why.
    pub notes: Vec<String>,
}

/// The schedule for a run of `duration`: rotations every tenth, outages at a
/// third and two thirds lasting a twentieth, no rotation inside an outage or
/// in the [`OUTAGE_GUARD`] before it (moved to [`AFTER_OUTAGE`] after its end;
/// a moved rotation within a second of another one merges with it).
pub fn plan(duration: Duration) -> Plan {
    let d = duration.as_secs_f64();
    let every = d / 10.0;
    let outage = d / 20.0;
    let outages_s = vec![
        [d / 3.0, d / 3.0 + outage],
        [2.0 * d / 3.0, 2.0 * d / 3.0 + outage],
    ];
    let guard = OUTAGE_GUARD.as_secs_f64();
    let after = AFTER_OUTAGE.as_secs_f64();
    let mut notes = Vec::new();
    let mut times: Vec<f64> = (1..10).map(|k| k as f64 * every).collect();
    for t in &mut times {
        // Outages are ordered and far apart, so one pass in order settles it.
        for [start, end] in &outages_s {
            if *t >= start - guard && *t < end + after {
                notes.push(format!(
                    "rotation planned at {t:.0} s moved to {:.0} s (JWKS outage {start:.0}–{end:.0} s)",
                    end + after
                ));
                *t = end + after;
            }
        }
    }
    times.sort_by(f64::total_cmp);
    let mut rotations_s: Vec<f64> = Vec::with_capacity(times.len());
    for t in times {
        match rotations_s.last() {
            Some(&prev) if t - prev < 1.0 => {
                notes.push(format!("two rotations fell at {prev:.0} s and ran as one"));
            }
            _ if t >= d => notes.push(format!("rotation at {t:.0} s dropped (after the end)")),
            _ => rotations_s.push(t),
        }
    }
    Plan {
        rotate_every_s: every,
        rotations_s,
        outages_s,
        notes,
    }
}

impl Plan {
    /// Whether `[from, to]` overlaps an outage window.
    fn overlaps_outage(&self, from: f64, to: f64) -> Option<usize> {
        self.outages_s
            .iter()
            .position(|[start, end]| from < *end && to > *start)
    }
}

// ---------------------------------------------------------------------------
// Results

/// How the soak was configured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SoakConfig {
    /// Seconds of load.
    pub duration_s: f64,
    /// Connections, one worker, session and subject each.
    pub connections: usize,
    /// Sampling interval, seconds.
    pub sample_every_s: f64,
    /// Per-request timeout, seconds.
    pub request_timeout_s: f64,
    /// No rotation this long before an outage, seconds.
    pub outage_guard_s: f64,
    /// The server under test, as started.
    pub server_command: String,
}

/// One key rotation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RotationEvent {
    /// 1-based; also the generation of the tokens minted after it.
    pub generation: usize,
    /// When the plan said, seconds.
    pub planned_s: f64,
    /// When the AS answered the rotation, seconds.
    pub at_s: f64,
    /// The new signing key's `kid`.
    pub kid: String,
    /// Connections that switched to a token signed with the new key.
    pub tokens_reminted: usize,
    /// When the last of them switched, seconds.
    pub reminted_by_s: f64,
}

/// One JWKS outage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OutageEvent {
    /// When the AS started refusing `GET /keys`, seconds.
    pub start_s: f64,
    /// When it stopped, seconds.
    pub end_s: f64,
    /// `GET /keys` requests the AS refused (503) meanwhile: mcpgate's fetch attempts.
    pub jwks_refused: u64,
    /// `GET /keys` requests it answered meanwhile (should be 0).
    pub jwks_served: u64,
    /// Unknown-`kid` probes sent (not valid tokens; not counted as requests).
    pub probes: u64,
    /// Their answers, by HTTP status or failure.
    pub probe_answers: BTreeMap<String, u64>,
}

/// One failed request for a valid token, with its context.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorEvent {
    /// When it finished, seconds.
    pub t_s: f64,
    /// Which connection.
    pub connection: usize,
    /// The token's key generation (0 = the initial key).
    pub generation: usize,
    /// What went wrong.
    pub failure: String,
}

/// One sampling interval.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sample {
    /// Start of the interval, seconds.
    pub from_s: f64,
    /// End of the interval (when sampled), seconds.
    pub t_s: f64,
    /// Server VmRSS at the end of the interval, KiB.
    pub rss_kib: Option<u64>,
    /// Correct results that finished in the interval.
    pub ok: u64,
    /// Failed requests (valid tokens) that finished in the interval.
    pub errors: u64,
    /// Median latency of the correct results, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// Slowest, µs.
    pub max_us: f64,
    /// Whether the interval overlaps a planned outage.
    pub in_outage: bool,
    /// Rotations done by the end of the interval.
    pub rotations: usize,
    /// `GET /keys` answered by the AS so far (cumulative).
    pub jwks_served: Option<u64>,
    /// `GET /keys` refused by the AS so far (cumulative).
    pub jwks_refused: Option<u64>,
    /// 1-minute load average at the end of the interval.
    pub load_1m: f64,
}

/// Request totals.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Requests sent with valid tokens.
    pub requests: u64,
    /// Correct results.
    pub ok: u64,
    /// Failures for valid tokens (target 0).
    pub errors: u64,
    /// Failures by kind.
    pub error_kinds: BTreeMap<String, u64>,
    /// Correct results by token key generation (0 = the initial key).
    pub ok_by_generation: Vec<u64>,
    /// Correct results per second over the whole run.
    pub rps: f64,
    /// Latency of all correct results (log-linear histogram, within 1%).
    pub latency: Latency,
}

/// Server memory over the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RssSummary {
    /// Ready, before the sessions were opened, KiB.
    pub before_sessions_kib: Option<u64>,
    /// With the sessions open, right before the load started, KiB.
    pub start_kib: Option<u64>,
    /// Highest sample, KiB.
    pub max_kib: Option<u64>,
    /// When it was sampled, seconds.
    pub max_at_s: f64,
    /// Last sample, KiB.
    pub end_kib: Option<u64>,
}

/// The sampling interval with the highest p99.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorstInterval {
    /// Interval start, seconds.
    pub from_s: f64,
    /// Interval end, seconds.
    pub to_s: f64,
    /// Its p99, µs.
    pub p99_us: f64,
    /// Its slowest request, µs.
    pub max_us: f64,
    /// What happened in or just before it.
    pub context: String,
}

/// One soak run, `bench/results/soak-<date>.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SoakResults {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// The command that reproduces it.
    pub command: String,
    /// The commit and whether the work tree was clean.
    pub source: Option<SourceTree>,
    /// Hardware and OS.
    pub machine: Machine,
    /// Load averages at start and end, and the highest 1-minute value sampled.
    pub load: LoadAverages,
    /// Wall-clock time of the whole command, seconds.
    pub wall_seconds: f64,
    /// The configuration.
    pub config: SoakConfig,
    /// The schedule.
    pub plan: Plan,
    /// Rotations as they happened.
    pub rotations: Vec<RotationEvent>,
    /// Outages as they happened.
    pub outages: Vec<OutageEvent>,
    /// Why there were no upstream restarts.
    pub upstream_restarts: String,
    /// Totals over the run.
    pub totals: Totals,
    /// Server memory.
    pub rss: RssSummary,
    /// The interval with the highest p99.
    pub worst_interval: Option<WorstInterval>,
    /// Every sampling interval.
    pub samples: Vec<Sample>,
    /// The first failures, with details.
    pub first_errors: Vec<ErrorEvent>,
    /// Anything that went wrong in the harness itself (a failed rotation, …).
    pub harness_errors: Vec<String>,
}

impl SoakResults {
    /// No failure for a valid token, results at all, and the schedule ran.
    pub fn passed(&self) -> bool {
        self.totals.errors == 0 && self.totals.ok > 0 && self.harness_errors.is_empty()
    }
}

// ---------------------------------------------------------------------------
// Latency histogram (bounded memory for runs of any length)

/// Log-linear histogram of microseconds: exact below 1,024 µs, then 128
/// buckets per power of two (quantiles within 1%).
#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum_us: u128,
    max_us: u64,
}

const EXACT_BELOW: u64 = 1024;
const SUB_BITS: u32 = 7;

fn bucket_of(us: u64) -> usize {
    if us < EXACT_BELOW {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros(); // >= 10
    let sub = (us >> (exp - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    EXACT_BELOW as usize + ((exp - 10) as usize) * (1 << SUB_BITS) + sub as usize
}

fn bucket_floor(index: usize) -> u64 {
    if (index as u64) < EXACT_BELOW {
        return index as u64;
    }
    let j = index - EXACT_BELOW as usize;
    let exp = (j >> SUB_BITS) as u32 + 10;
    let sub = (j & ((1 << SUB_BITS) - 1)) as u64;
    (1u64 << exp) + (sub << (exp - SUB_BITS))
}

impl Histogram {
    fn record(&mut self, us: u64) {
        let b = bucket_of(us);
        if self.counts.len() <= b {
            self.counts.resize(b + 1, 0);
        }
        self.counts[b] += 1;
        self.total += 1;
        self.sum_us += u128::from(us);
        self.max_us = self.max_us.max(us);
    }

    /// Nearest-rank quantile: the upper edge of the bucket holding that rank.
    fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return (bucket_floor(i + 1) - 1).min(self.max_us);
            }
        }
        self.max_us
    }

    fn latency(&self) -> Latency {
        if self.total == 0 {
            return Latency::default();
        }
        Latency {
            p50_us: self.quantile(0.50) as f64,
            p90_us: self.quantile(0.90) as f64,
            p99_us: self.quantile(0.99) as f64,
            max_us: self.max_us as f64,
            mean_us: self.sum_us as f64 / self.total as f64,
        }
    }
}

// ---------------------------------------------------------------------------
// Processes

async fn request_ok(
    addr: SocketAddr,
    method: http::Method,
    path: &str,
) -> anyhow::Result<bytes::Bytes> {
    let (status, body) = simple_request(addr, method, path, REQUEST_TIMEOUT)
        .await
        .map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
    if status != 200 {
        bail!("{path}: HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body)
}

fn subject(i: usize) -> String {
    format!("usr_soak_{i:03}")
}

async fn mint(addr: SocketAddr, sub: &str) -> anyhow::Result<String> {
    let body = request_ok(addr, http::Method::GET, &format!("/bench/mint?sub={sub}")).await?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// `(served, refused)` `GET /keys` counts from bench-as.
async fn jwks_counts(addr: SocketAddr) -> Option<(u64, u64)> {
    let (status, body) = simple_request(
        addr,
        http::Method::GET,
        crate::keys_outage::PATH,
        Duration::from_secs(2),
    )
    .await
    .ok()?;
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    Some((v["served"].as_u64()?, v["refused"].as_u64()?))
}

async fn set_outage(addr: SocketAddr, on: bool) -> anyhow::Result<(u64, u64)> {
    let path = format!("{}?on={}", crate::keys_outage::PATH, u8::from(on));
    let body = request_ok(addr, http::Method::POST, &path).await?;
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    if v["on"].as_bool() != Some(on) {
        bail!(
            "bench-as did not switch the JWKS outage {}",
            if on { "on" } else { "off" }
        );
    }
    Ok((
        v["served"].as_u64().unwrap_or(0),
        v["refused"].as_u64().unwrap_or(0),
    ))
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// `token` with its header replaced by one naming a `kid` nobody published.
fn unknown_kid_token(token: &str, n: u64) -> String {
    let header = format!(r#"{{"alg":"RS256","typ":"JWT","kid":"soak-unpublished-{n}"}}"#);
    let rest = token.split_once('.').map(|(_, r)| r).unwrap_or("e30.");
    format!("{}.{rest}", base64url(header.as_bytes()))
}

// ---------------------------------------------------------------------------
// The load

#[derive(Default)]
struct Interval {
    samples_ns: Vec<u64>,
    ok: u64,
    errors: u64,
}

struct Shared {
    start: Instant,
    end: Instant,
    interval: Mutex<Interval>,
    error_kinds: Mutex<BTreeMap<String, u64>>,
    first_errors: Mutex<Vec<ErrorEvent>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn kind_of(f: &Failure) -> String {
    match f {
        Failure::Transport(_) => "transport".to_owned(),
        Failure::Timeout => "timeout".to_owned(),
        Failure::Status(s) => format!("HTTP {s}"),
        Failure::BadResult(_) => "bad result".to_owned(),
    }
}

impl Shared {
    fn secs(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64()
    }

    fn ok(&self, latency: Duration) {
        let mut i = lock(&self.interval);
        i.ok += 1;
        i.samples_ns.push(latency.as_nanos() as u64);
    }

    fn error(&self, connection: usize, generation: usize, failure: &Failure) {
        lock(&self.interval).errors += 1;
        *lock(&self.error_kinds).entry(kind_of(failure)).or_default() += 1;
        let mut log = lock(&self.first_errors);
        if log.len() < MAX_ERROR_LOG {
            let t_s = self.secs(Instant::now());
            if log.len() < 5 {
                eprintln!(
                    "   ERROR at {t_s:.2} s, connection {connection}, key generation {generation}: {failure}"
                );
            }
            log.push(ErrorEvent {
                t_s,
                connection,
                generation,
                failure: failure.to_string(),
            });
        }
    }
}

/// One connection's closed loop until the end; returns its correct results by
/// token generation.
async fn worker(
    index: usize,
    target: Target,
    slot: Arc<TokenSlot>,
    mut conn: Connection,
    mut session: String,
    shared: Arc<Shared>,
) -> Vec<u64> {
    let mut by_generation: Vec<u64> = Vec::new();
    let mut seq: u64 = 0;
    tokio::time::sleep_until(shared.start).await;
    while Instant::now() < shared.end {
        seq += 1;
        let id = (index as u64 + 1) * 1_000_000_000 + seq;
        let args = ((seq % 10_007) as i64, index as i64 * 3 + 1);
        let (token, generation) = slot.get();
        let t0 = Instant::now();
        match call_add(
            &mut conn,
            Some(&*token),
            &session,
            id,
            args,
            REQUEST_TIMEOUT,
        )
        .await
        {
            Ok(()) => {
                shared.ok(t0.elapsed());
                if by_generation.len() <= generation {
                    by_generation.resize(generation + 1, 0);
                }
                by_generation[generation] += 1;
            }
            Err(failure) => {
                shared.error(index, generation, &failure);
                // Never spin on a failing server.
                tokio::time::sleep(Duration::from_millis(10)).await;
                // A new connection after every failure: mcpgate answers a refused
                // request with `Connection: close`, and a transport error or a
                // timeout leaves the old one unusable. Bounded by the end of the run.
                let mut reconnected = false;
                while Instant::now() < shared.end {
                    if let Ok(c) = Connection::open(&target).await {
                        conn = c;
                        reconnected = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                if !reconnected {
                    break;
                }
                if failure == Failure::Status(404) {
                    // The session is gone: a new one (same subject), so the run goes on.
                    if let Ok(s) = open_session(&mut conn, Some(&*token), REQUEST_TIMEOUT).await {
                        session = s;
                    }
                }
            }
        }
    }
    by_generation
}

/// Samples every [`SAMPLE_EVERY`] until the workers are done.
struct Sampler {
    shared: Arc<Shared>,
    pid: u32,
    as_addr: SocketAddr,
    plan: Plan,
    rotations_done: Arc<AtomicUsize>,
    histogram: Histogram,
    samples: Vec<Sample>,
    max_load: f64,
}

impl Sampler {
    async fn take(&mut self, from: Instant, to: Instant) {
        let interval = std::mem::take(&mut *lock(&self.shared.interval));
        let mut ns = interval.samples_ns;
        for &s in &ns {
            self.histogram.record(s / 1000);
        }
        let latency = summarise(&mut ns);
        let (from_s, t_s) = (self.shared.secs(from), self.shared.secs(to));
        let counts = jwks_counts(self.as_addr).await;
        let load_1m = loadavg()[0];
        self.max_load = self.max_load.max(load_1m);
        let sample = Sample {
            from_s,
            t_s,
            rss_kib: process_tree_rss_kib(self.pid),
            ok: interval.ok,
            errors: interval.errors,
            p50_us: latency.p50_us,
            p99_us: latency.p99_us,
            max_us: latency.max_us,
            in_outage: self.plan.overlaps_outage(from_s, t_s).is_some(),
            rotations: self.rotations_done.load(Ordering::Acquire),
            jwks_served: counts.map(|c| c.0),
            jwks_refused: counts.map(|c| c.1),
            load_1m,
        };
        eprintln!(
            "   {:>6.1} s  RSS {:>6.1} MiB  ok {:>7} ({:>6.0}/s)  errors {:<3}  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  rotations {}{}",
            t_s,
            sample.rss_kib.unwrap_or(0) as f64 / 1024.0,
            sample.ok,
            sample.ok as f64 / (t_s - from_s).max(1e-9),
            sample.errors,
            sample.p50_us / 1000.0,
            sample.p99_us / 1000.0,
            sample.max_us / 1000.0,
            sample.rotations,
            if sample.in_outage {
                "  [JWKS outage]"
            } else {
                ""
            }
        );
        self.samples.push(sample);
    }

    async fn run(mut self, mut done: tokio::sync::oneshot::Receiver<()>) -> Self {
        let start = self.shared.start;
        let end = self.shared.end;
        let mut from = start;
        let mut k = 1u32;
        loop {
            let next = start + SAMPLE_EVERY * k;
            if next + SAMPLE_EVERY / 2 > end {
                // Last interval: up to the end, plus requests still in flight then.
                let _ = tokio::time::timeout_at(end + REQUEST_TIMEOUT * 2, &mut done).await;
                let now = Instant::now();
                self.take(from, now).await;
                return self;
            }
            tokio::time::sleep_until(next).await;
            self.take(from, next).await;
            from = next;
            k += 1;
        }
    }
}

struct Controller {
    shared: Arc<Shared>,
    as_addr: SocketAddr,
    target: Target,
    slots: Vec<Arc<TokenSlot>>,
    plan: Plan,
    rotations_done: Arc<AtomicUsize>,
    probe_token: String,
    rotations: Vec<RotationEvent>,
    outages: Vec<OutageEvent>,
    errors: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
enum Event {
    Rotate(usize),
    OutageOn(usize),
    OutageOff(usize),
}

impl Controller {
    async fn rotate(&mut self, generation: usize, planned_s: f64) -> anyhow::Result<()> {
        let body = request_ok(self.as_addr, http::Method::POST, "/admin/rotate-keys").await?;
        let at_s = self.shared.secs(Instant::now());
        let kid = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["kid"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut reminted = 0;
        for (i, slot) in self.slots.iter().enumerate() {
            if i % 2 == (generation - 1) % 2 {
                slot.set(mint(self.as_addr, &subject(i)).await?, generation);
                reminted += 1;
            }
        }
        self.rotations_done.fetch_add(1, Ordering::AcqRel);
        let reminted_by_s = self.shared.secs(Instant::now());
        eprintln!(
            "   -- {at_s:.1} s: key rotation {generation} (kid {kid}); {reminted} connections use new-key tokens from {reminted_by_s:.1} s"
        );
        self.rotations.push(RotationEvent {
            generation,
            planned_s,
            at_s,
            kid,
            tokens_reminted: reminted,
            reminted_by_s,
        });
        Ok(())
    }

    async fn run(mut self) -> Self {
        let mut events: Vec<(f64, Event)> = Vec::new();
        for (k, &t) in self.plan.rotations_s.iter().enumerate() {
            events.push((t, Event::Rotate(k + 1)));
        }
        for (i, [start, end]) in self.plan.outages_s.iter().enumerate() {
            events.push((*start, Event::OutageOn(i)));
            events.push((*end, Event::OutageOff(i)));
        }
        events.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Outage index, probe task, and the AS's `/keys` counters when it began.
        type Probe = tokio::task::JoinHandle<(u64, BTreeMap<String, u64>)>;
        let mut current: Option<(usize, Probe, u64, u64)> = None;
        // Probes may still wait for mcpgate's next refetch slot after their
        // outage ended: collected at the end, so they never delay a rotation.
        let mut finished: Vec<(usize, Probe)> = Vec::new();
        for (t, event) in events {
            tokio::time::sleep_until(self.shared.start + Duration::from_secs_f64(t)).await;
            match event {
                Event::Rotate(generation) => {
                    if let Err(e) = self.rotate(generation, t).await {
                        eprintln!("   !! rotation {generation}: {e:#}");
                        self.errors
                            .push(format!("rotation {generation} at {t:.1} s: {e:#}"));
                    }
                }
                Event::OutageOn(i) => match set_outage(self.as_addr, true).await {
                    Ok((served, refused)) => {
                        let start_s = self.shared.secs(Instant::now());
                        eprintln!("   -- {start_s:.1} s: JWKS outage {} starts", i + 1);
                        self.outages.push(OutageEvent {
                            start_s,
                            ..OutageEvent::default()
                        });
                        let stop =
                            self.shared.start + Duration::from_secs_f64(self.plan.outages_s[i][1]);
                        let task = tokio::spawn(probe_unknown_kids(
                            self.target.clone(),
                            self.probe_token.clone(),
                            stop,
                            i as u64 * 1_000_000,
                        ));
                        current = Some((self.outages.len() - 1, task, served, refused));
                    }
                    Err(e) => self.errors.push(format!("outage {} on: {e:#}", i + 1)),
                },
                Event::OutageOff(i) => {
                    let switched = set_outage(self.as_addr, false).await;
                    let end_s = self.shared.secs(Instant::now());
                    let Some((index, task, served0, refused0)) = current.take() else {
                        continue;
                    };
                    finished.push((index, task));
                    let outage = &mut self.outages[index];
                    outage.end_s = end_s;
                    match switched {
                        Ok((served, refused)) => {
                            outage.jwks_served = served.saturating_sub(served0);
                            outage.jwks_refused = refused.saturating_sub(refused0);
                            eprintln!(
                                "   -- {end_s:.1} s: JWKS outage {} ends: {} JWKS fetch(es) refused meanwhile",
                                i + 1,
                                outage.jwks_refused,
                            );
                        }
                        Err(e) => self.errors.push(format!("outage {} off: {e:#}", i + 1)),
                    }
                }
            }
        }
        for (index, task) in finished {
            // A probe waits at most one refetch interval plus its request timeout.
            match tokio::time::timeout(REQUEST_TIMEOUT * 2, task).await {
                Ok(Ok((probes, answers))) => {
                    eprintln!(
                        "   -- JWKS outage {}: {probes} unknown-kid probes, answered {answers:?}",
                        index + 1
                    );
                    let unexpected: Vec<String> = answers
                        .iter()
                        .filter(|(k, _)| k.as_str() != "HTTP 401")
                        .map(|(k, v)| format!("{v}× {k}"))
                        .collect();
                    if !unexpected.is_empty() {
                        self.errors.push(format!(
                            "outage {}: unknown-kid probes answered {} (expected 401)",
                            index + 1,
                            unexpected.join(", ")
                        ));
                    }
                    let outage = &mut self.outages[index];
                    outage.probes = probes;
                    outage.probe_answers = answers;
                }
                _ => self
                    .errors
                    .push(format!("outage {}: the probe did not finish", index + 1)),
            }
        }
        self
    }
}

/// Until `stop`: once a second, a request whose token names an unpublished
/// `kid` (forcing a JWKS refetch attempt); returns the count and the answers.
async fn probe_unknown_kids(
    target: Target,
    token: String,
    stop: Instant,
    first_n: u64,
) -> (u64, BTreeMap<String, u64>) {
    let mut answers = BTreeMap::new();
    let mut n = 0u64;
    while Instant::now() < stop {
        let next = Instant::now() + PROBE_EVERY;
        n += 1;
        let forged = unknown_kid_token(&token, first_n + n);
        // A fresh connection each time: mcpgate closes it after a 401.
        let answer = match Connection::open(&target).await {
            Ok(mut c) => match c
                .post(
                    initialize_body(),
                    Some(forged.as_str()),
                    None,
                    REQUEST_TIMEOUT,
                )
                .await
            {
                Ok(r) => format!("HTTP {}", r.status),
                Err(f) => kind_of(&f),
            },
            Err(f) => kind_of(&f),
        };
        *answers.entry(answer).or_default() += 1;
        tokio::time::sleep_until(next.min(stop)).await;
    }
    (n, answers)
}

// ---------------------------------------------------------------------------
// The run

/// What to run and where to write.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// The repository root.
    pub repo_root: PathBuf,
    /// Directory of `bench-as` and `bench-server`.
    pub bin_dir: PathBuf,
    /// Where `soak-<date>.json` goes.
    pub out_dir: PathBuf,
    /// The Markdown file whose soak section is regenerated.
    pub markdown: PathBuf,
    /// Server logs.
    pub log_dir: PathBuf,
    /// Seconds of load.
    pub duration: Duration,
    /// Connections.
    pub connections: usize,
}

fn loadavg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
    [
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    ]
}

fn machine() -> Machine {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let meminfo = read("/proc/meminfo");
    Machine {
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        cpu_model: cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            .unwrap_or_else(|| "unknown".to_owned()),
        memory_mib: meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib / 1024)
            .unwrap_or(0),
        kernel: format!("Linux {}", read("/proc/sys/kernel/osrelease").trim()),
    }
}

/// The command line that reproduces a run.
pub fn command_line(duration: Duration, connections: usize) -> String {
    format!(
        "bash bench/soak.sh --duration {} --connections {connections}",
        duration.as_secs_f64()
    )
}

/// Runs the soak. Harness failures after start-up are recorded in the results
/// (which then do not pass); failures to start anything are errors.
pub async fn run(opts: &SoakOptions) -> anyhow::Result<SoakResults> {
    if opts.duration < MIN_DURATION || opts.duration > MAX_DURATION {
        bail!(
            "--duration must be {} to {} seconds",
            MIN_DURATION.as_secs(),
            MAX_DURATION.as_secs()
        );
    }
    if !(1..=MAX_CONNECTIONS).contains(&opts.connections) {
        bail!("--connections must be 1 to {MAX_CONNECTIONS}");
    }
    let wall = Instant::now();
    let plan = plan(opts.duration);
    let mut results = SoakResults {
        date: today_utc(),
        command: command_line(opts.duration, opts.connections),
        source: Some(source_tree(&opts.repo_root)),
        machine: machine(),
        plan: plan.clone(),
        upstream_restarts: "not run: mcpgate has no gateway (upstream) mode yet".to_owned(),
        ..SoakResults::default()
    };
    results.load.at_start = loadavg();
    results.load.max_1m_sampled = results.load.at_start[0];

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let target = Target::loopback(port);
    let auth = AuthServer::start(&opts.bin_dir, &target.url()).await?;
    let env = Environment {
        bin_dir: opts.bin_dir.clone(),
        bench_dir: opts.repo_root.join("bench"),
        venv: opts.repo_root.join("bench/.venv"),
        log_dir: opts.log_dir.clone(),
        env_url: auth.env_url.clone(),
        resource_id: auth.resource_id.clone(),
        port,
        // No gateway in the soak: nothing listens there.
        upstream_port: 0,
    };
    // The main benchmark's `mcpgate` system: auth on, verified-token cache on
    // (the default), rate limit and session caps far above the load.
    let system = System {
        id: "mcpgate",
        label: "mcpgate (auth on)",
        kind: Kind::Mcpgate,
    };
    results.config = SoakConfig {
        duration_s: opts.duration.as_secs_f64(),
        connections: opts.connections,
        sample_every_s: SAMPLE_EVERY.as_secs_f64(),
        request_timeout_s: REQUEST_TIMEOUT.as_secs_f64(),
        outage_guard_s: OUTAGE_GUARD.as_secs_f64(),
        server_command: env.command(&system).1,
    };
    eprintln!(
        "soak: {} s, {} connections; rotations at {:?} s; JWKS outages {:?} s",
        opts.duration.as_secs_f64(),
        opts.connections,
        plan.rotations_s
            .iter()
            .map(|t| (t * 10.0).round() / 10.0)
            .collect::<Vec<_>>(),
        plan.outages_s
    );
    for note in &plan.notes {
        eprintln!("   ({note})");
    }

    let ready_token = mint(auth.addr, "usr_soak_ready").await?;
    let mut running = Running::spawn(&env, &system)?;
    wait_ready(
        &mut running,
        &target,
        Some(&ready_token),
        false,
        Duration::from_secs(60),
    )
    .await?;
    let pid = running.pid;
    results.rss.before_sessions_kib = process_tree_rss_kib(pid);

    // Tokens, connections and sessions, before the clock starts.
    let mut slots = Vec::with_capacity(opts.connections);
    for i in 0..opts.connections {
        slots.push(TokenSlot::new(mint(auth.addr, &subject(i)).await?));
    }
    let mut opened = Vec::with_capacity(opts.connections);
    for slot in &slots {
        let mut conn = Connection::open(&target)
            .await
            .map_err(|e| anyhow::anyhow!("connecting: {e}"))?;
        let session = open_session(&mut conn, Some(&slot.get().0), REQUEST_TIMEOUT)
            .await
            .map_err(|e| anyhow::anyhow!("opening a session: {e}"))?;
        opened.push((conn, session));
    }
    results.rss.start_kib = process_tree_rss_kib(pid);

    let start = Instant::now() + Duration::from_millis(200);
    let shared = Arc::new(Shared {
        start,
        end: start + opts.duration,
        interval: Mutex::new(Interval::default()),
        error_kinds: Mutex::new(BTreeMap::new()),
        first_errors: Mutex::new(Vec::new()),
    });
    let rotations_done = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::with_capacity(opts.connections);
    for (i, (conn, session)) in opened.into_iter().enumerate() {
        workers.push(tokio::spawn(worker(
            i,
            target.clone(),
            slots[i].clone(),
            conn,
            session,
            shared.clone(),
        )));
    }
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let sampler = tokio::spawn(
        Sampler {
            shared: shared.clone(),
            pid,
            as_addr: auth.addr,
            plan: plan.clone(),
            rotations_done: rotations_done.clone(),
            histogram: Histogram::default(),
            samples: Vec::new(),
            max_load: results.load.max_1m_sampled,
        }
        .run(done_rx),
    );
    let controller = tokio::spawn(
        Controller {
            shared: shared.clone(),
            as_addr: auth.addr,
            target: target.clone(),
            slots: slots.clone(),
            plan: plan.clone(),
            rotations_done,
            probe_token: ready_token.clone(),
            rotations: Vec::new(),
            outages: Vec::new(),
            errors: Vec::new(),
        }
        .run(),
    );

    // Everything below is bounded: workers stop starting requests at the end
    // and each request has a timeout.
    let deadline = shared.end + REQUEST_TIMEOUT * 3;
    let mut ok_by_generation: Vec<u64> = Vec::new();
    for (i, w) in workers.into_iter().enumerate() {
        match tokio::time::timeout_at(deadline, w).await {
            Ok(Ok(by_gen)) => {
                if ok_by_generation.len() < by_gen.len() {
                    ok_by_generation.resize(by_gen.len(), 0);
                }
                for (g, n) in by_gen.iter().enumerate() {
                    ok_by_generation[g] += n;
                }
            }
            Ok(Err(e)) => results.harness_errors.push(format!("connection {i}: {e}")),
            Err(_) => results
                .harness_errors
                .push(format!("connection {i} did not stop in time")),
        }
    }
    let _ = done_tx.send(());
    let controller = match tokio::time::timeout_at(deadline + REQUEST_TIMEOUT * 3, controller).await
    {
        Ok(Ok(c)) => Some(c),
        _ => {
            results
                .harness_errors
                .push("the rotation/outage controller did not finish".to_owned());
            None
        }
    };
    let sampler = match tokio::time::timeout_at(deadline + REQUEST_TIMEOUT * 3, sampler).await {
        Ok(Ok(s)) => s,
        _ => bail!("the sampler did not finish"),
    };
    // Never leave the AS refusing its keys, whatever happened above.
    let _ = set_outage(auth.addr, false).await;
    running.stop().await;
    auth.running.stop().await;

    if let Some(c) = controller {
        results.rotations = c.rotations;
        results.outages = c.outages;
        results.harness_errors.extend(c.errors);
    }
    if results.rotations.len() != plan.rotations_s.len() {
        results.harness_errors.push(format!(
            "{} of {} planned rotations ran",
            results.rotations.len(),
            plan.rotations_s.len()
        ));
    }
    if results.outages.len() != plan.outages_s.len() {
        results.harness_errors.push(format!(
            "{} of {} planned JWKS outages ran",
            results.outages.len(),
            plan.outages_s.len()
        ));
    }
    let samples = sampler.samples;
    let ok: u64 = samples.iter().map(|s| s.ok).sum();
    let errors: u64 = samples.iter().map(|s| s.errors).sum();
    results.totals = Totals {
        requests: ok + errors,
        ok,
        errors,
        error_kinds: std::mem::take(&mut *lock(&shared.error_kinds)),
        ok_by_generation,
        rps: ok as f64 / opts.duration.as_secs_f64(),
        latency: sampler.histogram.latency(),
    };
    results.first_errors = std::mem::take(&mut *lock(&shared.first_errors));
    if let Some((max_at_s, max)) = samples
        .iter()
        .filter_map(|s| s.rss_kib.map(|r| (s.t_s, r)))
        .max_by_key(|&(_, r)| r)
    {
        results.rss.max_kib = Some(max.max(results.rss.start_kib.unwrap_or(0)));
        results.rss.max_at_s = max_at_s;
    }
    results.rss.end_kib = samples.iter().rev().find_map(|s| s.rss_kib);
    results.worst_interval = samples
        .iter()
        .filter(|s| s.ok > 0)
        .max_by(|a, b| a.p99_us.total_cmp(&b.p99_us))
        .map(|s| WorstInterval {
            from_s: s.from_s,
            to_s: s.t_s,
            p99_us: s.p99_us,
            max_us: s.max_us,
            context: interval_context(&results, s.from_s, s.t_s),
        });
    results.samples = samples;
    results.load.at_end = loadavg();
    results.load.max_1m_sampled = sampler.max_load.max(results.load.at_end[0]);
    results.wall_seconds = wall.elapsed().as_secs_f64();
    Ok(results)
}

/// What happened in `[from, to]` or in the refetch interval before it.
fn interval_context(r: &SoakResults, from: f64, to: f64) -> String {
    let mut parts = Vec::new();
    for (i, o) in r.outages.iter().enumerate() {
        if from - SAMPLE_EVERY.as_secs_f64() < o.end_s && to > o.start_s {
            parts.push(format!(
                "JWKS outage {} ({:.0}–{:.0} s)",
                i + 1,
                o.start_s,
                o.end_s
            ));
        }
    }
    for x in &r.rotations {
        if x.at_s >= from - SAMPLE_EVERY.as_secs_f64() && x.at_s < to {
            parts.push(format!("key rotation {} at {:.1} s", x.generation, x.at_s));
        }
    }
    if parts.is_empty() {
        "no rotation or outage in or just before it".to_owned()
    } else {
        parts.join(", ")
    }
}

// ---------------------------------------------------------------------------
// Files and Markdown

/// The newest `soak-*.json` in `dir` (by name: the date sorts).
pub fn newest_results(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("soak-") && n.ends_with(".json"))
        })
        .max()
}

fn mib(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.1}", k as f64 / 1024.0))
        .unwrap_or_else(|| "?".to_owned())
}

fn ms(us: f64) -> String {
    let v = us / 1000.0;
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn source_text(s: Option<&SourceTree>) -> String {
    match s {
        Some(SourceTree {
            commit: Some(c),
            clean: Some(true),
            ..
        }) => format!("commit `{c}`, clean work tree"),
        Some(SourceTree {
            commit: Some(c),
            clean: Some(false),
            changed_paths,
            ..
        }) => format!(
            "commit `{c}` **with uncommitted changes** ({changed_paths} path{})",
            if *changed_paths == 1 { "" } else { "s" }
        ),
        Some(SourceTree {
            commit: Some(c), ..
        }) => format!("commit `{c}`, work tree state unknown"),
        _ => "commit unknown".to_owned(),
    }
}

fn seconds_list(v: impl IntoIterator<Item = f64>) -> String {
    let items: Vec<String> = v.into_iter().map(|t| format!("{t:.0}")).collect();
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// The `## Reliability (soak)` section, markers included; `json_link` is the
/// results file's path relative to the Markdown file.
pub fn section(r: &SoakResults, json_link: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{SECTION_BEGIN} generated by `mcpgate-bench soak` from {json_link}; edit bench/src/soak.rs, not this -->"
    );
    let _ = writeln!(out, "## Reliability (soak)\n");
    let full = r.config.duration_s >= DEFAULT_DURATION.as_secs_f64()
        && r.config.connections >= DEFAULT_CONNECTIONS;
    if !full {
        let _ = writeln!(
            out,
            "**Short run ({:.0} s, {} connections): not the {}-minute, {}-connection soak of issue 13.**\n",
            r.config.duration_s,
            r.config.connections,
            DEFAULT_DURATION.as_secs() / 60,
            DEFAULT_CONNECTIONS
        );
    }
    let _ = writeln!(
        out,
        "{:.0} s of authenticated `tools/call add` over {} connections (one keep-alive connection, MCP session and \
         subject each, closed loop) against mcpgate with auth on and its verified-token cache on, while the \
         authorization server rotates its signing key every {:.0} s and its JWKS endpoint answers `503` in two \
         windows. Every token sent is valid — minted by the AS for the session's subject, 4-hour lifetime, signed \
         by a key the AS still publishes — so every request that does not return the correct sum (transport error, \
         timeout, non-200, JSON-RPC error, `isError`) is an error for a valid token. Run on {} ({:.0} s in all; {}; \
         1-minute load average {:.2} at start, {:.2} at end, at most {:.2}) from [`{json_link}`]({json_link}).\n",
        r.config.duration_s,
        r.config.connections,
        r.plan.rotate_every_s,
        r.date,
        r.wall_seconds,
        source_text(r.source.as_ref()),
        r.load.at_start[0],
        r.load.at_end[0],
        r.load.max_1m_sampled
    );
    let _ = writeln!(out, "| | |\n|---|---|");
    let verdict = if r.totals.errors == 0 && r.totals.ok > 0 {
        "**PASS**"
    } else {
        "**MISS**"
    };
    let kinds: Vec<String> = r
        .totals
        .error_kinds
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    let _ = writeln!(
        out,
        "| errors for valid tokens (target 0) | **{}**{} — {verdict} |",
        thousands(r.totals.errors),
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        }
    );
    let by_gen: Vec<String> = r
        .totals
        .ok_by_generation
        .iter()
        .map(|n| thousands(*n))
        .collect();
    let _ = writeln!(
        out,
        "| requests | {} correct results ({}/s); by signing-key generation (0 = the initial key): {} |",
        thousands(r.totals.ok),
        thousands(r.totals.rps.round() as u64),
        by_gen.join(" / ")
    );
    let reminted = r.rotations.first().map(|x| x.tokens_reminted).unwrap_or(0);
    let _ = writeln!(
        out,
        "| key rotations | {} (at {} s); after each, {} connections switch to a token signed with the new key \
         (alternate halves), which mcpgate must fetch (unknown `kid` → JWKS refetch) |",
        r.rotations.len(),
        seconds_list(r.rotations.iter().map(|x| x.at_s)),
        reminted
    );
    let outages: Vec<String> = r
        .outages
        .iter()
        .map(|o| {
            let answers: Vec<String> = o
                .probe_answers
                .iter()
                .map(|(k, v)| format!("{v}× {k}"))
                .collect();
            format!(
                "{:.0}–{:.0} s: {} JWKS fetch{} refused, {} unknown-`kid` probe{} ({})",
                o.start_s,
                o.end_s,
                o.jwks_refused,
                if o.jwks_refused == 1 { "" } else { "es" },
                o.probes,
                if o.probes == 1 { "" } else { "s" },
                if answers.is_empty() {
                    "none".to_owned()
                } else {
                    answers.join(", ")
                }
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "| JWKS outages (`GET /keys` → 503) | {}; valid tokens signed with keys mcpgate already had kept working |",
        if outages.is_empty() {
            "none ran".to_owned()
        } else {
            outages.join("; ")
        }
    );
    let _ = writeln!(out, "| upstream restarts | {} |", r.upstream_restarts);
    // A leak shows as growth that goes on after the warm-up: compare the
    // middle of the run with its end.
    let middle = r
        .samples
        .get(r.samples.len() / 2)
        .and_then(|s| s.rss_kib.map(|k| (s.t_s, k)));
    let second_half = match (middle, r.rss.end_kib) {
        (Some((t, mid)), Some(end)) => format!(
            "; {:+.1} MiB from {t:.0} s to the end",
            (end as f64 - mid as f64) / 1024.0
        ),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "| server RSS (VmRSS every {:.0} s) | {} MiB ready, {} MiB with the sessions open, **max {} MiB** (at {:.0} s), \
         {} MiB at the end{second_half} |",
        r.config.sample_every_s,
        mib(r.rss.before_sessions_kib),
        mib(r.rss.start_kib),
        mib(r.rss.max_kib),
        r.rss.max_at_s,
        mib(r.rss.end_kib)
    );
    let _ = writeln!(
        out,
        "| latency, whole run | p50 {} ms, **p99 {} ms**, max {} ms |",
        ms(r.totals.latency.p50_us),
        ms(r.totals.latency.p99_us),
        ms(r.totals.latency.max_us)
    );
    if let Some(w) = &r.worst_interval {
        let _ = writeln!(
            out,
            "| worst {:.0} s interval | p99 **{} ms** (max {} ms) at {:.0}–{:.0} s: {} |",
            r.config.sample_every_s,
            ms(w.p99_us),
            ms(w.max_us),
            w.from_s,
            w.to_s,
            w.context
        );
    }
    if let Some(slowest) = r
        .samples
        .iter()
        .filter(|s| s.ok > 0)
        .max_by(|a, b| a.max_us.total_cmp(&b.max_us))
    {
        let _ = writeln!(
            out,
            "| slowest request | {} ms, finished at {:.0}–{:.0} s: {} |",
            ms(slowest.max_us),
            slowest.from_s,
            slowest.t_s,
            interval_context(r, slowest.from_s, slowest.t_s)
        );
    }
    if !r.harness_errors.is_empty() {
        let _ = writeln!(
            out,
            "| harness errors | {} |",
            r.harness_errors.join("; ").replace('|', "\\|")
        );
    }

    // One row per tenth of the run (whole sampling intervals).
    let per_row = ((r.samples.len() as f64 / 10.0).round() as usize).max(1);
    let _ = writeln!(
        out,
        "\n| from s | to s | correct results/s | errors | worst p99 ms | RSS at end MiB | during |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---|");
    for rows in r.samples.chunks(per_row) {
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            continue;
        };
        let ok: u64 = rows.iter().map(|s| s.ok).sum();
        let errors: u64 = rows.iter().map(|s| s.errors).sum();
        let worst = rows.iter().map(|s| s.p99_us).fold(0.0, f64::max);
        let mut during = Vec::new();
        for (i, o) in r.outages.iter().enumerate() {
            if first.from_s < o.end_s && last.t_s > o.start_s {
                during.push(format!("JWKS outage {}", i + 1));
            }
        }
        let rotations: Vec<String> = r
            .rotations
            .iter()
            .filter(|x| x.at_s >= first.from_s && x.at_s < last.t_s)
            .map(|x| format!("rotation {}", x.generation))
            .collect();
        during.extend(rotations);
        let _ = writeln!(
            out,
            "| {:.0} | {:.0} | {} | {} | {} | {} | {} |",
            first.from_s,
            last.t_s,
            thousands((ok as f64 / (last.t_s - first.from_s).max(1e-9)).round() as u64),
            errors,
            ms(worst),
            mib(last.rss_kib),
            during.join(", ")
        );
    }

    let _ = writeln!(
        out,
        "\nThe schedule: a rotation every tenth of the run, JWKS outages at a third and two thirds lasting a \
         twentieth. No rotation happens inside an outage or in the {:.0} s before one: a key published while mcpgate \
         cannot reach the JWKS cannot be verified until the endpoint is back (mcpgate refetches for an unknown `kid` \
         at most once per 5 s), so tokens signed with it would fail because of the issuer, not the verifier; a \
         rotation planned there runs {:.0} s after the outage instead{}. During each outage a separate connection \
         sends, once a second, a token naming an unpublished `kid` (not a valid token, not counted above): each \
         forces mcpgate to try the JWKS, which the refused-fetch counts show; the answer expected is `401`. \
         mcpgate starts at most one JWKS fetch per 5 s, failed ones included, and a request whose token names a \
         `kid` it does not have waits for the next slot rather than failing: right after a rotation that follows \
         another fetch closely (the probes' during an outage, or the previous rotation's) a few requests wait up \
         to 5 s, which shows in the slowest request and not as errors. Server: `{}`.\n",
        r.config.outage_guard_s,
        AFTER_OUTAGE.as_secs_f64(),
        if r.plan.notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.plan.notes.join("; "))
        },
        r.config.server_command
    );
    let _ = writeln!(
        out,
        "```sh\n{}   # builds release, runs `mcpgate-bench soak`, rewrites only this section\n```",
        r.command
    );
    let _ = writeln!(out, "{SECTION_END}");
    out
}

/// The soak section of `doc` (markers included), if it has one.
pub fn extract_section(doc: &str) -> Option<&str> {
    let begin = doc.find(SECTION_BEGIN)?;
    let end = doc[begin..].find(SECTION_END)? + begin + SECTION_END.len();
    let end = if doc[end..].starts_with('\n') {
        end + 1
    } else {
        end
    };
    Some(&doc[begin..end])
}

/// `doc` with its soak section replaced by `section`, or with `section`
/// inserted before `## What ran` (else before `## Analysis`, else at the end).
pub fn splice_section(doc: &str, section: &str) -> String {
    let section = if section.ends_with('\n') {
        section.to_owned()
    } else {
        format!("{section}\n")
    };
    if let Some(old) = extract_section(doc) {
        return doc.replacen(old, &section, 1);
    }
    for anchor in ["\n## What ran", "\n## Analysis"] {
        if let Some(at) = doc.find(anchor) {
            return format!("{}\n{section}{}", &doc[..at + 1], &doc[at + 1..]);
        }
    }
    if doc.is_empty() {
        return section;
    }
    let sep = if doc.ends_with("\n\n") {
        ""
    } else if doc.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    format!("{doc}{sep}{section}")
}

/// For the main report writer: `new_doc` with the soak section `old_doc` had
/// (the main report does not generate it, so rewriting the file would lose it).
pub fn keep_section(old_doc: Option<&str>, new_doc: String) -> String {
    match old_doc.and_then(extract_section) {
        Some(section) => splice_section(&new_doc, section),
        None => new_doc,
    }
}

/// Regenerates the soak section of `md` from the results file `json`.
pub fn write_section(json: &Path, md: &Path) -> anyhow::Result<()> {
    let results: SoakResults = serde_json::from_str(
        &std::fs::read_to_string(json).with_context(|| format!("reading {}", json.display()))?,
    )
    .with_context(|| format!("parsing {}", json.display()))?;
    let md_dir = md.parent().unwrap_or(Path::new("."));
    let abs = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let link = abs(json)
        .strip_prefix(abs(md_dir))
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| json.to_path_buf())
        .to_string_lossy()
        .into_owned();
    let doc = std::fs::read_to_string(md).unwrap_or_default();
    let text = splice_section(&doc, &section(&results, &link));
    std::fs::write(md, text).with_context(|| format!("writing {}", md.display()))?;
    eprintln!(
        "wrote the Reliability (soak) section of {} (from {})",
        md.display(),
        json.display()
    );
    Ok(())
}

/// Prints the outcome in a few lines.
pub fn print_summary(r: &SoakResults) {
    eprintln!(
        "soak {}: {} requests, {} correct, {} errors for valid tokens {:?}; {} rotations, {} JWKS outages ({} fetches refused); RSS {} → max {} → {} MiB; p99 {} ms (worst interval {} ms); {:.0} s",
        if r.passed() { "PASS" } else { "MISS" },
        r.totals.requests,
        r.totals.ok,
        r.totals.errors,
        r.totals.error_kinds,
        r.rotations.len(),
        r.outages.len(),
        r.outages.iter().map(|o| o.jwks_refused).sum::<u64>(),
        mib(r.rss.start_kib),
        mib(r.rss.max_kib),
        mib(r.rss.end_kib),
        ms(r.totals.latency.p99_us),
        r.worst_interval
            .as_ref()
            .map(|w| ms(w.p99_us))
            .unwrap_or_else(|| "?".to_owned()),
        r.wall_seconds
    );
    for e in &r.harness_errors {
        eprintln!("PROBLEM: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ten_minute_plan() {
        let p = plan(Duration::from_secs(600));
        assert_eq!(p.rotate_every_s, 60.0);
        assert_eq!(p.outages_s, vec![[200.0, 230.0], [400.0, 430.0]]);
        // 420 falls inside the second outage and runs after it.
        assert_eq!(
            p.rotations_s,
            vec![60.0, 120.0, 180.0, 240.0, 300.0, 360.0, 431.0, 480.0, 540.0]
        );
        assert_eq!(p.notes.len(), 1, "{:?}", p.notes);
    }

    #[test]
    fn no_rotation_inside_or_just_before_an_outage() {
        for secs in [20, 30, 60, 90, 120, 300, 600, 1800, 3 * 3600] {
            let p = plan(Duration::from_secs(secs));
            let guard = OUTAGE_GUARD.as_secs_f64();
            for t in &p.rotations_s {
                assert!(*t > 0.0 && *t < secs as f64, "{secs}: {t}");
                for [start, end] in &p.outages_s {
                    assert!(
                        *t < start - guard || *t >= *end,
                        "{secs}: {t} vs {start}–{end}"
                    );
                }
            }
            assert!(
                p.rotations_s.windows(2).all(|w| w[1] - w[0] >= 1.0),
                "{secs}: {p:?}"
            );
            assert!(!p.rotations_s.is_empty());
        }
        let short = plan(Duration::from_secs(60));
        assert_eq!(short.outages_s, vec![[20.0, 23.0], [40.0, 43.0]]);
        assert_eq!(
            short.rotations_s,
            vec![6.0, 12.0, 24.0, 30.0, 44.0, 48.0, 54.0]
        );
    }

    #[test]
    fn histogram_quantiles_are_within_one_percent() {
        let mut h = Histogram::default();
        let mut exact: Vec<u64> = Vec::new();
        for i in 0..100_000u64 {
            let v = (i * 7919) % 250_000 + 1;
            h.record(v);
            exact.push(v * 1000);
        }
        let want = summarise(&mut exact);
        let got = h.latency();
        for (g, w) in [
            (got.p50_us, want.p50_us),
            (got.p90_us, want.p90_us),
            (got.p99_us, want.p99_us),
            (got.max_us, want.max_us),
        ] {
            assert!((g - w).abs() <= w * 0.01 + 1.0, "{g} vs {w}");
        }
        for us in [
            0u64,
            1,
            1023,
            1024,
            1025,
            5000,
            1 << 20,
            u64::from(u32::MAX),
        ] {
            let b = bucket_of(us);
            assert!(bucket_floor(b) <= us && us < bucket_floor(b + 1), "{us}");
        }
        assert_eq!(Histogram::default().latency(), Latency::default());
    }

    #[test]
    fn base64url_matches_known_vectors() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foob"), "Zm9vYg");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
        let forged = unknown_kid_token("aaa.bbb.ccc", 7);
        assert!(forged.ends_with(".bbb.ccc"), "{forged}");
    }

    const MAIN: &str = "# Benchmarks\n\nintro\n\n## Signing-key rotation mid-run\n\ntable\n\n## What ran\n\n- x\n\n## Analysis\n\ntext\n";

    #[test]
    fn the_section_is_inserted_replaced_and_kept() {
        let r = SoakResults {
            command: command_line(Duration::from_secs(600), 64),
            ..SoakResults::default()
        };
        let s1 = section(&r, "bench/results/soak-x.json");
        assert!(s1.starts_with(SECTION_BEGIN) && s1.trim_end().ends_with(SECTION_END));
        assert!(s1.contains("## Reliability (soak)"));
        assert!(s1.contains("MISS"), "no results is not a pass");
        let doc = splice_section(MAIN, &s1);
        assert!(doc.find("## Reliability").unwrap() < doc.find("## What ran").unwrap());
        assert!(doc.find("## Signing-key").unwrap() < doc.find("## Reliability").unwrap());
        assert_eq!(extract_section(&doc), Some(s1.as_str()));
        // Replacing leaves everything else as it was.
        let s2 = s1.replace("MISS", "SOMETHING ELSE");
        let doc2 = splice_section(&doc, &s2);
        assert_eq!(doc2.replace(&s2, ""), doc.replace(&s1, ""));
        assert_eq!(doc2.matches(SECTION_BEGIN).count(), 1);
        // The main report rewrites the file without it: kept.
        let kept = keep_section(Some(&doc2), MAIN.to_owned());
        assert_eq!(kept, doc2);
        assert_eq!(keep_section(None, MAIN.to_owned()), MAIN);
        assert_eq!(keep_section(Some(MAIN), MAIN.to_owned()), MAIN);
        // No anchor: appended.
        assert!(splice_section("# B\n", &s1).ends_with(&s1));
        assert_eq!(splice_section("", &s1), s1);
    }

    #[test]
    fn a_run_with_errors_is_a_miss_and_says_so() {
        let mut r = SoakResults::default();
        r.totals.ok = 10;
        assert!(r.passed());
        r.totals.errors = 1;
        r.totals.error_kinds.insert("HTTP 401".into(), 1);
        assert!(!r.passed());
        let s = section(&r, "x.json");
        assert!(s.contains("**1** (1 HTTP 401) — **MISS**"), "{s}");
        r.totals.errors = 0;
        r.harness_errors.push("rotation 3 failed".into());
        assert!(!r.passed());
    }
}
