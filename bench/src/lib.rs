//! mcpgate's benchmark harness.
//!
//! Three binaries share this library:
//! - `bench-as`: the Scalekit-compatible dev authorization server on loopback,
//!   plus a `/bench/mint` route so the load driver can get tokens (also after a
//!   key rotation).
//! - `bench-server`: the Rust servers under test: mcpgate with auth, mcpgate
//!   without auth, and the bare HTTP "floor"; with `--stdio`, the same tools
//!   over stdio (the gateway systems' stdio upstream).
//! - `mcpgate-bench`: the driver. It starts the AS and, one at a time, every
//!   server under test (FastMCP through uvicorn from `bench/.venv`; the
//!   gateways — `mcpgate proxy` and FastMCP's proxy — with their upstream),
//!   drives each with real MCP sessions from its own process, measures cold
//!   start, RSS and key rotation, and writes the JSON results,
//!   `BENCHMARKS.md` and the chart.
//!
//! Modules: [`args`] (flag parsing), [`proto`] (a minimal MCP client over
//! hyper), [`load`] (the closed-loop load generator), [`stats`] (quantiles),
//! [`results`] (the JSON schema), [`report`] (Markdown), [`svg`] (the chart),
//! [`system`] (spawning servers under test), [`driver`] (the whole run),
//! [`soak`] (the soak run: minutes of load through key rotations and JWKS
//! outages), [`keys_outage`] (`bench-as`'s JWKS outage switch) and
//! [`policies`] (the per-tool rules of `bench-server --policies N`).

pub mod args;
pub mod driver;
pub mod keys_outage;
pub mod load;
pub mod policies;
pub mod proto;
pub mod report;
pub mod results;
pub mod soak;
pub mod stats;
pub mod svg;
pub mod system;

/// The tool every server under test serves: `add(a, b)` → `a + b` as text.
pub const ADD_TOOL: &str = "add";

/// The arguments the floor's canned answer matches (`20 + 22`).
pub const CANNED_ARGS: (i64, i64) = (20, 22);
