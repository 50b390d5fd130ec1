//! The whole run: authorization server, every system under test one at a
//! time, the measurements, and the output files.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use std::io::BufRead as _;
use std::os::unix::process::CommandExt as _;
use std::process::Command;

use tokio::time::Instant;

use crate::load::{self, LoadSpec, TokenSlot, Window, process_tree_rss_kib};
use crate::proto::{Connection, Target, Wire, open_session, simple_request};
use crate::results::{
    AlgVerifyCost, ColdStart, GatewayMemory, Machine, Memory, PolicyDecideCost, Results, Rotation,
    RunConfig, SourceTree, SystemInfo, ThroughputRun, VerifyCost,
};
use crate::stats::median;
use crate::system::{self, Environment, Kind, Running, System, wait_ready};

/// What to run and where to write.
#[derive(Debug, Clone)]
pub struct Options {
    /// A few seconds per system; output under `target/`.
    pub smoke: bool,
    /// The repository root.
    pub repo_root: PathBuf,
    /// Directory of `bench-as` and `bench-server`: the driver's own (release
    /// for a full run, debug for the smoke run from the test build).
    pub bin_dir: PathBuf,
    /// FastMCP's virtualenv.
    pub venv: PathBuf,
    /// Where `<date>.json` and `<date>.svg` go.
    pub out_dir: PathBuf,
    /// The Markdown report to (re)generate.
    pub markdown: PathBuf,
    /// Criterion's output directory.
    pub criterion_dir: PathBuf,
    /// Server logs.
    pub log_dir: PathBuf,
    /// Only these system ids (all when empty).
    pub only: Vec<String>,
    /// Measured seconds per run.
    pub duration: Duration,
    /// Warm-up per run.
    pub warmup: Duration,
    /// Connection counts.
    pub concurrency: Vec<usize>,
    /// Sessions for the memory measurement.
    pub memory_sessions: usize,
    /// Cold starts per system.
    pub cold_start_runs: usize,
}

impl Options {
    /// Defaults for a full or smoke run from the repository root.
    pub fn new(repo_root: PathBuf, target_dir: PathBuf, smoke: bool) -> Self {
        let bench = repo_root.join("bench");
        let (out_dir, markdown) = if smoke {
            let d = target_dir.join("bench-smoke");
            (d.clone(), d.join("BENCHMARKS.md"))
        } else {
            (bench.join("results"), repo_root.join("BENCHMARKS.md"))
        };
        Self {
            smoke,
            bin_dir: std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| target_dir.join("release")),
            venv: bench.join(".venv"),
            // A smoke run executes the Criterion bench in test mode, which writes
            // no estimates; a full run's old ones must not show up in its report.
            criterion_dir: target_dir.join(if smoke {
                "bench-smoke/criterion"
            } else {
                "criterion"
            }),
            log_dir: target_dir.join(if smoke {
                "bench-smoke/logs"
            } else {
                "bench-logs"
            }),
            out_dir,
            markdown,
            repo_root,
            only: Vec::new(),
            duration: Duration::from_secs_f64(if smoke { 1.5 } else { 10.0 }),
            warmup: Duration::from_secs_f64(if smoke { 0.5 } else { 2.0 }),
            concurrency: vec![1, 16, 64],
            memory_sessions: if smoke { 200 } else { 1000 },
            cold_start_runs: if smoke { 2 } else { 7 },
        }
    }
}

/// `ThroughputRun::sessions` of session-era runs with one session per connection.
pub const PER_CONNECTION: &str = "per-connection";
/// `ThroughputRun::sessions` of session-era runs where all connections share one session.
pub const SHARED: &str = "shared";
/// `ThroughputRun::sessions` of 2026-07-28 runs (no session at all).
pub const STATELESS: &str = "stateless";

/// Concurrency of the key-rotation run.
const ROTATION_CONCURRENCY: usize = 16;
/// Per-request timeout: bounds every request of every run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

fn loadavg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
    [
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    ]
}

/// `YYYY-MM-DD` (UTC) without a date crate (Howard Hinnant's civil_from_days).
pub fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_mib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib / 1024)
        .unwrap_or(0);
    let kernel = format!(
        "Linux {}",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    Machine {
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        cpu_model,
        memory_mib,
        kernel,
    }
}

async fn output_of(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn lock_version(repo_root: &Path, name: &str) -> Option<String> {
    let lock = std::fs::read_to_string(repo_root.join("Cargo.lock")).ok()?;
    let marker = format!("name = \"{name}\"\nversion = \"");
    let start = lock.find(&marker)? + marker.len();
    Some(lock[start..].split('"').next()?.to_owned())
}

async fn versions(opts: &Options) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    if let Some(s) = output_of(Command::new("rustc").arg("--version")).await {
        v.insert("rustc".into(), s);
    }
    for crate_name in ["rmcp", "axum", "hyper", "tokio", "jsonwebtoken"] {
        if let Some(ver) = lock_version(&opts.repo_root, crate_name) {
            v.insert(format!("{crate_name} (crate)"), ver);
        }
    }
    let python = opts.venv.join("bin/python");
    let script = "import json,sys,importlib.metadata as m\nout={'python':sys.version.split()[0]}\nfor p in ['fastmcp','mcp','uvicorn','uvloop','httptools','starlette','PyJWT','joserfc']:\n    try: out[p]=m.version(p)\n    except Exception: pass\nprint(json.dumps(out))";
    if let Some(json) = output_of(Command::new(&python).args(["-c", script])).await
        && let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(&json)
    {
        for (k, val) in map {
            if let Some(s) = val.as_str() {
                v.insert(k, s.to_owned());
            }
        }
    }
    v
}

/// The commit of the checkout at `repo_root` and whether its work tree is
/// clean (`git status --porcelain` prints nothing). Never fails: outside a git
/// checkout, or without git, the commit stays unknown and `error` says why.
pub fn source_tree(repo_root: &Path) -> SourceTree {
    let git = |args: &[&str]| -> Result<String, String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(repo_root)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "`git {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    let unknown = |error: String| SourceTree {
        error: Some(error),
        ..SourceTree::default()
    };
    let toplevel = match git(&["rev-parse", "--show-toplevel"]) {
        Ok(t) => PathBuf::from(t.trim()),
        Err(e) => return unknown(format!("not a git checkout ({e})")),
    };
    // A copy of the sources unpacked inside some other repository is not a
    // checkout of this one: that repository's commit would say nothing.
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    if canonical(&toplevel) != canonical(repo_root) {
        return unknown(format!(
            "not a git checkout: {} lies inside the repository at {}",
            repo_root.display(),
            toplevel.display()
        ));
    }
    let commit = match git(&["rev-parse", "HEAD"]) {
        Ok(c) => c.trim().to_owned(),
        Err(e) => return unknown(e),
    };
    match git(&["status", "--porcelain"]) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            SourceTree {
                commit: Some(commit),
                clean: Some(lines.is_empty()),
                changes: lines
                    .iter()
                    .take(SourceTree::MAX_CHANGES)
                    .map(|l| (*l).to_owned())
                    .collect(),
                changed_paths: lines.len(),
                error: None,
            }
        }
        Err(e) => SourceTree {
            commit: Some(commit),
            error: Some(e),
            ..SourceTree::default()
        },
    }
}

/// The running authorization server (`bench-as`, read until `READY`); the
/// soak run starts it the same way.
pub(crate) struct AuthServer {
    pub(crate) running: Running,
    pub(crate) addr: SocketAddr,
    pub(crate) env_url: String,
    pub(crate) resource_id: String,
}

impl AuthServer {
    pub(crate) async fn start(bin_dir: &Path, mcp_url: &str) -> anyhow::Result<Self> {
        Self::start_signing(bin_dir, mcp_url, "RS256").await
    }

    /// Starts `bench-as` with its key signing with `alg` (`RS256`, `ES256`, `EdDSA`).
    pub(crate) async fn start_signing(
        bin_dir: &Path,
        mcp_url: &str,
        alg: &str,
    ) -> anyhow::Result<Self> {
        let mut cmd = Command::new(bin_dir.join("bench-as"));
        cmd.args(["--mcp-url", mcp_url, "--signing-alg", alg])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0);
        let spawned_at = Instant::now();
        let mut child = cmd.spawn().context("spawning bench-as (build it first)")?;
        let pid = child.id();
        let stdout = child.stdout.take().context("no stdout")?;
        // A thread forwards the AS's lines (and keeps draining them afterwards,
        // so the AS never blocks on a full pipe).
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let running = Running::from_child(child, pid, spawned_at);
        let (mut env_url, mut resource_id) = (None, None);
        let read = async {
            while let Some(line) = rx.recv().await {
                if let Some(v) = line.strip_prefix("Environment URL: ") {
                    env_url = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("Resource ID: ") {
                    resource_id = Some(v.to_owned());
                } else if line == "READY" {
                    return true;
                }
            }
            false
        };
        let started = tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .context("bench-as did not start within 30 s")?;
        if !started {
            bail!("bench-as exited during start-up");
        }
        let env_url = env_url.context("bench-as printed no environment URL")?;
        let resource_id = resource_id.context("bench-as printed no resource id")?;
        let addr: SocketAddr = env_url
            .trim_start_matches("http://")
            .parse()
            .context("environment URL is not http://ip:port")?;
        Ok(Self {
            running,
            addr,
            env_url,
            resource_id,
        })
    }

    async fn mint(&self, subject: &str) -> anyhow::Result<String> {
        let (status, body) = simple_request(
            self.addr,
            http::Method::GET,
            &format!("/bench/mint?sub={subject}"),
            REQUEST_TIMEOUT,
        )
        .await
        .map_err(|e| anyhow::anyhow!("minting a token: {e}"))?;
        if status != 200 {
            bail!("minting a token: HTTP {status}");
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}

impl AuthServer {
    /// `count` distinct tokens in one request (subjects `{subject}_{i}`).
    async fn mint_many(&self, subject: &str, count: usize) -> anyhow::Result<Vec<String>> {
        let (status, body) = simple_request(
            self.addr,
            http::Method::GET,
            &format!("/bench/mint?sub={subject}&count={count}"),
            // Thousands of RS256 signatures, on a machine that may be busy.
            Duration::from_secs(120),
        )
        .await
        .map_err(|e| anyhow::anyhow!("minting {count} tokens: {e}"))?;
        if status != 200 {
            bail!(
                "minting {count} tokens: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let tokens: Vec<String> = String::from_utf8_lossy(&body)
            .lines()
            .map(str::to_owned)
            .collect();
        if tokens.len() != count {
            bail!("asked bench-as for {count} tokens, got {}", tokens.len());
        }
        Ok(tokens)
    }
}

fn subject(i: usize) -> String {
    format!("usr_bench_{i:02}")
}

/// Runs everything and writes the outputs; the returned results say what failed.
pub async fn run(opts: &Options) -> anyhow::Result<Results> {
    let started = Instant::now();
    let mut results = Results {
        date: today_utc(),
        mode: if opts.smoke { "smoke" } else { "full" }.to_owned(),
        machine: machine(),
        config: RunConfig {
            warmup_s: opts.warmup.as_secs_f64(),
            duration_s: opts.duration.as_secs_f64(),
            concurrency: opts.concurrency.clone(),
            memory_sessions: opts.memory_sessions,
            cold_start_runs: opts.cold_start_runs,
        },
        ..Results::default()
    };
    results.source = Some(source_tree(&opts.repo_root));
    results.versions = versions(opts).await;
    let systems: Vec<System> = if opts.only.is_empty() {
        system::all()
    } else {
        system::all()
            .into_iter()
            .chain(system::diagnostics())
            .filter(|s| opts.only.iter().any(|o| o == s.id))
            .collect()
    };
    if systems
        .iter()
        .any(|s| matches!(s.kind, Kind::FastMcp { .. } | Kind::FastMcpProxy { .. }))
        && !system::venv_ready(&opts.venv)
    {
        bail!(
            "FastMCP's virtualenv is missing at {} (bench/run.sh creates it)",
            opts.venv.display()
        );
    }

    // One port for every server under test (they run one at a time), so the
    // authorization server's audience (the MCP URL) fits them all.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    // The gateway systems' HTTP upstream listens on a second port.
    let upstream_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        let p = l.local_addr()?.port();
        if p == port {
            bail!("the OS handed out port {port} twice");
        }
        p
    };
    let target = Target::loopback(port);
    let auth = AuthServer::start(&opts.bin_dir, &target.url()).await?;
    eprintln!(
        "authorization server at {} (resource {})",
        auth.env_url, auth.resource_id
    );
    let env = Environment {
        bin_dir: opts.bin_dir.clone(),
        bench_dir: opts.repo_root.join("bench"),
        venv: opts.venv.clone(),
        log_dir: opts.log_dir.clone(),
        env_url: auth.env_url.clone(),
        resource_id: auth.resource_id.clone(),
        port,
        upstream_port,
    };
    if systems
        .iter()
        .any(|s| matches!(s.kind, Kind::Gateway { .. }))
        && !opts.bin_dir.join("mcpgate").exists()
    {
        bail!(
            "the gateway systems need {} (bench/run.sh builds it; or leave them out with --only)",
            opts.bin_dir.join("mcpgate").display()
        );
    }
    for s in &systems {
        results.systems.push(SystemInfo {
            id: s.id.to_owned(),
            label: s.label.to_owned(),
            command: env.command(s).1,
        });
    }

    let max_c = opts
        .concurrency
        .iter()
        .copied()
        .max()
        .unwrap_or(1)
        .max(ROTATION_CONCURRENCY);
    let mut worker_tokens = Vec::with_capacity(max_c);
    for i in 0..max_c {
        worker_tokens.push(auth.mint(&subject(i)).await?);
    }
    let shared_token = auth.mint("usr_bench_shared").await?;

    results.load.at_start = loadavg();
    results.load.max_1m_sampled = results.load.at_start[0];
    for system in &systems {
        eprintln!("== {}", system.label);
        if let Err(e) = measure_system(
            opts,
            &env,
            &auth,
            system,
            &worker_tokens,
            &shared_token,
            &mut results,
        )
        .await
        {
            eprintln!("!! {}: {e:#}", system.id);
            results.harness_errors.push(format!("{}: {e:#}", system.id));
        }
    }
    if systems.iter().any(|s| s.kind == Kind::Mcpgate) {
        results.verify.push(criterion_verify(&opts.criterion_dir));
    }
    if systems.iter().any(|s| s.kind == Kind::McpgatePolicies) {
        results.policy_decide = criterion_policy(&opts.criterion_dir);
    }
    if systems
        .iter()
        .any(|s| s.kind == Kind::FastMcp { workers: 1 })
    {
        match fastmcp_verify(opts, &auth, &env).await {
            Ok(v) => results.verify.push(v),
            Err(e) => results
                .harness_errors
                .push(format!("fastmcp verify: {e:#}")),
        }
    }
    if systems.iter().any(|s| s.kind == Kind::Mcpgate)
        && systems
            .iter()
            .any(|s| s.kind == Kind::FastMcp { workers: 1 })
    {
        results.verify_alg = verify_per_algorithm(
            opts,
            &env.bin_dir,
            &target.url(),
            &mut results.harness_errors,
        )
        .await;
    }
    results.load.at_end = loadavg();
    auth.running.stop().await;
    results.wall_seconds = started.elapsed().as_secs_f64();
    Ok(results)
}

async fn measure_system(
    opts: &Options,
    env: &Environment,
    auth: &AuthServer,
    system: &System,
    worker_tokens: &[String],
    shared_token: &str,
    results: &mut Results,
) -> anyhow::Result<()> {
    let target = env.target();
    let ready_token = system.auth().then_some(worker_tokens[0].as_str());
    let start_deadline = Duration::from_secs(60);

    // Throughput and latency, then the key rotation, on one server process.
    let mut running = Running::start(env, system).await?;
    wait_ready(
        &mut running,
        &target,
        ready_token,
        system.canned(),
        start_deadline,
    )
    .await?;
    if matches!(system.kind, Kind::Gateway { .. }) {
        let largest = concurrency_for(opts, system).into_iter().max().unwrap_or(1);
        warm_principals(
            &target,
            &worker_tokens[..largest.min(worker_tokens.len())],
            system.speaks_stateless(),
        )
        .await?;
    }
    // (label in the results, wire, one shared session)
    let mut modes = vec![(PER_CONNECTION, Wire::Session, false)];
    if system.can_share_session() && system.is_main() {
        modes.push((SHARED, Wire::Session, true));
    }
    if system.speaks_stateless() {
        modes.push((STATELESS, Wire::Stateless, false));
    }
    for (sessions, wire, shared) in modes {
        for &c in &concurrency_for(opts, system) {
            let tokens: Vec<Arc<TokenSlot>> = match (system.auth(), shared) {
                (false, _) => Vec::new(),
                (true, true) => vec![TokenSlot::new(shared_token)],
                (true, false) => worker_tokens[..c]
                    .iter()
                    .map(|t| TokenSlot::new(t.as_str()))
                    .collect(),
            };
            let spec = LoadSpec {
                target: target.clone(),
                concurrency: c,
                wire,
                shared_session: shared,
                warmup: opts.warmup,
                duration: opts.duration,
                tokens,
                canned: system.canned(),
                request_timeout: REQUEST_TIMEOUT,
                server_pids: running.pids(),
            };
            let load_before = loadavg()[0];
            results.load.max_1m_sampled = results.load.max_1m_sampled.max(load_before);
            let outcome = load::run(spec, |_| {}).await?;
            let rss_after = running
                .pids()
                .into_iter()
                .map(process_tree_rss_kib)
                .sum::<Option<u64>>();
            eprintln!(
                "   {sessions:>14} c={c:<3} {:>9.0} ok/s  p50 {:>8.1} µs  p99 {:>9.1} µs  errors {}  (server cpu {:.2} s, client cpu {:.2} s, RSS after {:.0} MiB, other processes {:.2} s, load {load_before:.2})",
                outcome.rps,
                outcome.latency.p50_us,
                outcome.latency.p99_us,
                outcome.errors,
                outcome.server_cpu_s.unwrap_or(f64::NAN),
                outcome.client_cpu_s.unwrap_or(f64::NAN),
                rss_after.unwrap_or(0) as f64 / 1024.0,
                match (
                    outcome.machine_busy_s,
                    outcome.server_cpu_s,
                    outcome.client_cpu_s
                ) {
                    (Some(m), Some(s), Some(c)) => (m - s - c).max(0.0),
                    _ => f64::NAN,
                },
            );
            results.throughput.push(ThroughputRun {
                system: system.id.to_owned(),
                sessions: sessions.to_owned(),
                concurrency: c,
                ok: outcome.ok,
                errors: outcome.errors,
                error_kinds: outcome.error_kinds,
                rps: outcome.rps,
                latency: outcome.latency,
                load_1m_before: load_before,
                server_cpu_s: outcome.server_cpu_s,
                client_cpu_s: outcome.client_cpu_s,
                other_cpu_s: match (
                    outcome.machine_busy_s,
                    outcome.server_cpu_s,
                    outcome.client_cpu_s,
                ) {
                    (Some(m), Some(s), Some(c)) => Some((m - s - c).max(0.0)),
                    _ => None,
                },
                server_rss_kib_after: rss_after,
                timeline: outcome.timeline,
            });
        }
    }
    if matches!(system.kind, Kind::Mcpgate | Kind::FastMcp { workers: 1 }) {
        let rotation = rotation_run(opts, auth, system, &target, running.pids()).await;
        match rotation {
            Ok(r) => results.rotation.push(r),
            Err(e) => results
                .harness_errors
                .push(format!("{} rotation: {e:#}", system.id)),
        }
    }
    running.stop().await;

    if system.stdio_gateway() {
        results
            .gateway_memory
            .push(idle_principals_run(opts, env, auth, system).await?);
    }
    if matches!(system.kind, Kind::Rmcp { .. }) && system.has_sessions() {
        results
            .memory
            .push(memory_run(opts, env, system, worker_tokens).await?);
    }
    if matches!(
        system.kind,
        Kind::Mcpgate | Kind::McpgateNoAuth | Kind::FastMcp { workers: 1 }
    ) {
        results
            .memory
            .push(memory_run(opts, env, system, worker_tokens).await?);
        results
            .cold_start
            .push(cold_start_runs(opts, env, system, ready_token).await?);
    }
    Ok(())
}

/// One correct `tools/call` through the gateway for every principal the runs
/// will use, all at once, before any run (and one 2026-07-28 call each when
/// `stateless`: the gateway keeps separate upstreams for those callers):
/// `mcpgate proxy` starts a principal's upstream (stdio child or HTTP
/// session) on its first call, and the rows are meant to show forwarding,
/// not 48 new children starting inside the 64-connection run's window (a
/// one-time cost per principal until its idle timeout, visible in the
/// idle-principal measurement).
async fn warm_principals(
    target: &Target,
    tokens: &[String],
    stateless: bool,
) -> anyhow::Result<()> {
    let tasks: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let (target, token) = (target.clone(), token.clone());
            tokio::spawn(async move {
                let mut conn = Connection::open(&target).await?;
                let session = open_session(&mut conn, Some(&token), REQUEST_TIMEOUT).await?;
                crate::proto::call_add(
                    &mut conn,
                    Some(&token),
                    &session,
                    1,
                    (i as i64, 2),
                    REQUEST_TIMEOUT,
                )
                .await?;
                if stateless {
                    crate::proto::call_add_stateless(
                        &mut conn,
                        Some(&token),
                        2,
                        (i as i64, 3),
                        REQUEST_TIMEOUT,
                    )
                    .await?;
                }
                Ok::<_, crate::proto::Failure>(())
            })
        })
        .collect();
    let mut failed = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        if let Err(e) = task.await.context("warm-up task panicked")? {
            failed.push(format!("principal {i}: {e}"));
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} principals got no correct first call through the gateway: {}",
            failed.len(),
            tokens.len(),
            failed[0]
        );
    }
    Ok(())
}

/// The connection counts `system` is driven with: all of them, except that
/// a smoke run drives FastMCP's proxy with the fewest only. It answers about
/// ten results per second there (a fresh backend session per request, debug
/// upstreams, a busy CI machine), so at 16 connections and more no request
/// would finish inside a smoke window, and a smoke run proves the harness
/// works rather than measuring anything.
fn concurrency_for(opts: &Options, system: &System) -> Vec<usize> {
    if opts.smoke && matches!(system.kind, Kind::FastMcpProxy { .. }) {
        opts.concurrency.iter().copied().min().into_iter().collect()
    } else {
        opts.concurrency.clone()
    }
}

async fn rotation_run(
    opts: &Options,
    auth: &AuthServer,
    system: &System,
    target: &Target,
    pids: Vec<u32>,
) -> anyhow::Result<Rotation> {
    let c = ROTATION_CONCURRENCY;
    let mut slots = Vec::with_capacity(c);
    for i in 0..c {
        slots.push(TokenSlot::new(auth.mint(&subject(i)).await?));
    }
    let duration = opts.duration.max(Duration::from_secs(3));
    let rotate_after = duration / 3;
    let spec = LoadSpec {
        target: target.clone(),
        concurrency: c,
        wire: Wire::Session,
        shared_session: false,
        warmup: opts.warmup,
        duration,
        tokens: slots.clone(),
        canned: false,
        request_timeout: REQUEST_TIMEOUT,
        server_pids: pids,
    };
    // Rotate inside the window, then give every other worker a token signed
    // by the new key; the rest keep their old-key tokens.
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<anyhow::Result<()>>();
    let as_addr = auth.addr;
    let on_window = move |w: Window| {
        tokio::spawn(async move {
            tokio::time::sleep_until(w.start + rotate_after).await;
            let result = async {
                let (status, body) = simple_request(
                    as_addr,
                    http::Method::POST,
                    "/admin/rotate-keys",
                    REQUEST_TIMEOUT,
                )
                .await
                .map_err(|e| anyhow::anyhow!("rotate: {e}"))?;
                if status != 200 {
                    bail!("rotate: HTTP {status}: {}", String::from_utf8_lossy(&body));
                }
                for (i, slot) in slots.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
                    let (status, body) = simple_request(
                        as_addr,
                        http::Method::GET,
                        &format!("/bench/mint?sub={}", subject(i)),
                        REQUEST_TIMEOUT,
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("mint: {e}"))?;
                    if status != 200 {
                        bail!("mint after rotation: HTTP {status}");
                    }
                    slot.set(String::from_utf8_lossy(&body).into_owned(), 1);
                }
                Ok(())
            }
            .await;
            let _ = done_tx.send(result);
        });
    };
    let outcome = load::run(spec, on_window).await?;
    done_rx.await.context("rotation task vanished")??;
    let ok_old = outcome.ok_by_generation.first().copied().unwrap_or(0);
    let ok_new = outcome.ok_by_generation.get(1).copied().unwrap_or(0);
    eprintln!(
        "   rotation c={c}: {:.0} ok/s, errors {}, ok with old key {ok_old}, with new key {ok_new}",
        outcome.rps, outcome.errors
    );
    Ok(Rotation {
        system: system.id.to_owned(),
        concurrency: c,
        rotated_at_s: rotate_after.as_secs_f64(),
        ok: outcome.ok,
        errors: outcome.errors,
        error_kinds: outcome.error_kinds,
        ok_old_key: ok_old,
        ok_new_key: ok_new,
        rps: outcome.rps,
        latency: outcome.latency,
        timeline: outcome.timeline,
    })
}

async fn memory_run(
    opts: &Options,
    env: &Environment,
    system: &System,
    worker_tokens: &[String],
) -> anyhow::Result<Memory> {
    let target = env.target();
    let token0 = system.auth().then_some(worker_tokens[0].as_str());
    let mut running = Running::start(env, system).await?;
    wait_ready(
        &mut running,
        &target,
        token0,
        false,
        Duration::from_secs(60),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = process_tree_rss_kib(running.pid).context("reading VmRSS")?;
    let connections = 16.min(opts.memory_sessions.max(1));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..connections {
        let n = opts.memory_sessions / connections
            + usize::from(k < opts.memory_sessions % connections);
        let token = system
            .auth()
            .then(|| worker_tokens[k % worker_tokens.len()].clone());
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut opened = 0usize;
            let mut conn = Connection::open(&target)
                .await
                .map_err(anyhow::Error::msg)?;
            for _ in 0..n {
                match open_session(&mut conn, token.as_deref(), REQUEST_TIMEOUT).await {
                    Ok(_) => opened += 1,
                    Err(e) => {
                        eprintln!("   session open failed: {e}");
                        conn = Connection::open(&target)
                            .await
                            .map_err(anyhow::Error::msg)?;
                    }
                }
            }
            Ok::<_, anyhow::Error>(opened)
        }));
    }
    let mut opened = 0;
    for t in tasks {
        opened += t.await.context("session task panicked")??;
    }
    let open_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let with_sessions = process_tree_rss_kib(running.pid).context("reading VmRSS")?;
    running.stop().await;
    eprintln!(
        "   memory: {:.1} MiB at start, {:.1} MiB with {opened} sessions (opened in {open_seconds:.2} s)",
        baseline as f64 / 1024.0,
        with_sessions as f64 / 1024.0
    );
    Ok(Memory {
        system: system.id.to_owned(),
        baseline_kib: baseline,
        with_sessions_kib: with_sessions,
        sessions_opened: opened,
        open_seconds,
    })
}

/// Principals that call once through a stdio gateway and then idle, for
/// [`idle_principals_run`] (fewer in a smoke run).
fn idle_principals(opts: &Options) -> usize {
    if opts.smoke { 5 } else { 20 }
}

/// RSS per idle principal behind a stdio gateway: a fresh gateway, one
/// call to get it ready (one principal, for mcpgate one child), then the
/// baseline; then [`idle_principals`] more principals (distinct subjects)
/// each make one correct `tools/call` on a session of their own and go
/// quiet; one second later the gateway's RSS and its children's are read
/// again. mcpgate starts a child per principal (its default isolation),
/// FastMCP's proxy keeps one child for everyone.
async fn idle_principals_run(
    opts: &Options,
    env: &Environment,
    auth: &AuthServer,
    system: &System,
) -> anyhow::Result<GatewayMemory> {
    let target = env.target();
    let n = idle_principals(opts);
    // Subjects no other measurement uses, so every one is a new principal.
    let ready_token = auth.mint("usr_bench_idle_ready").await?;
    let tokens = auth.mint_many("usr_bench_idle", n).await?;
    let mut running = Running::start(env, system).await?;
    wait_ready(
        &mut running,
        &target,
        Some(&ready_token),
        false,
        Duration::from_secs(60),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sample = |pid: u32| -> anyhow::Result<(u64, usize, u64, Option<u64>)> {
        let own = load::process_rss_kib(pid).context("reading VmRSS")?;
        let children = load::children_of(pid);
        let kib = children
            .iter()
            .filter_map(|&c| load::process_rss_kib(c))
            .sum();
        let pss = std::iter::once(pid)
            .chain(children.iter().copied())
            .map(load::process_pss_kib)
            .sum::<Option<u64>>();
        Ok((own, children.len(), kib, pss))
    };
    let (base_own, base_children, base_children_kib, base_pss) = sample(running.pid)?;
    let mut principals = 0;
    for (i, token) in tokens.iter().enumerate() {
        let attempt = async {
            let mut conn = Connection::open(&target).await?;
            let session = open_session(&mut conn, Some(token), REQUEST_TIMEOUT).await?;
            crate::proto::call_add(
                &mut conn,
                Some(token),
                &session,
                1,
                (i as i64, 1),
                REQUEST_TIMEOUT,
            )
            .await
        }
        .await;
        match attempt {
            Ok(()) => principals += 1,
            Err(e) => eprintln!("   idle principal {i}: {e}"),
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (own, children, children_kib, pss) = sample(running.pid)?;
    running.stop().await;
    let m = GatewayMemory {
        system: system.id.to_owned(),
        principals,
        baseline_gateway_kib: base_own,
        baseline_children: base_children,
        baseline_children_kib: base_children_kib,
        gateway_kib: own,
        children,
        children_kib,
        baseline_total_pss_kib: base_pss,
        total_pss_kib: pss,
    };
    eprintln!(
        "   idle principals: {principals} more: gateway {:.1} → {:.1} MiB, {base_children} → {children} children {:.1} → {:.1} MiB; per principal {:.0} KiB gateway alone, {:.0} KiB with children ({:.0} KiB PSS)",
        base_own as f64 / 1024.0,
        own as f64 / 1024.0,
        base_children_kib as f64 / 1024.0,
        children_kib as f64 / 1024.0,
        m.per_principal_gateway_kib().unwrap_or(f64::NAN),
        m.per_principal_total_kib().unwrap_or(f64::NAN),
        m.per_principal_total_pss_kib().unwrap_or(f64::NAN),
    );
    Ok(m)
}

async fn cold_start_runs(
    opts: &Options,
    env: &Environment,
    system: &System,
    token: Option<&str>,
) -> anyhow::Result<ColdStart> {
    let target = env.target();
    let mut runs = Vec::with_capacity(opts.cold_start_runs);
    for _ in 0..opts.cold_start_runs {
        let mut running = Running::spawn(env, system)?;
        let ready = wait_ready(
            &mut running,
            &target,
            token,
            system.canned(),
            Duration::from_secs(60),
        )
        .await?;
        runs.push((ready - running.spawned_at).as_secs_f64() * 1000.0);
        running.stop().await;
        // Let the port's old connections clear before the next spawn.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let min = runs.iter().copied().fold(f64::INFINITY, f64::min);
    eprintln!(
        "   cold start: median {:.1} ms (runs {runs:.1?})",
        median(&runs)
    );
    Ok(ColdStart {
        system: system.id.to_owned(),
        median_ms: median(&runs),
        min_ms: min,
        runs_ms: runs,
    })
}

/// Reads Criterion's estimates for `verify/*` (nanoseconds → microseconds).
fn criterion_verify(dir: &Path) -> VerifyCost {
    let read = |name: &str| -> Option<f64> {
        let path = dir.join("verify").join(name).join("new/estimates.json");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        json.pointer("/mean/point_estimate")?
            .as_f64()
            .map(|ns| ns / 1000.0)
    };
    VerifyCost {
        system: "mcpgate".to_owned(),
        cached_us: read("cached_key"),
        repeat_token_us: read("repeat_token"),
        first_with_fetch_us: read("first_with_jwks_fetch"),
        method: "Criterion mean (benches/verify.rs): JwtVerifier::verify with the key cached and the verified-token cache off; the same token again with the default verified-token cache; the first verify of a fresh JwksCache (JWKS fetched from a local dev AS)".to_owned(),
    }
}

/// Reads Criterion's estimates for `policy_decide/allow/{0,10,100}`
/// (`benches/policy.rs`); the rule counts it has no estimate for are left out
/// (a smoke run executes the bench in test mode, which writes none).
fn criterion_policy(dir: &Path) -> Vec<PolicyDecideCost> {
    [0, 10, system::POLICY_RULES]
        .into_iter()
        .filter_map(|rules| {
            let path = dir
                .join("policy_decide/allow")
                .join(rules.to_string())
                .join("new/estimates.json");
            let json: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
            let mean_ns = json.pointer("/mean/point_estimate")?.as_f64()?;
            Some(PolicyDecideCost { rules, mean_ns })
        })
        .collect()
}

/// FastMCP's verification cost, from `bench/fastmcp_verify.py`: a new token
/// each time (distinct tokens minted here, each verified once), the same token
/// again, and the first verification of a fresh provider.
/// Runs `cmd` (stdin and stdout piped) with `tokens` on its stdin, one per
/// line, and returns its output. The verification scripts read all of their
/// input before they print anything.
async fn output_with_tokens(
    mut cmd: std::process::Command,
    tokens: Vec<String>,
) -> anyhow::Result<std::process::Output> {
    let out = tokio::task::spawn_blocking(move || -> std::io::Result<std::process::Output> {
        use std::io::Write as _;
        let mut child = cmd.spawn()?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        stdin.write_all((tokens.join("\n") + "\n").as_bytes())?;
        drop(stdin);
        child.wait_with_output()
    })
    .await??;
    Ok(out)
}

async fn fastmcp_verify(
    opts: &Options,
    auth: &AuthServer,
    env: &Environment,
) -> anyhow::Result<VerifyCost> {
    let (distinct, repeat_n, first_n) = if opts.smoke {
        (300, 300, 10)
    } else {
        (3000, 3000, 100)
    };
    // One more than measured: the script warms its provider's key with the first.
    let tokens = auth.mint_many("usr_bench_verify", distinct + 1).await?;
    let mut cmd = Command::new(opts.venv.join("bin/python"));
    cmd.arg(opts.repo_root.join("bench/fastmcp_verify.py"))
        .args([
            auth.env_url.as_str(),
            auth.resource_id.as_str(),
            &format!("http://127.0.0.1:{}", env.port),
            &repeat_n.to_string(),
            &first_n.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let out = output_with_tokens(cmd, tokens).await?;
    if !out.status.success() {
        bail!("fastmcp_verify.py failed ({})", out.status);
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let new_n = json["new_token_n"].as_u64().unwrap_or(0);
    if new_n != distinct as u64 {
        bail!("fastmcp_verify.py measured {new_n} distinct tokens, expected {distinct}");
    }
    Ok(VerifyCost {
        system: "fastmcp".to_owned(),
        cached_us: json["new_token_us"].as_f64(),
        repeat_token_us: json["repeat_token_us"].as_f64(),
        first_with_fetch_us: json["first_with_fetch_us"].as_f64(),
        method: format!(
            "bench/fastmcp_verify.py: ScalekitProvider.verify_token with the key cached, mean over {distinct} distinct tokens each verified once (a new token each time) and mean of {repeat_n} verifications of one token (the same token again); mean of {first_n} first calls of fresh providers (JWKS fetch included)"
        ),
    })
}

/// The algorithms of `benches/verify.rs`'s `verify_alg` group.
const ALGORITHMS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

/// Verification cost per signature algorithm: mcpgate's from Criterion's
/// `verify_alg/{alg}/{new_token,repeat_token}`, FastMCP's `JWTVerifier` from
/// `fastmcp_verify.py --jwt` on distinct tokens from a `bench-as` signing with
/// that algorithm (one at a time, stopped afterwards). A FastMCP failure is
/// recorded in `problems` and leaves that algorithm's FastMCP figures `None`:
/// it is a finding to report, not a reason to drop the other algorithms.
async fn verify_per_algorithm(
    opts: &Options,
    bin_dir: &Path,
    mcp_url: &str,
    problems: &mut Vec<String>,
) -> Vec<AlgVerifyCost> {
    let mut out = Vec::with_capacity(ALGORITHMS.len());
    for alg in ALGORITHMS {
        let read = |case: &str| criterion_mean_us(&opts.criterion_dir, &verify_alg_dir(alg, case));
        let mut cost = AlgVerifyCost {
            algorithm: alg.to_owned(),
            mcpgate_new_us: read("new_token"),
            mcpgate_repeat_us: read("repeat_token"),
            ..AlgVerifyCost::default()
        };
        match fastmcp_jwt_verify(opts, bin_dir, mcp_url, alg).await {
            Ok((new, repeat)) => {
                cost.fastmcp_new_us = Some(new);
                cost.fastmcp_repeat_us = repeat;
            }
            Err(e) => {
                eprintln!("!! fastmcp verify {alg}: {e:#}");
                problems.push(format!("fastmcp verify {alg}: {e:#}"));
            }
        }
        out.push(cost);
    }
    out
}

/// Criterion's directory for `verify_alg/{alg}/{case}`: the group's
/// benchmark id is `{alg}/{case}`, and Criterion replaces the `/` inside an id
/// with `_` in directory names (`make_filename_safe`).
fn verify_alg_dir(alg: &str, case: &str) -> String {
    format!("verify_alg/{alg}_{case}")
}

/// Criterion's mean for benchmark `id` (nanoseconds → microseconds); `None`
/// when there is no estimate (a smoke run executes the benches in test mode).
fn criterion_mean_us(dir: &Path, id: &str) -> Option<f64> {
    let path = dir.join(id).join("new/estimates.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    json.pointer("/mean/point_estimate")?
        .as_f64()
        .map(|ns| ns / 1000.0)
}

/// FastMCP's `JWTVerifier` for `alg`: (new token µs, same token again µs).
async fn fastmcp_jwt_verify(
    opts: &Options,
    bin_dir: &Path,
    mcp_url: &str,
    alg: &str,
) -> anyhow::Result<(f64, Option<f64>)> {
    let (distinct, repeat_n) = if opts.smoke { (300, 300) } else { (3000, 3000) };
    let auth = AuthServer::start_signing(bin_dir, mcp_url, alg).await?;
    // One more than measured: the script warms its verifier's key with the first.
    let tokens = auth.mint_many("usr_bench_alg", distinct + 1).await;
    let result = match tokens {
        Ok(tokens) => run_fastmcp_jwt(opts, &auth, alg, tokens, distinct, repeat_n).await,
        Err(e) => Err(e),
    };
    auth.running.stop().await;
    result
}

async fn run_fastmcp_jwt(
    opts: &Options,
    auth: &AuthServer,
    alg: &str,
    tokens: Vec<String>,
    distinct: usize,
    repeat_n: usize,
) -> anyhow::Result<(f64, Option<f64>)> {
    // bench-as mints with the resource-scoped issuer (the dev AS's default)
    // and the resource id among the audiences, as ScalekitProvider expects.
    let issuer = format!("{}/resources/{}", auth.env_url, auth.resource_id);
    let mut cmd = Command::new(opts.venv.join("bin/python"));
    cmd.arg(opts.repo_root.join("bench/fastmcp_verify.py"))
        .args([
            "--jwt",
            alg,
            &format!("{}/keys", auth.env_url),
            &issuer,
            auth.resource_id.as_str(),
            &repeat_n.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let out = output_with_tokens(cmd, tokens).await?;
    if !out.status.success() {
        bail!("fastmcp_verify.py --jwt {alg} failed ({})", out.status);
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let new_n = json["new_token_n"].as_u64().unwrap_or(0);
    if new_n != distinct as u64 {
        bail!(
            "fastmcp_verify.py --jwt {alg} measured {new_n} distinct tokens, expected {distinct}"
        );
    }
    let new = json["new_token_us"]
        .as_f64()
        .context("fastmcp_verify.py printed no new_token_us")?;
    Ok((new, json["repeat_token_us"].as_f64()))
}

/// Whether a smoke or full run proved the harness works: every system
/// produced correct results everywhere and nothing in the harness failed.
pub fn problems(results: &Results) -> Vec<String> {
    let mut p = results.harness_errors.clone();
    for r in &results.throughput {
        if r.ok == 0 {
            p.push(format!(
                "{} {} c={}: zero correct results",
                r.system, r.sessions, r.concurrency
            ));
        }
    }
    for r in &results.rotation {
        if r.ok == 0 {
            p.push(format!("{} rotation: zero correct results", r.system));
        }
    }
    for m in &results.memory {
        if m.sessions_opened == 0 {
            p.push(format!("{} memory: no session opened", m.system));
        }
    }
    for m in &results.gateway_memory {
        if m.principals == 0 {
            p.push(format!(
                "{} idle principals: no call went through",
                m.system
            ));
        }
    }
    for s in &results.systems {
        if !results.throughput.iter().any(|r| r.system == s.id) {
            p.push(format!("{}: no throughput result", s.id));
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_algorithm_estimates_are_read_where_criterion_writes_them() {
        let dir = std::env::temp_dir().join(format!("mcpgate-bench-alg-{}", std::process::id()));
        // Criterion writes `verify_alg/ES256/new_token` under `verify_alg/ES256_new_token`.
        let est = dir.join("verify_alg/ES256_new_token/new");
        std::fs::create_dir_all(&est).unwrap();
        std::fs::write(
            est.join("estimates.json"),
            r#"{"mean":{"point_estimate":52300.0}}"#,
        )
        .unwrap();
        let got = criterion_mean_us(&dir, &verify_alg_dir("ES256", "new_token"));
        let missing = criterion_mean_us(&dir, &verify_alg_dir("ES256", "repeat_token"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got, Some(52.3));
        assert_eq!(missing, None);
    }

    #[test]
    fn source_tree_outside_a_checkout_is_unknown_not_an_error() {
        let dir = std::env::temp_dir().join(format!("mcpgate-bench-nogit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Not a repository itself; if a parent is one, that is "not a git
        // checkout" of this directory either.
        let tree = source_tree(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(tree.commit, None);
        assert_eq!(tree.clean, None);
        let error = tree.error.unwrap();
        assert!(error.starts_with("not a git checkout"), "{error}");
    }

    #[test]
    fn source_tree_of_this_repository() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let tree = source_tree(root);
        if !root.join(".git").exists() {
            assert_eq!(tree.commit, None);
            return;
        }
        let commit = tree.commit.expect("a commit in a git checkout");
        assert_eq!(commit.len(), 40, "{commit}");
        assert!(commit.bytes().all(|b| b.is_ascii_hexdigit()), "{commit}");
        let clean = tree.clean.expect("git status ran");
        assert_eq!(clean, tree.changed_paths == 0);
        assert_eq!(
            tree.changes.len(),
            tree.changed_paths.min(SourceTree::MAX_CHANGES)
        );
    }
}
