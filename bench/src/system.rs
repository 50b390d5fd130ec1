//! The systems under test and their processes: how each is started, how to
//! tell it is ready, and how it is stopped (its whole process group).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command};
use tokio::time::Instant;

use crate::proto::{Connection, Failure, Target, call_add, open_session};

/// `bench-server --rate-limit` for the mcpgate systems: requests per second
/// (and burst) per principal, far above what any run sends, so mcpgate's
/// limiter runs on every request but never refuses one (its default, 50 per
/// second, would turn a closed-loop run into 429s).
pub const MCPGATE_RATE_LIMIT: &str = "10000000";
/// `bench-server --max-sessions` for the mcpgate systems: sessions per
/// principal and in all, far above the memory measurement's 1,000 over 16
/// principals (mcpgate's default allows 16 per principal).
pub const MCPGATE_MAX_SESSIONS: &str = "1000000";
/// `bench-server --policies` for the policies system: how many per-tool
/// rules it evaluates on every `tools/call` (all allowing `add`).
pub const POLICY_RULES: usize = 100;

/// What kind of server a system is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// mcpgate with `ScalekitProvider`.
    Mcpgate,
    /// mcpgate with `ScalekitProvider` and its verified-token cache off
    /// (every request pays the RS256 check).
    McpgateNoTokenCache,
    /// mcpgate with `ScalekitProvider` and [`POLICY_RULES`] per-tool policies
    /// that all allow the benchmark's call (their evaluation is the cost).
    McpgatePolicies,
    /// mcpgate without auth.
    McpgateNoAuth,
    /// FastMCP + `ScalekitProvider` under uvicorn with this many worker processes.
    FastMcp {
        /// uvicorn `--workers` (1 = uvicorn's default single process).
        workers: usize,
    },
    /// Canned bytes from a bare axum handler.
    Floor,
    /// Diagnostics: rmcp's Streamable HTTP service alone, with these
    /// `bench-server` flags.
    Rmcp {
        /// Extra flags (`--stateless --json`, `--no-priming`, `--channel-capacity 4`).
        flags: &'static [&'static str],
    },
}

/// A system under test.
#[derive(Debug, Clone)]
pub struct System {
    /// Short id used in the results.
    pub id: &'static str,
    /// Human label.
    pub label: &'static str,
    /// What it is.
    pub kind: Kind,
}

impl System {
    /// Whether requests carry bearer tokens.
    pub fn auth(&self) -> bool {
        matches!(
            self.kind,
            Kind::Mcpgate
                | Kind::McpgateNoTokenCache
                | Kind::McpgatePolicies
                | Kind::FastMcp { .. }
        )
    }

    /// Whether the server answers canned bytes (fixed arguments and id).
    pub fn canned(&self) -> bool {
        self.kind == Kind::Floor
    }

    /// Whether the server has real MCP sessions.
    pub fn has_sessions(&self) -> bool {
        match self.kind {
            Kind::Floor => false,
            Kind::Rmcp { flags } => !flags.contains(&"--stateless"),
            _ => true,
        }
    }

    /// Whether many connections can share one session: not across uvicorn
    /// worker processes, which each keep their own sessions in memory (a
    /// connection stays on one worker, so one session per connection works).
    pub fn can_share_session(&self) -> bool {
        self.has_sessions() && !matches!(self.kind, Kind::FastMcp { workers } if workers > 1)
    }

    /// Whether the system serves the stateless 2026-07-28 revision (measured
    /// with the session-era runs, side by side): mcpgate (also with
    /// policies), FastMCP 4 (through the Python SDK 2.3) and the floor, not
    /// the rmcp diagnostics.
    pub fn speaks_stateless(&self) -> bool {
        matches!(
            self.kind,
            Kind::Mcpgate
                | Kind::McpgatePolicies
                | Kind::McpgateNoAuth
                | Kind::FastMcp { .. }
                | Kind::Floor
        )
    }

    /// Whether this is a main system (all measurements) rather than a variant
    /// measured only for throughput with one session per connection.
    pub fn is_main(&self) -> bool {
        matches!(
            self.kind,
            Kind::Mcpgate | Kind::McpgateNoAuth | Kind::FastMcp { workers: 1 } | Kind::Floor
        )
    }
}

/// Diagnostic variants, run only when named with `--only`.
pub fn diagnostics() -> Vec<System> {
    vec![
        System {
            id: "rmcp",
            label: "rmcp alone (sessions, defaults)",
            kind: Kind::Rmcp { flags: &[] },
        },
        System {
            id: "rmcp-nopriming",
            label: "rmcp alone (sessions, no SSE priming/keep-alive)",
            kind: Kind::Rmcp {
                flags: &["--no-priming"],
            },
        },
        System {
            id: "rmcp-cap4",
            label: "rmcp alone (sessions, channel capacity 4)",
            kind: Kind::Rmcp {
                flags: &["--channel-capacity", "4"],
            },
        },
        System {
            id: "rmcp-stateless-json",
            label: "rmcp alone (stateless, JSON responses)",
            kind: Kind::Rmcp {
                flags: &["--stateless", "--json"],
            },
        },
    ]
}

/// The systems, in the order they run.
pub fn all() -> Vec<System> {
    vec![
        System {
            id: "mcpgate",
            label: "mcpgate (auth on)",
            kind: Kind::Mcpgate,
        },
        // Right after "mcpgate": the two differ only in the policies, and
        // neighbouring runs see the most similar machine conditions.
        System {
            id: "mcpgate-policies",
            label: "mcpgate (auth on, 100 policy rules)",
            kind: Kind::McpgatePolicies,
        },
        System {
            id: "mcpgate-nocache",
            label: "mcpgate (auth on, verified-token cache off)",
            kind: Kind::McpgateNoTokenCache,
        },
        System {
            id: "mcpgate-noauth",
            label: "mcpgate (auth off)",
            kind: Kind::McpgateNoAuth,
        },
        System {
            id: "fastmcp",
            label: "FastMCP 4 + ScalekitProvider (uvicorn, 1 process)",
            kind: Kind::FastMcp { workers: 1 },
        },
        System {
            id: "fastmcp-2w",
            label: "FastMCP 4 + ScalekitProvider (uvicorn --workers 2)",
            kind: Kind::FastMcp { workers: 2 },
        },
        System {
            id: "floor",
            label: "floor (canned bytes, axum)",
            kind: Kind::Floor,
        },
    ]
}

/// Where things are and what the authorization server said.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Directory holding `bench-server`.
    pub bin_dir: PathBuf,
    /// `bench/` (FastMCP's app module lives there).
    pub bench_dir: PathBuf,
    /// The FastMCP virtualenv.
    pub venv: PathBuf,
    /// Where server logs go.
    pub log_dir: PathBuf,
    /// The AS's environment URL.
    pub env_url: String,
    /// The AS's resource id.
    pub resource_id: String,
    /// The port every server under test listens on (one at a time).
    pub port: u16,
}

impl Environment {
    /// The command that starts `system`, and its printable form.
    pub fn command(&self, system: &System) -> (Command, String) {
        let port = self.port.to_string();
        match system.kind {
            Kind::FastMcp { workers } => {
                let uvicorn = self.venv.join("bin/uvicorn");
                let mut args: Vec<String> = vec![
                    "fastmcp_server:app".into(),
                    "--host".into(),
                    "127.0.0.1".into(),
                    "--port".into(),
                    port,
                    "--log-level".into(),
                    "warning".into(),
                    "--no-access-log".into(),
                ];
                if workers > 1 {
                    args.extend(["--workers".into(), workers.to_string()]);
                }
                let mut cmd = Command::new(&uvicorn);
                cmd.args(&args)
                    .current_dir(&self.bench_dir)
                    .env("SCALEKIT_ENVIRONMENT_URL", &self.env_url)
                    .env("SCALEKIT_RESOURCE_ID", &self.resource_id)
                    .env("BASE_URL", format!("http://127.0.0.1:{}", self.port))
                    .env("PYTHONDONTWRITEBYTECODE", "1");
                let shown = format!(
                    "SCALEKIT_ENVIRONMENT_URL=$ENV SCALEKIT_RESOURCE_ID=$RES BASE_URL=http://127.0.0.1:$PORT bench/.venv/bin/uvicorn {} (cwd bench/)",
                    args.join(" ").replace(&self.port.to_string(), "$PORT")
                );
                (cmd, shown)
            }
            kind => {
                let name = match kind {
                    Kind::Mcpgate | Kind::McpgateNoTokenCache | Kind::McpgatePolicies => "mcpgate",
                    Kind::McpgateNoAuth => "mcpgate-noauth",
                    Kind::Rmcp { .. } => "rmcp",
                    _ => "floor",
                };
                let mut args = vec![
                    "--system".to_owned(),
                    name.to_owned(),
                    "--port".to_owned(),
                    port,
                ];
                let mut shown = format!("target/release/bench-server --system {name} --port $PORT");
                if let Kind::Rmcp { flags } = kind {
                    args.extend(flags.iter().map(|f| (*f).to_owned()));
                    for f in flags {
                        shown.push(' ');
                        shown.push_str(f);
                    }
                }
                if matches!(
                    kind,
                    Kind::Mcpgate | Kind::McpgateNoTokenCache | Kind::McpgatePolicies
                ) {
                    args.extend([
                        "--env-url".to_owned(),
                        self.env_url.clone(),
                        "--resource-id".to_owned(),
                        self.resource_id.clone(),
                    ]);
                    shown.push_str(" --env-url $ENV --resource-id $RES");
                }
                if matches!(
                    kind,
                    Kind::Mcpgate
                        | Kind::McpgateNoTokenCache
                        | Kind::McpgatePolicies
                        | Kind::McpgateNoAuth
                ) {
                    // Far above anything the load sends (see bench-server's docs).
                    let limits = [
                        "--rate-limit",
                        MCPGATE_RATE_LIMIT,
                        "--max-sessions",
                        MCPGATE_MAX_SESSIONS,
                    ];
                    args.extend(limits.iter().map(|a| (*a).to_owned()));
                    shown.push(' ');
                    shown.push_str(&limits.join(" "));
                }
                if kind == Kind::McpgatePolicies {
                    let n = POLICY_RULES.to_string();
                    shown.push_str(&format!(" --policies {n}"));
                    args.extend(["--policies".to_owned(), n]);
                }
                if kind == Kind::McpgateNoTokenCache {
                    args.extend(["--verified-token-cache".to_owned(), "0".to_owned()]);
                    shown.push_str(" --verified-token-cache 0");
                }
                let mut cmd = Command::new(self.bin_dir.join("bench-server"));
                cmd.args(&args);
                (cmd, shown)
            }
        }
    }

    /// The target every server listens on.
    pub fn target(&self) -> Target {
        Target::loopback(self.port)
    }
}

/// A running server under test; killed (whole process group) on drop.
#[derive(Debug)]
pub struct Running {
    child: Child,
    /// Process id (and process-group id).
    pub pid: u32,
    /// When the process was spawned.
    pub spawned_at: Instant,
    stopped: bool,
}

impl Running {
    /// Spawns `system` in its own process group, output to `{log_dir}/{id}.log`.
    pub fn spawn(env: &Environment, system: &System) -> anyhow::Result<Self> {
        let (mut cmd, _) = env.command(system);
        std::fs::create_dir_all(&env.log_dir)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(env.log_dir.join(format!("{}.log", system.id)))?;
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        let spawned_at = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", system.id))?;
        let pid = child.id();
        Ok(Self {
            child,
            pid,
            spawned_at,
            stopped: false,
        })
    }

    /// Wraps a child already spawned in its own process group.
    pub fn from_child(child: Child, pid: u32, spawned_at: Instant) -> Self {
        Self {
            child,
            pid,
            spawned_at,
            stopped: false,
        }
    }

    /// Stops the process group: SIGTERM, then SIGKILL after 3 s.
    pub async fn stop(mut self) {
        signal_group(self.pid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(3);
        while !self.exited() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if !self.exited() {
            signal_group(self.pid, "KILL");
            let _ = self.child.wait();
        }
        // uvicorn workers may outlive their parent by a moment.
        let deadline = Instant::now() + Duration::from_secs(3);
        while group_alive(self.pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if group_alive(self.pid) {
            signal_group(self.pid, "KILL");
        }
        self.stopped = true;
    }

    /// Whether the process already exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.stopped {
            signal_group(self.pid, "KILL");
            let _ = self.child.wait();
        }
    }
}

/// Whether any process is still in the process group `pgid`.
fn group_alive(pgid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            return false;
        };
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                let rest = stat[stat.rfind(')')? + 2..].to_owned();
                let mut fields = rest.split_whitespace();
                let state = fields.next()?.to_owned();
                let pgrp: u32 = fields.nth(1)?.parse().ok()?;
                Some(pgrp == pgid && state != "Z")
            })
            .unwrap_or(false)
    })
}

/// Sends `signal` to the process group `pgid` (one we created).
fn signal_group(pgid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Polls until one full MCP exchange works (connect, session, correct
/// `tools/call`), or `deadline`. Returns when it first succeeded.
pub async fn wait_ready(
    running: &mut Running,
    target: &Target,
    token: Option<&str>,
    canned: bool,
    deadline: Duration,
) -> anyhow::Result<Instant> {
    let give_up = running.spawned_at + deadline;
    let mut last: Option<Failure> = None;
    while Instant::now() < give_up {
        if running.exited() {
            bail!("the server exited during start-up (see its log)");
        }
        match Connection::open(target).await {
            Ok(mut conn) => {
                let timeout = Duration::from_secs(10);
                let attempt = async {
                    let session = open_session(&mut conn, token, timeout).await?;
                    let (id, args) = if canned {
                        (1, crate::CANNED_ARGS)
                    } else {
                        (1, (2, 3))
                    };
                    call_add(&mut conn, token, &session, id, args, timeout).await
                }
                .await;
                match attempt {
                    Ok(()) => return Ok(Instant::now()),
                    Err(e) => last = Some(e),
                }
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    bail!(
        "not ready after {deadline:?}: {}",
        last.map(|f| f.to_string()).unwrap_or_default()
    )
}

/// `{venv}/bin/python` exists.
pub fn venv_ready(venv: &Path) -> bool {
    venv.join("bin/python").exists() && venv.join("bin/uvicorn").exists()
}
