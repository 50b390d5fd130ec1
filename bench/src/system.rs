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
    /// `mcpgate proxy` (auth from the same `SCALEKIT_*` / `MCP_URL` as the
    /// mcpgate systems) in front of an upstream without auth.
    Gateway {
        /// What it forwards to.
        upstream: Upstream,
    },
    /// FastMCP's proxy (`create_proxy`) with its `ScalekitProvider`, under
    /// uvicorn (1 process), in front of the same upstreams
    /// (`bench/fastmcp_proxy.py`).
    FastMcpProxy {
        /// What it forwards to.
        upstream: Upstream,
    },
    /// Diagnostics: rmcp's Streamable HTTP service alone, with these
    /// `bench-server` flags.
    Rmcp {
        /// Extra flags (`--stateless --json`, `--no-priming`, `--channel-capacity 4`).
        flags: &'static [&'static str],
    },
}

/// The upstream of a gateway system: the same `add` / `inspect_token` tools
/// without auth, either served over HTTP by its own process or started over
/// stdio by the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// `bench-server --system mcpgate-noauth` on a second loopback port: the
    /// very command of the "mcpgate (auth off)" system, so that system's rows
    /// are this upstream measured directly.
    Http,
    /// `bench-server --stdio`, started by the gateway (mcpgate: one child per
    /// principal, its default isolation; FastMCP: one child kept alive, its
    /// `StdioTransport` default).
    Stdio,
}

/// The system whose rows are the HTTP upstream measured directly, without
/// the gateway in front (the identical command, on the main port).
pub const DIRECT_UPSTREAM: &str = "mcpgate-noauth";

/// `mcpgate proxy --max-children` for the gateway systems: upstreams (stdio
/// children or HTTP sessions, one per principal) at once, above the 64
/// principals of the largest run plus the idle-principal measurement (the
/// default, 64, would refuse the 65th principal with 503).
pub const GATEWAY_MAX_CHILDREN: &str = "1000";

/// Whether `id` names a gateway system (`mcpgate proxy` or FastMCP's proxy),
/// reported in its own section rather than next to the servers.
pub fn is_gateway_id(id: &str) -> bool {
    id.starts_with("gateway-") || id.starts_with("fastmcp-proxy-")
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
                | Kind::Gateway { .. }
                | Kind::FastMcpProxy { .. }
        )
    }

    /// The HTTP upstream this system forwards to, if it has one of its own.
    pub fn http_upstream(&self) -> bool {
        matches!(
            self.kind,
            Kind::Gateway {
                upstream: Upstream::Http
            } | Kind::FastMcpProxy {
                upstream: Upstream::Http
            }
        )
    }

    /// Whether this is a gateway in front of a stdio upstream (the
    /// idle-principal memory measurement).
    pub fn stdio_gateway(&self) -> bool {
        matches!(
            self.kind,
            Kind::Gateway {
                upstream: Upstream::Stdio
            } | Kind::FastMcpProxy {
                upstream: Upstream::Stdio
            }
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
    /// policies), FastMCP 4 (through the Python SDK 2.3), the floor and
    /// `mcpgate proxy` (which speaks 2026-07-28 to an upstream that serves
    /// it and bridges to a session otherwise), not the rmcp diagnostics or
    /// FastMCP's proxy (its session-era rows are the comparison).
    pub fn speaks_stateless(&self) -> bool {
        matches!(
            self.kind,
            Kind::Mcpgate
                | Kind::McpgatePolicies
                | Kind::McpgateNoAuth
                | Kind::FastMcp { .. }
                | Kind::Floor
                | Kind::Gateway { .. }
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
        // The gateways next to the upstream they forward to ("mcpgate (auth
        // off)" above is that HTTP upstream measured directly).
        System {
            id: "gateway-http",
            label: "mcpgate proxy → HTTP upstream (auth on)",
            kind: Kind::Gateway {
                upstream: Upstream::Http,
            },
        },
        System {
            id: "gateway-stdio",
            label: "mcpgate proxy → stdio upstream (auth on, a child per principal)",
            kind: Kind::Gateway {
                upstream: Upstream::Stdio,
            },
        },
        System {
            id: "fastmcp-proxy-http",
            label: "FastMCP 4 proxy + ScalekitProvider → HTTP upstream (uvicorn, 1 process)",
            kind: Kind::FastMcpProxy {
                upstream: Upstream::Http,
            },
        },
        System {
            id: "fastmcp-proxy-stdio",
            label: "FastMCP 4 proxy + ScalekitProvider → stdio upstream (uvicorn, 1 process)",
            kind: Kind::FastMcpProxy {
                upstream: Upstream::Stdio,
            },
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
    /// The port of the gateway systems' HTTP upstream.
    pub upstream_port: u16,
}

impl Environment {
    /// The command that starts `system`, and its printable form.
    pub fn command(&self, system: &System) -> (Command, String) {
        match system.kind {
            Kind::FastMcp { workers } => self.uvicorn("fastmcp_server:app", workers),
            Kind::FastMcpProxy { upstream } => {
                let (mut cmd, shown) = self.uvicorn("fastmcp_proxy:app", 1);
                let shown = match upstream {
                    Upstream::Http => {
                        cmd.env("UPSTREAM_URL", self.upstream_url());
                        format!("UPSTREAM_URL=http://127.0.0.1:$UPSTREAM_PORT/mcp {shown}")
                    }
                    Upstream::Stdio => {
                        let argv = serde_json::json!([
                            self.bin_dir.join("bench-server").to_string_lossy(),
                            "--stdio"
                        ]);
                        cmd.env("UPSTREAM_COMMAND", argv.to_string());
                        format!(
                            "UPSTREAM_COMMAND='[\"target/release/bench-server\", \"--stdio\"]' {shown}"
                        )
                    }
                };
                (cmd, shown)
            }
            Kind::Gateway { upstream } => self.gateway(upstream),
            kind => self.bench_server(kind, self.port, "$PORT"),
        }
    }

    /// The gateway systems' HTTP upstream: `bench-server --system
    /// mcpgate-noauth`, the command of [`DIRECT_UPSTREAM`], on
    /// [`upstream_port`](Self::upstream_port).
    pub fn upstream_command(&self) -> (Command, String) {
        self.bench_server(Kind::McpgateNoAuth, self.upstream_port, "$UPSTREAM_PORT")
    }

    /// Where the HTTP upstream listens.
    pub fn upstream_target(&self) -> Target {
        Target::loopback(self.upstream_port)
    }

    fn upstream_url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.upstream_port)
    }

    /// `mcpgate proxy` with the environment variables a user sets, limits the
    /// load never reaches (as for the mcpgate systems), in front of `upstream`.
    fn gateway(&self, upstream: Upstream) -> (Command, String) {
        let mut args: Vec<String> = [
            "proxy",
            "--rate-limit",
            MCPGATE_RATE_LIMIT,
            "--max-children",
            GATEWAY_MAX_CHILDREN,
        ]
        .map(str::to_owned)
        .to_vec();
        let mut shown = format!(
            "SCALEKIT_ENVIRONMENT_URL=$ENV SCALEKIT_RESOURCE_ID=$RES MCP_URL=http://127.0.0.1:$PORT/mcp target/release/mcpgate {}",
            args.join(" ")
        );
        match upstream {
            Upstream::Http => {
                args.extend(["--upstream".to_owned(), self.upstream_url()]);
                shown.push_str(" --upstream http://127.0.0.1:$UPSTREAM_PORT/mcp");
            }
            Upstream::Stdio => {
                args.extend([
                    "--".to_owned(),
                    self.bin_dir
                        .join("bench-server")
                        .to_string_lossy()
                        .into_owned(),
                    "--stdio".to_owned(),
                ]);
                shown.push_str(" -- target/release/bench-server --stdio");
            }
        }
        let mut cmd = Command::new(self.bin_dir.join("mcpgate"));
        cmd.args(&args)
            // Not the repository root: the gateway also reads `./.env`.
            .current_dir(&self.log_dir)
            .env("SCALEKIT_ENVIRONMENT_URL", &self.env_url)
            .env("SCALEKIT_RESOURCE_ID", &self.resource_id)
            .env("MCP_URL", format!("http://127.0.0.1:{}/mcp", self.port));
        (cmd, shown)
    }

    /// A FastMCP app (`module:app` in `bench/`) under uvicorn on the main
    /// port, with `ScalekitProvider`'s environment.
    fn uvicorn(&self, app: &str, workers: usize) -> (Command, String) {
        let uvicorn = self.venv.join("bin/uvicorn");
        let mut args: Vec<String> = vec![
            app.into(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            self.port.to_string(),
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

    /// `bench-server` for the Rust server kinds, listening on `port`
    /// (`port_shown` in the printable form).
    fn bench_server(&self, kind: Kind, port: u16, port_shown: &str) -> (Command, String) {
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
            port.to_string(),
        ];
        let mut shown = format!("target/release/bench-server --system {name} --port {port_shown}");
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
            Kind::Mcpgate | Kind::McpgateNoTokenCache | Kind::McpgatePolicies | Kind::McpgateNoAuth
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
    /// The HTTP upstream a gateway system forwards to: started before it,
    /// stopped after it.
    upstream: Option<Box<Running>>,
}

impl Running {
    /// Spawns `system` in its own process group, output to `{log_dir}/{id}.log`.
    pub fn spawn(env: &Environment, system: &System) -> anyhow::Result<Self> {
        let (cmd, _) = env.command(system);
        Self::spawn_logged(env, cmd, system.id)
    }

    /// Starts `system`: for a gateway with an HTTP upstream, the upstream
    /// first (its log `{id}-upstream.log`), ready before the gateway is
    /// spawned (the gateway connects to it when it starts).
    pub async fn start(env: &Environment, system: &System) -> anyhow::Result<Self> {
        let upstream = if system.http_upstream() {
            let (cmd, _) = env.upstream_command();
            let mut upstream = Self::spawn_logged(env, cmd, &format!("{}-upstream", system.id))?;
            wait_ready(
                &mut upstream,
                &env.upstream_target(),
                None,
                false,
                Duration::from_secs(60),
            )
            .await
            .context("the HTTP upstream")?;
            Some(Box::new(upstream))
        } else {
            None
        };
        let mut running = Self::spawn(env, system)?;
        running.upstream = upstream;
        Ok(running)
    }

    /// The processes that serve a request: this one and, for a gateway with
    /// an HTTP upstream, the upstream (each with its direct children, e.g.
    /// stdio upstreams, when measured).
    pub fn pids(&self) -> Vec<u32> {
        std::iter::once(self.pid)
            .chain(self.upstream.as_ref().map(|u| u.pid))
            .collect()
    }

    /// `cmd` in its own process group, output to `{log_dir}/{name}.log`.
    fn spawn_logged(env: &Environment, mut cmd: Command, name: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&env.log_dir)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(env.log_dir.join(format!("{name}.log")))?;
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        let spawned_at = Instant::now();
        let child = cmd.spawn().with_context(|| format!("spawning {name}"))?;
        let pid = child.id();
        Ok(Self {
            child,
            pid,
            spawned_at,
            stopped: false,
            upstream: None,
        })
    }

    /// Wraps a child already spawned in its own process group.
    pub fn from_child(child: Child, pid: u32, spawned_at: Instant) -> Self {
        Self {
            child,
            pid,
            spawned_at,
            stopped: false,
            upstream: None,
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
        if let Some(upstream) = self.upstream.take() {
            Box::pin(upstream.stop()).await;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment {
            bin_dir: PathBuf::from("/bin-dir"),
            bench_dir: PathBuf::from("/repo/bench"),
            venv: PathBuf::from("/repo/bench/.venv"),
            log_dir: PathBuf::from("/logs"),
            env_url: "http://127.0.0.1:1000".to_owned(),
            resource_id: "res_1".to_owned(),
            port: 2000,
            upstream_port: 3000,
        }
    }

    fn system(id: &str) -> System {
        all().into_iter().find(|s| s.id == id).unwrap()
    }

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn env_var(cmd: &Command, key: &str) -> Option<String> {
        cmd.get_envs()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
    }

    #[test]
    fn the_gateway_runs_mcpgate_proxy_with_the_mcpgate_systems_auth_and_limits() {
        let env = env();
        let (cmd, shown) = env.command(&system("gateway-http"));
        assert_eq!(cmd.get_program(), "/bin-dir/mcpgate");
        assert_eq!(
            args(&cmd),
            [
                "proxy",
                "--rate-limit",
                MCPGATE_RATE_LIMIT,
                "--max-children",
                GATEWAY_MAX_CHILDREN,
                "--upstream",
                "http://127.0.0.1:3000/mcp"
            ]
        );
        assert_eq!(
            env_var(&cmd, "MCP_URL").as_deref(),
            Some("http://127.0.0.1:2000/mcp")
        );
        assert_eq!(
            env_var(&cmd, "SCALEKIT_ENVIRONMENT_URL").as_deref(),
            Some("http://127.0.0.1:1000")
        );
        assert_eq!(
            env_var(&cmd, "SCALEKIT_RESOURCE_ID").as_deref(),
            Some("res_1")
        );
        assert!(
            shown.contains("--upstream http://127.0.0.1:$UPSTREAM_PORT/mcp"),
            "{shown}"
        );

        let (cmd, _) = env.command(&system("gateway-stdio"));
        let a = args(&cmd);
        assert_eq!(
            &a[a.len() - 3..],
            ["--", "/bin-dir/bench-server", "--stdio"]
        );
    }

    #[test]
    fn the_http_upstream_is_the_auth_off_system_on_the_second_port() {
        let env = env();
        let (direct, direct_shown) = env.command(&system(DIRECT_UPSTREAM));
        let (upstream, upstream_shown) = env.upstream_command();
        let mut want = args(&direct);
        let port = want.iter().position(|a| a == "2000").unwrap();
        want[port] = "3000".to_owned();
        assert_eq!(args(&upstream), want);
        assert_eq!(upstream.get_program(), direct.get_program());
        assert_eq!(
            upstream_shown,
            direct_shown.replace("$PORT", "$UPSTREAM_PORT")
        );
    }

    #[test]
    fn fastmcps_proxy_gets_its_upstream_from_the_environment() {
        let env = env();
        let (cmd, _) = env.command(&system("fastmcp-proxy-http"));
        assert_eq!(args(&cmd)[0], "fastmcp_proxy:app");
        assert_eq!(
            env_var(&cmd, "UPSTREAM_URL").as_deref(),
            Some("http://127.0.0.1:3000/mcp")
        );
        let (cmd, _) = env.command(&system("fastmcp-proxy-stdio"));
        let argv: Vec<String> =
            serde_json::from_str(&env_var(&cmd, "UPSTREAM_COMMAND").unwrap()).unwrap();
        assert_eq!(argv, ["/bin-dir/bench-server", "--stdio"]);
        assert_eq!(env_var(&cmd, "UPSTREAM_URL"), None);
    }

    #[test]
    fn gateway_systems_carry_tokens_and_are_reported_apart() {
        for s in all() {
            let gateway = matches!(s.kind, Kind::Gateway { .. } | Kind::FastMcpProxy { .. });
            assert_eq!(is_gateway_id(s.id), gateway, "{}", s.id);
            if gateway {
                assert!(s.auth() && !s.is_main(), "{}", s.id);
                assert_eq!(
                    s.speaks_stateless(),
                    matches!(s.kind, Kind::Gateway { .. }),
                    "{}",
                    s.id
                );
                assert_eq!(s.http_upstream(), s.id.ends_with("-http"), "{}", s.id);
                assert_eq!(s.stdio_gateway(), s.id.ends_with("-stdio"), "{}", s.id);
            }
        }
        assert!(!is_gateway_id(DIRECT_UPSTREAM));
    }
}
