//! The closed-loop load generator: one worker per connection, each sending
//! `tools/call add` back to back on its own HTTP/1.1 keep-alive connection,
//! session-era or stateless 2026-07-28 ([`Wire`]).
//! Sessions (session-era) are opened before the clock starts; a warm-up precedes the
//! measured window; only requests that start and finish inside the window
//! count, and only correct JSON-RPC results count as throughput.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::sync::Barrier;
use tokio::time::Instant;

use crate::proto::{Connection, Failure, Target, Wire, call_add, call_add_stateless, open_session};
use crate::stats::{Latency, summarise};

/// Width of one timeline bucket.
pub const BUCKET: Duration = Duration::from_millis(250);

/// A worker's bearer token, swappable mid-run (key rotation); the generation
/// tells which signing key produced it.
#[derive(Debug)]
pub struct TokenSlot(RwLock<(Arc<str>, usize)>);

impl TokenSlot {
    /// A slot holding `token` of generation 0.
    pub fn new(token: impl Into<Arc<str>>) -> Arc<Self> {
        Arc::new(Self(RwLock::new((token.into(), 0))))
    }

    /// Replaces the token.
    pub fn set(&self, token: impl Into<Arc<str>>, generation: usize) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = (token.into(), generation);
    }

    /// The current token and its generation.
    pub fn get(&self) -> (Arc<str>, usize) {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The server under test.
    pub target: Target,
    /// Connections, one worker each.
    pub concurrency: usize,
    /// Session-era or stateless 2026-07-28 requests.
    pub wire: Wire,
    /// All workers share one session (else one session per connection);
    /// session-era only.
    pub shared_session: bool,
    /// Excluded warm-up.
    pub warmup: Duration,
    /// Measured window.
    pub duration: Duration,
    /// Worker `i` uses `tokens[i % len]`; empty means no `Authorization` header.
    pub tokens: Vec<Arc<TokenSlot>>,
    /// Send the floor's canned arguments with a fixed id (the floor answers canned bytes).
    pub canned: bool,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Server processes whose CPU time (each with its direct children) to
    /// sample over the window: the server, or a gateway and its upstream.
    pub server_pids: Vec<u32>,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct LoadOutcome {
    /// Correct results in the window.
    pub ok: u64,
    /// Failures in the window.
    pub errors: u64,
    /// Failures by kind.
    pub error_kinds: BTreeMap<String, u64>,
    /// Correct results per second.
    pub rps: f64,
    /// Latency of the correct results.
    pub latency: Latency,
    /// Correct results by token generation.
    pub ok_by_generation: Vec<u64>,
    /// Correct results per [`BUCKET`].
    pub timeline: Vec<u64>,
    /// CPU seconds of the server (and its children) over the window.
    pub server_cpu_s: Option<f64>,
    /// CPU seconds of this (load) process over the window.
    pub client_cpu_s: Option<f64>,
    /// CPU seconds the whole machine was busy over the window (from /proc/stat).
    pub machine_busy_s: Option<f64>,
}

/// When the window opens and closes, set once every worker is ready.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// End of warm-up, start of measurement.
    pub start: Instant,
    /// End of measurement.
    pub end: Instant,
}

#[derive(Default)]
struct WorkerTally {
    ok: u64,
    errors: u64,
    kinds: BTreeMap<String, u64>,
    samples: Vec<u64>,
    by_generation: Vec<u64>,
    timeline: Vec<u64>,
}

fn failure_kind(f: &Failure) -> String {
    match f {
        Failure::Transport(_) => "transport".to_owned(),
        Failure::Timeout => "timeout".to_owned(),
        Failure::Status(s) => format!("HTTP {s}"),
        Failure::BadResult(_) => "bad result".to_owned(),
    }
}

/// Runs `spec`; `on_window` is called once with the window (e.g. to schedule a
/// key rotation inside it) before any measured request is sent.
pub async fn run(spec: LoadSpec, on_window: impl FnOnce(Window)) -> anyhow::Result<LoadOutcome> {
    let spec = Arc::new(spec);
    let token_for = |i: usize| -> Option<Arc<TokenSlot>> {
        (!spec.tokens.is_empty()).then(|| spec.tokens[i % spec.tokens.len()].clone())
    };

    let stateless = spec.wire == Wire::Stateless;
    let shared = if spec.shared_session && !stateless {
        let mut conn = Connection::open(&spec.target)
            .await
            .map_err(anyhow::Error::msg)?;
        let token = token_for(0).map(|t| t.get().0);
        Some(
            open_session(&mut conn, token.as_deref(), spec.request_timeout)
                .await
                .map_err(|e| anyhow::anyhow!("opening the shared session: {e}"))?,
        )
    } else {
        None
    };

    let ready = Arc::new(Barrier::new(spec.concurrency + 1));
    let go = Arc::new(Barrier::new(spec.concurrency + 1));
    let window: Arc<OnceLock<Window>> = Arc::new(OnceLock::new());
    let mut workers = Vec::with_capacity(spec.concurrency);
    for index in 0..spec.concurrency {
        let spec = spec.clone();
        let slot = token_for(index);
        let shared = shared.clone();
        let (ready, go, window) = (ready.clone(), go.clone(), window.clone());
        workers.push(tokio::spawn(async move {
            // Setup: connection and (unless shared) the worker's own session.
            let setup = async {
                let mut conn = Connection::open(&spec.target).await?;
                let session = match shared {
                    Some(s) => s,
                    // 2026-07-28 has no sessions.
                    None if stateless => String::new(),
                    None => {
                        let token = slot.as_ref().map(|s| s.get().0);
                        open_session(&mut conn, token.as_deref(), spec.request_timeout).await?
                    }
                };
                Ok::<_, Failure>((conn, session))
            }
            .await;
            ready.wait().await;
            go.wait().await;
            let (mut conn, session) =
                setup.map_err(|e| anyhow::anyhow!("worker {index} setup: {e}"))?;
            let Some(&Window { start, end }) = window.get() else {
                bail!("no window");
            };
            let buckets = (spec.duration.as_nanos() / BUCKET.as_nanos()).max(1) as usize;
            let mut tally = WorkerTally {
                timeline: vec![0; buckets],
                samples: Vec::with_capacity(1 << 14),
                ..WorkerTally::default()
            };
            let mut seq: u64 = 0;
            loop {
                if Instant::now() >= end {
                    break;
                }
                seq += 1;
                let (id, args) = if spec.canned {
                    (1, crate::CANNED_ARGS)
                } else {
                    // Unique ids across workers (they may share a session).
                    let id = (index as u64 + 1) * 1_000_000_000 + seq;
                    (id, ((seq % 10_007) as i64, index as i64 * 3 + 1))
                };
                let (token, generation) = match &slot {
                    Some(s) => {
                        let (t, g) = s.get();
                        (Some(t), g)
                    }
                    None => (None, 0),
                };
                let t0 = Instant::now();
                let result = if stateless {
                    call_add_stateless(&mut conn, token.as_deref(), id, args, spec.request_timeout)
                        .await
                } else {
                    call_add(
                        &mut conn,
                        token.as_deref(),
                        &session,
                        id,
                        args,
                        spec.request_timeout,
                    )
                    .await
                };
                let t1 = Instant::now();
                let counted = t0 >= start && t1 <= end;
                match result {
                    Ok(()) if counted => {
                        tally.ok += 1;
                        tally.samples.push((t1 - t0).as_nanos() as u64);
                        let bucket = ((t1 - start).as_nanos() / BUCKET.as_nanos()) as usize;
                        if let Some(b) = tally.timeline.get_mut(bucket.min(buckets - 1)) {
                            *b += 1;
                        }
                        if tally.by_generation.len() <= generation {
                            tally.by_generation.resize(generation + 1, 0);
                        }
                        tally.by_generation[generation] += 1;
                    }
                    Ok(()) => {}
                    Err(failure) => {
                        if counted {
                            tally.errors += 1;
                            *tally.kinds.entry(failure_kind(&failure)).or_default() += 1;
                            if tally.errors <= 2 {
                                eprintln!("  worker {index}: {failure}");
                            }
                        }
                        if matches!(failure, Failure::Transport(_) | Failure::Timeout) {
                            // The connection is gone or stuck: reconnect (bounded by `end`).
                            loop {
                                match Connection::open(&spec.target).await {
                                    Ok(c) => {
                                        conn = c;
                                        break;
                                    }
                                    Err(_) if Instant::now() < end => {
                                        tokio::time::sleep(Duration::from_millis(10)).await;
                                    }
                                    Err(e) => bail!("worker {index}: cannot reconnect: {e}"),
                                }
                            }
                        }
                    }
                }
            }
            Ok(tally)
        }));
    }

    ready.wait().await;
    let start = Instant::now() + spec.warmup;
    let w = Window {
        start,
        end: start + spec.duration,
    };
    let _ = window.set(w);
    on_window(w);
    go.wait().await;

    // Sample CPU times at the window's edges.
    let pids = spec.server_pids.clone();
    let cpu_probe = tokio::spawn(async move {
        let servers = |pids: &[u32]| -> Option<f64> {
            if pids.is_empty() {
                return None;
            }
            pids.iter().map(|&p| process_tree_cpu_seconds(p)).sum()
        };
        tokio::time::sleep_until(w.start).await;
        let s0 = servers(&pids);
        let c0 = self_cpu_seconds();
        let m0 = machine_busy_seconds();
        tokio::time::sleep_until(w.end).await;
        let s1 = servers(&pids);
        let c1 = self_cpu_seconds();
        let m1 = machine_busy_seconds();
        let server = match (s0, s1) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let client = match (c0, c1) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let machine = match (m0, m1) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        (server, client, machine)
    });

    let mut outcome = LoadOutcome::default();
    let mut samples = Vec::new();
    let mut setup_errors = Vec::new();
    for worker in workers {
        match worker.await.context("worker panicked")? {
            Ok(t) => {
                outcome.ok += t.ok;
                outcome.errors += t.errors;
                for (k, v) in t.kinds {
                    *outcome.error_kinds.entry(k).or_default() += v;
                }
                samples.extend(t.samples);
                if outcome.ok_by_generation.len() < t.by_generation.len() {
                    outcome.ok_by_generation.resize(t.by_generation.len(), 0);
                }
                for (g, n) in t.by_generation.iter().enumerate() {
                    outcome.ok_by_generation[g] += n;
                }
                if outcome.timeline.len() < t.timeline.len() {
                    outcome.timeline.resize(t.timeline.len(), 0);
                }
                for (b, n) in t.timeline.iter().enumerate() {
                    outcome.timeline[b] += n;
                }
            }
            Err(e) => setup_errors.push(e.to_string()),
        }
    }
    let (server_cpu, client_cpu, machine_busy) = cpu_probe.await.unwrap_or((None, None, None));
    outcome.server_cpu_s = server_cpu;
    outcome.client_cpu_s = client_cpu;
    outcome.machine_busy_s = machine_busy;
    if !setup_errors.is_empty() {
        bail!(
            "{} worker(s) failed: {}",
            setup_errors.len(),
            setup_errors[0]
        );
    }
    outcome.rps = outcome.ok as f64 / spec.duration.as_secs_f64();
    outcome.latency = summarise(&mut samples);
    Ok(outcome)
}

/// Clock ticks per second for /proc/*/stat times (USER_HZ, 100 on Linux).
const CLOCK_TICKS: f64 = 100.0;

/// utime + stime of a process from /proc/PID/stat, in seconds.
fn stat_cpu_seconds(stat: &str) -> Option<(f64, u32)> {
    // Fields after the `(comm)`: state ppid … utime(14) stime(15), counted from 1.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(((utime + stime) / CLOCK_TICKS, ppid))
}

/// CPU seconds used so far by `pid` and its direct children (uvicorn workers).
pub fn process_tree_cpu_seconds(pid: u32) -> Option<f64> {
    let own = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut total = stat_cpu_seconds(&own)?.0;
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(child) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat"))
                && let Some((cpu, ppid)) = stat_cpu_seconds(&stat)
                && ppid == pid
            {
                total += cpu;
            }
        }
    }
    Some(total)
}

/// CPU seconds the whole machine has been busy (all cores; user, nice,
/// system, irq, softirq, steal) since boot, from the `cpu` line of /proc/stat.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<f64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let busy =
        v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7).unwrap_or(&0.0);
    Some(busy / CLOCK_TICKS)
}

/// CPU seconds used so far by this process.
pub fn self_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    stat_cpu_seconds(&stat).map(|(s, _)| s)
}

/// VmRSS (KiB) of `pid` alone.
pub fn process_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Proportional set size (KiB) of `pid`: its private pages plus its share
/// of pages it shares with other processes (`Pss` in /proc/PID/smaps_rollup).
/// Summed over processes that run the same binary it counts the shared text
/// once, where VmRSS would count it for each.
pub fn process_pss_kib(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The direct children of `pid` (by their parent pid in /proc/*/stat).
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| stat_cpu_seconds(&stat))
                .is_some_and(|(_, ppid)| ppid == pid)
        })
        .collect()
}

/// VmRSS (KiB) of `pid` plus that of its direct children.
pub fn process_tree_rss_kib(pid: u32) -> Option<u64> {
    let own = process_rss_kib(pid)?;
    Some(
        own + children_of(pid)
            .into_iter()
            .filter_map(process_rss_kib)
            .sum::<u64>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat() {
        let stat = "1234 (my (odd) name) S 77 1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        let (cpu, ppid) = stat_cpu_seconds(stat).unwrap();
        assert_eq!(ppid, 77);
        assert!((cpu - 3.0).abs() < 1e-9);
        assert!(self_cpu_seconds().is_some());
        assert!(machine_busy_seconds().is_some());
        assert!(process_tree_rss_kib(std::process::id()).is_some_and(|k| k > 0));
    }
}
