//! The results file, `bench/results/<date>.json`: everything one run measured
//! plus the context needed to judge it (machine, versions, load average).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::Latency;

/// One whole run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// `full` or `smoke`.
    pub mode: String,
    /// Wall-clock time of the whole driver run, seconds.
    pub wall_seconds: f64,
    /// The commit the benchmark ran on and whether the work tree was clean;
    /// `None` in results files written before this was recorded.
    #[serde(default)]
    pub source: Option<SourceTree>,
    /// Hardware and OS.
    pub machine: Machine,
    /// Versions of everything measured.
    pub versions: BTreeMap<String, String>,
    /// Load averages sampled around the measurements.
    pub load: LoadAverages,
    /// How each system was started.
    pub systems: Vec<SystemInfo>,
    /// Durations and concurrency levels.
    pub config: RunConfig,
    /// Throughput and latency runs.
    pub throughput: Vec<ThroughputRun>,
    /// Process spawn → first correct `tools/call`.
    pub cold_start: Vec<ColdStart>,
    /// Resident memory with many open sessions.
    pub memory: Vec<Memory>,
    /// Token verification cost (Criterion for mcpgate, a timing loop for FastMCP).
    pub verify: Vec<VerifyCost>,
    /// Cost of one per-tool authorization decision by number of rules
    /// (Criterion, `benches/policy.rs`); empty in results files written
    /// before it was measured.
    #[serde(default)]
    pub policy_decide: Vec<PolicyDecideCost>,
    /// Verification cost per signature algorithm, mcpgate (Criterion,
    /// `verify_alg/*`) next to FastMCP's `JWTVerifier` for the same kind of
    /// tokens; empty in results files written before it was measured.
    #[serde(default)]
    pub verify_alg: Vec<AlgVerifyCost>,
    /// Resident memory per idle principal behind a gateway with a stdio
    /// upstream; empty in results files written before it was measured.
    #[serde(default)]
    pub gateway_memory: Vec<GatewayMemory>,
    /// Load while the signing key rotates.
    pub rotation: Vec<Rotation>,
    /// Anything that went wrong in the harness itself.
    pub harness_errors: Vec<String>,
}

/// What was measured: the repository's commit and the state of its work tree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceTree {
    /// `git rev-parse HEAD`; `None` when the benchmark did not run in a git
    /// checkout (or git could not be run), with the reason in `error`.
    pub commit: Option<String>,
    /// Whether `git status --porcelain` printed nothing: no modified, staged or
    /// untracked (not ignored) file anywhere in the tree. `None` when unknown.
    pub clean: Option<bool>,
    /// What `git status --porcelain` printed, one entry per path (at most
    /// [`SourceTree::MAX_CHANGES`]; `changed_paths` counts them all).
    #[serde(default)]
    pub changes: Vec<String>,
    /// Number of paths `git status --porcelain` listed.
    #[serde(default)]
    pub changed_paths: usize,
    /// Why `commit` or `clean` is unknown.
    #[serde(default)]
    pub error: Option<String>,
}

impl SourceTree {
    /// Most `git status --porcelain` lines kept in `changes`.
    pub const MAX_CHANGES: usize = 100;
}

/// Hardware and OS.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cores: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// MemTotal, MiB.
    pub memory_mib: u64,
    /// `uname -sr`.
    pub kernel: String,
}

/// `/proc/loadavg` samples.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadAverages {
    /// 1/5/15-minute load averages when measurements started.
    pub at_start: [f64; 3],
    /// The same when they ended.
    pub at_end: [f64; 3],
    /// Highest 1-minute value sampled before any measurement.
    pub max_1m_sampled: f64,
}

/// How one system under test is run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SystemInfo {
    /// Short id (`mcpgate`, `mcpgate-noauth`, `fastmcp`, `floor`, …).
    pub id: String,
    /// Human label.
    pub label: String,
    /// The command line, as run.
    pub command: String,
}

/// Durations and concurrency levels.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunConfig {
    /// Warm-up per run (excluded), seconds.
    pub warmup_s: f64,
    /// Measured duration per run, seconds.
    pub duration_s: f64,
    /// Connection counts.
    pub concurrency: Vec<usize>,
    /// Sessions opened for the memory measurement.
    pub memory_sessions: usize,
    /// Cold starts per system.
    pub cold_start_runs: usize,
}

/// One closed-loop run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ThroughputRun {
    /// System id.
    pub system: String,
    /// `per-connection` (as many sessions as connections), `shared` (one session)
    /// or `stateless` (2026-07-28 requests, no session).
    pub sessions: String,
    /// Connections (one worker each).
    pub concurrency: usize,
    /// Correct results in the measured window.
    pub ok: u64,
    /// Failed requests in the measured window.
    pub errors: u64,
    /// Failures by kind.
    pub error_kinds: BTreeMap<String, u64>,
    /// Correct results per second.
    pub rps: f64,
    /// Latency of correct results.
    pub latency: Latency,
    /// 1-minute load average right before the run.
    pub load_1m_before: f64,
    /// CPU seconds the server process used during the measured window, if known.
    pub server_cpu_s: Option<f64>,
    /// CPU seconds the load generator used during the measured window.
    #[serde(default)]
    pub client_cpu_s: Option<f64>,
    /// CPU seconds used by everything else on the machine (other agents'
    /// builds, the kernel's unattributed work) during the window: machine busy
    /// time minus server and load generator.
    #[serde(default)]
    pub other_cpu_s: Option<f64>,
    /// Server VmRSS right after the run, KiB.
    #[serde(default)]
    pub server_rss_kib_after: Option<u64>,
    /// Correct results per 250 ms of the measured window.
    #[serde(default)]
    pub timeline: Vec<u64>,
}

/// Cold-start timings of one system.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ColdStart {
    /// System id.
    pub system: String,
    /// Every run, milliseconds.
    pub runs_ms: Vec<f64>,
    /// Median, milliseconds.
    pub median_ms: f64,
    /// Fastest, milliseconds.
    pub min_ms: f64,
}

/// Memory of one system.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Memory {
    /// System id.
    pub system: String,
    /// VmRSS after start-up and one call, KiB.
    pub baseline_kib: u64,
    /// VmRSS with the sessions open, KiB.
    pub with_sessions_kib: u64,
    /// Sessions successfully opened (and left open).
    pub sessions_opened: usize,
    /// Seconds it took to open them.
    pub open_seconds: f64,
}

/// A stdio gateway's memory before and after more principals each made one
/// call and went idle (VmRSS, KiB; the gateway process alone and the sum over
/// its direct children, the stdio upstreams).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GatewayMemory {
    /// System id.
    pub system: String,
    /// Principals that made their call after the baseline (distinct subjects).
    pub principals: usize,
    /// The gateway after start-up and one principal's call.
    pub baseline_gateway_kib: u64,
    /// Its children then.
    pub baseline_children: usize,
    /// Their RSS then, summed.
    pub baseline_children_kib: u64,
    /// The gateway with the principals idle.
    pub gateway_kib: u64,
    /// Its children then.
    pub children: usize,
    /// Their RSS then, summed.
    pub children_kib: u64,
    /// Proportional set size (PSS, KiB) of the gateway plus its children at
    /// the baseline: shared pages (the children's common binary) counted
    /// once; `None` when /proc/PID/smaps_rollup could not be read.
    #[serde(default)]
    pub baseline_total_pss_kib: Option<u64>,
    /// The same with the principals idle.
    #[serde(default)]
    pub total_pss_kib: Option<u64>,
}

impl GatewayMemory {
    /// Growth of the gateway process alone per principal, KiB.
    pub fn per_principal_gateway_kib(&self) -> Option<f64> {
        (self.principals > 0).then(|| {
            (self.gateway_kib as f64 - self.baseline_gateway_kib as f64) / self.principals as f64
        })
    }

    /// Growth of the gateway plus its children per principal in PSS, KiB.
    pub fn per_principal_total_pss_kib(&self) -> Option<f64> {
        match (self.baseline_total_pss_kib, self.total_pss_kib) {
            (Some(before), Some(after)) if self.principals > 0 => {
                Some((after as f64 - before as f64) / self.principals as f64)
            }
            _ => None,
        }
    }

    /// Growth of the gateway plus its children per principal, KiB.
    pub fn per_principal_total_kib(&self) -> Option<f64> {
        (self.principals > 0).then(|| {
            ((self.gateway_kib + self.children_kib) as f64
                - (self.baseline_gateway_kib + self.baseline_children_kib) as f64)
                / self.principals as f64
        })
    }
}

/// Cost of one token verification.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VerifyCost {
    /// System id.
    pub system: String,
    /// A token the verifier has not seen before, key already cached: the full
    /// check (signature included), microseconds.
    pub cached_us: Option<f64>,
    /// The same token verified again and again, key cached (mcpgate answers it
    /// from its default verified-token cache), microseconds. `None` when it
    /// was not measured; the report then says so and never fills it in.
    pub repeat_token_us: Option<f64>,
    /// First verification of a fresh verifier, JWKS fetch included, microseconds.
    pub first_with_fetch_us: Option<f64>,
    /// How it was measured.
    pub method: String,
}

/// One signature algorithm's verification cost (microseconds; `None` when
/// not measured, which the report says rather than filling in).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlgVerifyCost {
    /// JOSE `alg` name: `RS256`, `ES256` or `EdDSA`.
    pub algorithm: String,
    /// mcpgate, a token not seen before, key cached (Criterion mean of
    /// `verify_alg/{alg}/new_token`).
    pub mcpgate_new_us: Option<f64>,
    /// mcpgate, the same token again, default verified-token cache
    /// (`verify_alg/{alg}/repeat_token`).
    pub mcpgate_repeat_us: Option<f64>,
    /// FastMCP's `JWTVerifier`, mean over distinct tokens each verified once.
    pub fastmcp_new_us: Option<f64>,
    /// FastMCP's `JWTVerifier`, mean of one token verified again and again.
    pub fastmcp_repeat_us: Option<f64>,
}

/// `PolicySet::decide` for the benchmark's `add` call (allow path) with
/// `rules` rules of `bench-server --policies`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyDecideCost {
    /// Number of rules in the set.
    pub rules: usize,
    /// Criterion's mean, nanoseconds.
    pub mean_ns: f64,
}

/// A run during which the signing key rotates.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Rotation {
    /// System id.
    pub system: String,
    /// Connections.
    pub concurrency: usize,
    /// Seconds into the measured window the key rotated.
    pub rotated_at_s: f64,
    /// Correct results.
    pub ok: u64,
    /// Failures.
    pub errors: u64,
    /// Failures by kind.
    pub error_kinds: BTreeMap<String, u64>,
    /// Correct results with tokens signed by the old key.
    pub ok_old_key: u64,
    /// Correct results with tokens signed by the new key.
    pub ok_new_key: u64,
    /// Correct results per second.
    pub rps: f64,
    /// Latency of correct results.
    pub latency: Latency,
    /// Correct results per 250 ms bucket of the measured window.
    pub timeline: Vec<u64>,
}
