//! `BENCHMARKS.md`, generated from a results file (plus the hand-written
//! analysis in `bench/analysis.md`, included verbatim).

use std::fmt::Write as _;

use crate::results::{Results, SourceTree, ThroughputRun};
use crate::system::{DIRECT_UPSTREAM, is_gateway_id};

/// Headline system: mcpgate with auth on.
const MCPGATE: &str = "mcpgate";
/// The same with `bench-server --policies 100` (see `crate::policies`).
const MCPGATE_POLICIES: &str = "mcpgate-policies";
/// `mcpgate proxy` in front of the HTTP upstream ([`DIRECT_UPSTREAM`]'s command).
const GATEWAY_HTTP: &str = "gateway-http";
/// `mcpgate proxy` in front of `bench-server --stdio`.
const GATEWAY_STDIO: &str = "gateway-stdio";
/// FastMCP's proxy in front of the same HTTP upstream.
const FASTMCP_PROXY_HTTP: &str = "fastmcp-proxy-http";
/// FastMCP's proxy in front of the same stdio command.
const FASTMCP_PROXY_STDIO: &str = "fastmcp-proxy-stdio";

fn find<'a>(r: &'a Results, system: &str, sessions: &str, c: usize) -> Option<&'a ThroughputRun> {
    r.throughput
        .iter()
        .find(|t| t.system == system && t.sessions == sessions && t.concurrency == c)
}

fn label<'a>(r: &'a Results, id: &'a str) -> &'a str {
    r.systems
        .iter()
        .find(|s| s.id == id)
        .map(|s| s.label.as_str())
        .unwrap_or(id)
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

fn num(v: f64) -> String {
    if v >= 100.0 {
        let s = format!("{v:.0}");
        // Thousands separators for readability.
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        out
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a > 0.0 {
        let x = a / b;
        if x >= 10.0 {
            format!("{x:.0}×")
        } else {
            format!("{x:.2}×")
        }
    } else {
        "–".to_owned()
    }
}

fn mark(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

fn errors_cell(t: &ThroughputRun) -> String {
    if t.errors == 0 {
        "0".to_owned()
    } else {
        let kinds: Vec<String> = t
            .error_kinds
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        format!("{} ({})", t.errors, kinds.join(", "))
    }
}

fn targets(r: &Results, out: &mut String) {
    let c = r.config.concurrency.iter().copied().max().unwrap_or(64);
    let m = find(r, MCPGATE, "per-connection", c);
    let f = find(r, "fastmcp", "per-connection", c);
    let off = find(r, "mcpgate-noauth", "per-connection", c);
    let floor = find(r, "floor", "per-connection", c);
    let _ = writeln!(
        out,
        "| target (one run, {} cores) | measured | |",
        r.machine.cores
    );
    let _ = writeln!(out, "|---|---|---|");
    let (text, met) = match (m, f) {
        (Some(m), Some(f)) if f.rps > 0.0 => (
            format!(
                "{} vs {} correct results/s = **{}**",
                num(m.rps),
                num(f.rps),
                ratio(m.rps, f.rps)
            ),
            Some(m.rps / f.rps >= 30.0),
        ),
        _ => ("–".to_owned(), None),
    };
    let _ = writeln!(
        out,
        "| authenticated `tools/call` throughput ≥ 30× FastMCP at {c} connections | {text} | {} |",
        mark(met)
    );
    let (text, met) = match (m, f) {
        (Some(m), Some(f)) if m.latency.p99_us > 0.0 => (
            format!(
                "p99 {} ms vs {} ms = **{}** lower",
                ms(m.latency.p99_us),
                ms(f.latency.p99_us),
                ratio(f.latency.p99_us, m.latency.p99_us)
            ),
            Some(f.latency.p99_us / m.latency.p99_us >= 10.0),
        ),
        _ => ("–".to_owned(), None),
    };
    let _ = writeln!(
        out,
        "| p99 latency ≥ 10× lower than FastMCP at {c} connections | {text} | {} |",
        mark(met)
    );
    let (text, met) = match (m, off) {
        (Some(m), Some(o)) if o.rps > 0.0 => {
            let cost = (1.0 - m.rps / o.rps) * 100.0;
            let text = if cost >= 0.0 {
                format!(
                    "{} vs {} results/s: auth on costs **{cost:.1}%**",
                    num(m.rps),
                    num(o.rps)
                )
            } else {
                format!(
                    "{} vs {} results/s: auth on was **{:.1}% faster** (run-to-run noise; no cost measurable)",
                    num(m.rps),
                    num(o.rps),
                    -cost
                )
            };
            (text, Some(cost <= 10.0))
        }
        _ => ("–".to_owned(), None),
    };
    let _ = writeln!(
        out,
        "| auth on costs ≤ 10% of throughput vs auth off ({c} connections) | {text} | {} |",
        mark(met)
    );
    let (text, met) = share_of_floor(m, floor, 0.35);
    let _ = writeln!(
        out,
        "| session-era: mcpgate ≥ 35% of the floor ({c} connections, one session each) | {text} | {} |",
        mark(met)
    );
    stateless_targets(r, c, out);
    policy_target(r, c, out);
    gateway_targets(r, c, out);
    let cold = r.cold_start.iter().find(|c| c.system == MCPGATE);
    let (text, met) = match cold {
        Some(c) => (
            format!("median **{:.1} ms** (min {:.1} ms)", c.median_ms, c.min_ms),
            Some(c.median_ms < 100.0),
        ),
        None => ("–".to_owned(), None),
    };
    let _ = writeln!(
        out,
        "| cold start (spawn → first correct `tools/call`) < 100 ms | {text} | {} |",
        mark(met)
    );
    let mem = r.memory.iter().find(|m| m.system == MCPGATE);
    let (text, met) = match mem {
        Some(m) => (
            format!(
                "**{:.1} MiB** with {} sessions",
                m.with_sessions_kib as f64 / 1024.0,
                m.sessions_opened
            ),
            Some((m.with_sessions_kib as f64) < 40.0 * 1024.0 && m.sessions_opened >= 1000),
        ),
        None => ("–".to_owned(), None),
    };
    let _ = writeln!(
        out,
        "| RSS with 1,000 open sessions < 40 MiB | {text} | {} |",
        mark(met)
    );
    let rot = r.rotation.iter().find(|x| x.system == MCPGATE);
    let (text, met) = match rot {
        Some(x) => (
            format!(
                "**{} errors**; {} results with old-key tokens, {} with new-key tokens",
                x.errors, x.ok_old_key, x.ok_new_key
            ),
            Some(x.errors == 0 && x.ok_new_key > 0 && x.ok_old_key > 0),
        ),
        None => ("–".to_owned(), None),
    };
    let _ = writeln!(
        out,
        "| zero errors while the signing key rotates mid-run | {text} | {} |",
        mark(met)
    );
}

/// The gateway's targets: `mcpgate proxy` against the HTTP upstream
/// measured directly (in each era: one session per connection, and
/// 2026-07-28, where a plain call takes the gateway's fast path) and against
/// FastMCP's proxy in front of the same upstreams (session era: FastMCP's
/// proxy is measured only there).
fn gateway_targets(r: &Results, c: usize, out: &mut String) {
    const S: &str = crate::driver::PER_CONNECTION;
    for (era, label) in [
        (crate::driver::STATELESS, "2026-07-28"),
        (S, "one session per connection"),
    ] {
        let (g1, d1) = (
            find(r, GATEWAY_HTTP, era, 1),
            find(r, DIRECT_UPSTREAM, era, 1),
        );
        let (text, met) = match (g1, d1) {
            (Some(g), Some(d)) if g.ok > 0 && d.ok > 0 => {
                let added = g.latency.p50_us - d.latency.p50_us;
                (
                    format!(
                        "p50 {} ms through the gateway vs {} ms directly: **{:+.3} ms**",
                        ms(g.latency.p50_us),
                        ms(d.latency.p50_us),
                        added / 1000.0
                    ),
                    Some(added <= 200.0),
                )
            }
            _ => ("–".to_owned(), None),
        };
        let _ = writeln!(
            out,
            "| gateway ({label}): added p50 latency of `mcpgate proxy` vs its HTTP upstream directly, 1 connection, ≤ 0.2 ms | {text} | {} |",
            mark(met)
        );
        let (g, d) = (
            find(r, GATEWAY_HTTP, era, c),
            find(r, DIRECT_UPSTREAM, era, c),
        );
        let (text, met) = match (g, d) {
            (Some(g), Some(d)) if d.rps > 0.0 => (
                format!(
                    "{} vs {} results/s = **{:.0}%** of direct",
                    num(g.rps),
                    num(d.rps),
                    g.rps / d.rps * 100.0
                ),
                Some(g.rps / d.rps >= 0.6),
            ),
            _ => ("–".to_owned(), None),
        };
        let _ = writeln!(
            out,
            "| gateway ({label}): throughput through `mcpgate proxy` ≥ 60% of the HTTP upstream directly ({c} connections) | {text} | {} |",
            mark(met)
        );
    }
    let g = find(r, GATEWAY_HTTP, S, c);
    let (f, gs, fs) = (
        find(r, FASTMCP_PROXY_HTTP, S, c),
        find(r, GATEWAY_STDIO, S, c),
        find(r, FASTMCP_PROXY_STDIO, S, c),
    );
    let (mut text, met) = match (g, f) {
        (Some(g), Some(f)) if f.rps > 0.0 => (
            format!(
                "HTTP upstream: {} vs {} results/s = **{}**",
                num(g.rps),
                num(f.rps),
                ratio(g.rps, f.rps)
            ),
            Some(g.rps / f.rps >= 30.0),
        ),
        _ => ("HTTP upstream: –".to_owned(), None),
    };
    if let (Some(gs), Some(fs)) = (gs, fs) {
        text.push_str(&format!(
            "; stdio upstream (reported, not the target): {} vs {} results/s = {}",
            num(gs.rps),
            num(fs.rps),
            ratio(gs.rps, fs.rps)
        ));
    }
    let _ = writeln!(
        out,
        "| gateway (one session per connection): authenticated `tools/call` through `mcpgate proxy` ≥ 30× FastMCP's proxy at {c} connections | {text} | {} |",
        mark(met)
    );
}

/// "`m` is N% of the floor", met when the share is at least `at_least`.
fn share_of_floor(
    m: Option<&ThroughputRun>,
    floor: Option<&ThroughputRun>,
    at_least: f64,
) -> (String, Option<bool>) {
    match (m, floor) {
        (Some(m), Some(fl)) if fl.rps > 0.0 => (
            format!(
                "{} vs {} results/s = **{:.0}%** of the floor",
                num(m.rps),
                num(fl.rps),
                m.rps / fl.rps * 100.0
            ),
            Some(m.rps / fl.rps >= at_least),
        ),
        _ => ("–".to_owned(), None),
    }
}

/// The 2026-07-28 targets: authenticated stateless `tools/call` against
/// FastMCP and the floor answering the same request.
fn stateless_targets(r: &Results, c: usize, out: &mut String) {
    const S: &str = crate::driver::STATELESS;
    let m = find(r, MCPGATE, S, c);
    let f = find(r, "fastmcp", S, c);
    let floor = find(r, "floor", S, c);
    let (text, met) = match (m, f) {
        (Some(m), Some(f)) if f.rps > 0.0 => (
            format!(
                "{} vs {} correct results/s = **{}**",
                num(m.rps),
                num(f.rps),
                ratio(m.rps, f.rps)
            ),
            Some(m.rps / f.rps >= 100.0),
        ),
        _ => ("–".to_owned(), None),
    };
    let _ = writeln!(
        out,
        "| 2026-07-28: authenticated `tools/call` ≥ 100× FastMCP (2026-07-28) at {c} connections | {text} | {} |",
        mark(met)
    );
    let (text, met) = share_of_floor(m, floor, 0.5);
    let _ = writeln!(
        out,
        "| 2026-07-28: mcpgate ≥ 50% of the floor ({c} connections) | {text} | {} |",
        mark(met)
    );
    let (m1, floor1) = (find(r, MCPGATE, S, 1), find(r, "floor", S, 1));
    let (text, met) = match (m1, floor1) {
        (Some(m), Some(fl)) if m.ok > 0 && fl.ok > 0 => {
            let gap = m.latency.p50_us - fl.latency.p50_us;
            (
                format!(
                    "p50 {} ms vs {} ms: **{:+.3} ms**",
                    ms(m.latency.p50_us),
                    ms(fl.latency.p50_us),
                    gap / 1000.0
                ),
                Some(gap <= 100.0),
            )
        }
        _ => ("–".to_owned(), None),
    };
    let _ = writeln!(
        out,
        "| 2026-07-28: single-connection p50 within 0.1 ms of the floor's | {text} | {} |",
        mark(met)
    );
}

/// What 100 per-tool policies cost: mcpgate with them vs without, at `c`
/// connections, session-era (one session each) and 2026-07-28. The target
/// is met when both measured eras cost at most 5%; a negative cost (the run
/// with policies was faster) is run-to-run noise and counts as no cost.
fn policy_target(r: &Results, c: usize, out: &mut String) {
    const ERAS: [(&str, &str); 2] = [
        (crate::driver::PER_CONNECTION, "session-era"),
        (crate::driver::STATELESS, "2026-07-28"),
    ];
    let mut parts = Vec::new();
    let mut met: Option<bool> = None;
    for (sessions, era) in ERAS {
        let (Some(base), Some(with)) = (
            find(r, MCPGATE, sessions, c),
            find(r, MCPGATE_POLICIES, sessions, c),
        ) else {
            continue;
        };
        if base.rps <= 0.0 {
            continue;
        }
        let cost = (1.0 - with.rps / base.rps) * 100.0;
        let verdict = if cost >= 0.0 {
            format!("**{cost:.1}%**")
        } else {
            format!("**{:.1}% faster** (noise)", -cost)
        };
        parts.push(format!(
            "{era}: {} vs {} results/s, {verdict}",
            num(with.rps),
            num(base.rps)
        ));
        met = Some(met.unwrap_or(true) && cost <= 5.0);
    }
    let text = if parts.is_empty() {
        "–".to_owned()
    } else {
        parts.join("; ")
    };
    let _ = writeln!(
        out,
        "| 100 per-tool policy rules cost ≤ 5% of authenticated `tools/call` throughput ({c} connections) | {text} | {} |",
        mark(met)
    );
}

/// "Cost of per-tool policies": the throughput of mcpgate with and without
/// the 100 rules side by side, and Criterion's figure for one decision.
/// "Verification cost per algorithm": mcpgate next to FastMCP's generic
/// `JWTVerifier`, per signature algorithm; absent for results files without it.
fn verify_alg_table(r: &Results, out: &mut String) {
    if r.verify_alg.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n### Verification cost per algorithm\n");
    let _ = writeln!(
        out,
        "mcpgate: Criterion mean of `verify_alg/{{alg}}/new_token` (verified-token cache off) and \
         `…/repeat_token` (default verified-token cache), `benches/verify.rs`. FastMCP: its generic \
         `JWTVerifier` for the same algorithm (`bench/fastmcp_verify.py --jwt`), mean over distinct \
         tokens each verified once and over one token verified again and again; tokens from the local \
         dev authorization server signing with that algorithm, key cached in both.\n"
    );
    let _ = writeln!(
        out,
        "| algorithm | mcpgate new token µs | mcpgate same token again µs | FastMCP JWTVerifier new token µs | FastMCP same token again µs | FastMCP / mcpgate, new token | FastMCP / mcpgate, same token again |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    // Missing figures stay missing: no cell or ratio is filled from another.
    let opt = |v: Option<f64>| {
        v.map(|x| format!("{x:.1}"))
            .unwrap_or_else(|| "not measured".to_owned())
    };
    let quotient = |f: Option<f64>, m: Option<f64>| match (f, m) {
        (Some(f), Some(m)) => ratio(f, m),
        _ => "–".to_owned(),
    };
    for a in &r.verify_alg {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            a.algorithm,
            opt(a.mcpgate_new_us),
            opt(a.mcpgate_repeat_us),
            opt(a.fastmcp_new_us),
            opt(a.fastmcp_repeat_us),
            quotient(a.fastmcp_new_us, a.mcpgate_new_us),
            quotient(a.fastmcp_repeat_us, a.mcpgate_repeat_us),
        );
    }
}

fn policy_section(r: &Results, out: &mut String) {
    let has_runs = r.throughput.iter().any(|t| t.system == MCPGATE_POLICIES);
    if !has_runs && r.policy_decide.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Cost of per-tool policies\n");
    let _ = writeln!(
        out,
        "`{}` runs the same server as `{MCPGATE}` with 100 per-tool policies (`bench-server --policies 100`, \
         rules from `bench/src/policies.rs`): an exact rule and a `*` rule that both require the bench token's \
         `mcp:tools`, and 98 rules on other exact names and on globs (`admin_N_*`, `tool_?_xN`) with scopes and \
         claim conditions, so every `tools/call` tests 49 glob patterns and evaluates both matching rules. None \
         refuses the benchmark's call. Both systems run back to back in the same run.\n",
        MCPGATE_POLICIES
    );
    if has_runs {
        let _ = writeln!(
            out,
            "| era | connections | without policies results/s | with 100 rules results/s | cost |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        for (sessions, era) in [
            (
                crate::driver::PER_CONNECTION,
                "session-era (one session each)",
            ),
            (crate::driver::STATELESS, "2026-07-28"),
        ] {
            for &c in &r.config.concurrency {
                let (Some(base), Some(with)) = (
                    find(r, MCPGATE, sessions, c),
                    find(r, MCPGATE_POLICIES, sessions, c),
                ) else {
                    continue;
                };
                let cost = if base.rps > 0.0 {
                    format!("{:+.1}%", (1.0 - with.rps / base.rps) * 100.0)
                } else {
                    "–".to_owned()
                };
                let _ = writeln!(
                    out,
                    "| {era} | {c} | {} | {} | {cost} |",
                    num(base.rps),
                    num(with.rps)
                );
            }
        }
        let _ = writeln!(
            out,
            "\nA negative cost means the run with policies was faster: run-to-run noise. On a busy machine \
             the throughput of two runs differs by more than 5% without any change; the server CPU per result \
             in the throughput tables above is the steadier comparison.\n"
        );
    }
    if !r.policy_decide.is_empty() {
        let figures: Vec<String> = r
            .policy_decide
            .iter()
            .map(|p| format!("{} rules {:.0} ns", p.rules, p.mean_ns))
            .collect();
        let _ = writeln!(
            out,
            "One decision alone (`PolicySet::decide` for `add`, allow path; Criterion mean, `benches/policy.rs`): {}.",
            figures.join(", ")
        );
    }
}

fn throughput_table(r: &Results, sessions: &str, out: &mut String) {
    let _ = writeln!(
        out,
        "| connections | system | correct results/s | p50 ms | p99 ms | errors | mcpgate throughput ÷ this | this p99 ÷ mcpgate p99 | server CPU µs per result | other processes' CPU during the run |"
    );
    let _ = writeln!(out, "|---:|---|---:|---:|---:|---|---:|---:|---:|---:|");
    for &c in &r.config.concurrency {
        let m = find(r, MCPGATE, sessions, c);
        // The gateways have their own section, next to their upstream.
        for s in r.systems.iter().filter(|s| !is_gateway_id(&s.id)) {
            let Some(t) = find(r, &s.id, sessions, c) else {
                continue;
            };
            let (rr, lr) = match m {
                Some(m) if s.id != MCPGATE => (
                    ratio(m.rps, t.rps),
                    ratio(t.latency.p99_us, m.latency.p99_us),
                ),
                _ => ("1×".to_owned(), "1×".to_owned()),
            };
            let cpu = cpu_per_result(t);
            let other = other_cell(r, t);
            let _ = writeln!(
                out,
                "| {c} | {} | {} | {} | {} | {} | {rr} | {lr} | {cpu} | {other} |",
                s.label,
                num(t.rps),
                ms(t.latency.p50_us),
                ms(t.latency.p99_us),
                errors_cell(t),
            );
        }
    }
}

/// Server CPU per correct result, microseconds.
fn cpu_per_result(t: &ThroughputRun) -> String {
    match t.server_cpu_s {
        Some(cpu) if t.ok > 0 => format!("{:.0}", cpu * 1e6 / t.ok as f64),
        _ => "–".to_owned(),
    }
}

/// Other processes' CPU during a run, as a share of the machine.
fn other_cell(r: &Results, t: &ThroughputRun) -> String {
    match t.other_cpu_s {
        Some(o) => format!(
            "{:.0}%",
            o / r.config.duration_s.max(1e-9) / r.machine.cores.max(1) as f64 * 100.0
        ),
        None => format!("load {:.2}", t.load_1m_before),
    }
}

/// The gateway rows of one era: the HTTP upstream directly, then each
/// gateway; `None` when the results have no gateway rows for it.
fn gateway_table(r: &Results, sessions: &str) -> Option<String> {
    let ids = [
        DIRECT_UPSTREAM,
        GATEWAY_HTTP,
        FASTMCP_PROXY_HTTP,
        GATEWAY_STDIO,
        FASTMCP_PROXY_STDIO,
    ];
    if !r
        .throughput
        .iter()
        .any(|t| t.sessions == sessions && is_gateway_id(&t.system))
    {
        return None;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| connections | system | correct results/s | p50 ms | p99 ms | errors | share of the HTTP upstream directly | added p50 ms vs directly | `mcpgate proxy` (same upstream) throughput ÷ this | server CPU µs per result (gateway + upstream) | other processes' CPU during the run |"
    );
    let _ = writeln!(
        out,
        "|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"
    );
    for &c in &r.config.concurrency {
        let direct = find(r, DIRECT_UPSTREAM, sessions, c);
        for id in ids {
            let Some(t) = find(r, id, sessions, c) else {
                continue;
            };
            let label = if id == DIRECT_UPSTREAM {
                format!("HTTP upstream directly, no gateway (= {})", label(r, id))
            } else {
                label(r, id).to_owned()
            };
            let http = matches!(id, GATEWAY_HTTP | FASTMCP_PROXY_HTTP);
            let (share, added) = match direct {
                Some(d) if http && d.rps > 0.0 && d.ok > 0 && t.ok > 0 => (
                    format!("{:.0}%", t.rps / d.rps * 100.0),
                    format!("{:+.3}", (t.latency.p50_us - d.latency.p50_us) / 1000.0),
                ),
                _ => ("–".to_owned(), "–".to_owned()),
            };
            let ours = match id {
                FASTMCP_PROXY_HTTP => find(r, GATEWAY_HTTP, sessions, c),
                FASTMCP_PROXY_STDIO => find(r, GATEWAY_STDIO, sessions, c),
                _ => None,
            };
            let vs = match (id, ours) {
                (GATEWAY_HTTP | GATEWAY_STDIO, _) => "1×".to_owned(),
                (_, Some(g)) => ratio(g.rps, t.rps),
                _ => "–".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {c} | {label} | {} | {} | {} | {} | {share} | {added} | {vs} | {} | {} |",
                num(t.rps),
                ms(t.latency.p50_us),
                ms(t.latency.p99_us),
                errors_cell(t),
                cpu_per_result(t),
                other_cell(r, t),
            );
        }
    }
    Some(out)
}

/// "Gateway": `mcpgate proxy` and FastMCP's proxy in front of the same
/// upstreams, the HTTP upstream also measured directly, and the memory per
/// idle principal behind a stdio gateway; absent for results without them.
fn gateway_section(r: &Results, out: &mut String) {
    let session_era = gateway_table(r, crate::driver::PER_CONNECTION);
    let stateless = gateway_table(r, crate::driver::STATELESS);
    if session_era.is_none() && stateless.is_none() && r.gateway_memory.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n## Gateway: `mcpgate proxy` in front of an MCP server\n"
    );
    let _ = writeln!(
        out,
        "`mcpgate proxy` with auth from the same `SCALEKIT_ENVIRONMENT_URL` / `SCALEKIT_RESOURCE_ID` / `MCP_URL` as the \
         mcpgate systems (and, like them, a per-principal rate limit the load never reaches), forwarding authenticated \
         `tools/call add` to an upstream without auth: **HTTP** — `bench-server --system mcpgate-noauth` on a second \
         loopback port, the very command of \"{}\", whose rows from the same run are that upstream measured directly; \
         **stdio** — `bench-server --stdio`, the same tools over stdio, one child per principal (the gateway's default \
         isolation). FastMCP's proxy (`create_proxy` with the same `ScalekitProvider`, `bench/fastmcp_proxy.py`, uvicorn, \
         1 process) stands in front of the same two upstreams with its defaults: a fresh backend client per request, \
         one stdio child kept alive for everyone. Same closed loop as above, one session per connection, one principal \
         per connection; before the runs each principal made one call through `mcpgate proxy`, which starts its \
         upstream, so the rows show forwarding rather than upstreams starting. **Server CPU per result counts the gateway's and its upstream's CPU** (the HTTP upstream \
         process, or the stdio children); the direct row counts the upstream alone.\n",
        label(r, DIRECT_UPSTREAM)
    );
    if let Some(table) = session_era {
        out.push_str(&table);
    }
    if let Some(table) = stateless {
        let _ = writeln!(out, "\n2026-07-28, no session (as above):\n");
        out.push_str(&table);
    }
    if !r.gateway_memory.is_empty() {
        let _ = writeln!(out, "\n### Memory per idle principal (stdio upstream)\n");
        let _ = writeln!(
            out,
            "A fresh gateway, one call to make it ready (one principal), then the baseline; then more principals \
             (distinct subjects) each open a session, make one correct `tools/call` and go idle, and one second later \
             VmRSS is read again: the gateway process alone and the sum over its children (the stdio upstreams). \
             mcpgate keeps a child per principal; FastMCP's proxy one child for everyone. VmRSS counts the pages the \
             children share (their binary) once per child; the last column uses the proportional set size (PSS, \
             shared pages split between the processes that map them) of the gateway and its children instead.\n"
        );
        let _ = writeln!(
            out,
            "| system | principals added | gateway MiB before → after | children before → after | children MiB before → after | KiB per principal, gateway alone | KiB per principal, gateway + children | KiB per principal, gateway + children, PSS |"
        );
        let _ = writeln!(out, "|---|---:|---|---|---|---:|---:|---:|");
        let kib = |v: Option<f64>| {
            v.map(|x| format!("{x:.0}"))
                .unwrap_or_else(|| "–".to_owned())
        };
        for m in &r.gateway_memory {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} → {:.1} | {} → {} | {:.1} → {:.1} | {} | {} | {} |",
                label(r, &m.system),
                m.principals,
                m.baseline_gateway_kib as f64 / 1024.0,
                m.gateway_kib as f64 / 1024.0,
                m.baseline_children,
                m.children,
                m.baseline_children_kib as f64 / 1024.0,
                m.children_kib as f64 / 1024.0,
                kib(m.per_principal_gateway_kib()),
                kib(m.per_principal_total_kib()),
                kib(m.per_principal_total_pss_kib()),
            );
        }
    }
}

/// Median and worst share of the machine used by other processes during runs.
fn other_summary(r: &Results) -> String {
    let mut shares: Vec<f64> = r
        .throughput
        .iter()
        .filter_map(|t| t.other_cpu_s)
        .map(|o| o / r.config.duration_s.max(1e-9) / r.machine.cores.max(1) as f64 * 100.0)
        .collect();
    if shares.is_empty() {
        return "not recorded in this results file".to_owned();
    }
    shares.sort_by(f64::total_cmp);
    format!(
        "median {:.0}%, worst {:.0}% over {} runs",
        shares[shares.len() / 2],
        shares[shares.len() - 1],
        shares.len()
    )
}

/// The commit a results file was measured on and the state of its tree, for
/// the report's introduction.
fn source_summary(source: Option<&SourceTree>) -> String {
    let Some(s) = source else {
        return "commit not recorded (this results file predates recording it)".to_owned();
    };
    match (&s.commit, s.clean) {
        (Some(c), Some(true)) => format!("commit `{c}`, clean work tree"),
        (Some(c), Some(false)) => format!(
            "commit `{c}` **with uncommitted changes** ({} path{} listed by `git status --porcelain`; see the results file)",
            s.changed_paths,
            if s.changed_paths == 1 { "" } else { "s" }
        ),
        (Some(c), None) => format!(
            "commit `{c}`, work tree state unknown ({})",
            s.error.as_deref().unwrap_or("git status did not run")
        ),
        (None, _) => format!(
            "commit unknown ({})",
            s.error.as_deref().unwrap_or("not recorded")
        ),
    }
}

/// The whole Markdown document. `chart` is the SVG's path relative to the
/// document; `analysis` is included verbatim at the end.
pub fn markdown(r: &Results, chart: &str, json_path: &str, analysis: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "mcpgate against FastMCP {}'s `ScalekitProvider`, against mcpgate itself without auth, and against a bare \
         HTTP floor, all serving `add(a, b)` and `inspect_token` at `/mcp` behind the same local Scalekit-compatible \
         authorization server. Generated by `bash bench/run.sh` on {} ({} run, {:.0} s; {}) from \
         [`{json_path}`]({json_path}); do not edit by hand — the analysis at the end comes from `bench/analysis.md`.\n",
        r.versions.get("fastmcp").map(String::as_str).unwrap_or("?"),
        r.date,
        r.mode,
        r.wall_seconds,
        source_summary(r.source.as_ref())
    );
    let _ = writeln!(
        out,
        "**Load while measuring:** 1-minute load average {:.2} when measurements started, {:.2} when they ended \
         (the benchmark itself keeps both cores busy, so the load average rises with it). The machine has {} cores, \
         shared by the server under test and the load generator (a separate process on the same machine), so every \
         server here runs on less than two cores. Interference from everything else on the machine (other builds) \
         is measured per run: the last column of the throughput tables is the CPU time used by other processes \
         during that run, as a share of the machine ({}).\n",
        r.load.at_start[0],
        r.load.at_end[0],
        r.machine.cores,
        other_summary(r)
    );
    if !r.harness_errors.is_empty() {
        let _ = writeln!(out, "**Harness errors in this run:**\n");
        for e in &r.harness_errors {
            let _ = writeln!(out, "- {e}");
        }
        let _ = writeln!(out);
    }

    let _ = writeln!(out, "## Targets\n");
    targets(r, &mut out);

    let _ = writeln!(
        out,
        "\n## Throughput and latency: one session per connection (headline)\n"
    );
    let _ = writeln!(
        out,
        "Closed loop: each connection sends `tools/call add` back to back; {} s measured after {} s of warm-up. \
         Only correct JSON-RPC results count (the response is parsed and `result.content[0].text` must be the sum); \
         anything else is an error. Ratios are mcpgate (auth on) relative to each system: higher throughput ratio and \
         higher p99 ratio mean mcpgate is better. Server CPU per result is the server process's user+system CPU time \
         over the window divided by its correct results.\n",
        r.config.duration_s, r.config.warmup_s
    );
    throughput_table(r, "per-connection", &mut out);
    let _ = writeln!(
        out,
        "\n![throughput, p50 and p99 latency versus concurrency]({chart})\n"
    );

    let _ = writeln!(
        out,
        "## Throughput and latency: all connections share one session\n"
    );
    throughput_table(r, "shared", &mut out);

    let _ = writeln!(out, "\n## Throughput and latency: 2026-07-28, no session\n");
    let _ = writeln!(
        out,
        "The same closed loop in the stateless revision, each request as the official Python SDK client sends it in \
         `mode=\"2026-07-28\"`: no `initialize`, no session; `MCP-Protocol-Version: 2026-07-28`, `Mcp-Method: tools/call`, \
         `Mcp-Name: add` and the `io.modelcontextprotocol/*` `_meta` keys. A result counts only if it is correct, carries \
         `resultType: \"complete\"` and comes without an `Mcp-Session-Id`.\n"
    );
    throughput_table(r, crate::driver::STATELESS, &mut out);

    gateway_section(r, &mut out);

    let _ = writeln!(out, "\n## Cold start\n");
    let _ = writeln!(
        out,
        "From process spawn to the first correct `tools/call` answer (initialize → notifications/initialized → \
         tools/call, polling the port every millisecond); for mcpgate with auth this includes its JWKS fetch. {} runs each.\n",
        r.config.cold_start_runs
    );
    let _ = writeln!(
        out,
        "| system | median ms | fastest ms | all runs (ms) | this ÷ mcpgate |"
    );
    let _ = writeln!(out, "|---|---:|---:|---|---:|");
    let m_cold = r
        .cold_start
        .iter()
        .find(|c| c.system == MCPGATE)
        .map(|c| c.median_ms);
    for c in &r.cold_start {
        let runs: Vec<String> = c.runs_ms.iter().map(|v| format!("{v:.0}")).collect();
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.1} | {} | {} |",
            label(r, &c.system),
            c.median_ms,
            c.min_ms,
            runs.join(", "),
            m_cold.map(|m| ratio(c.median_ms, m)).unwrap_or_default()
        );
    }

    let _ = writeln!(out, "\n## Memory with open sessions\n");
    let _ = writeln!(
        out,
        "VmRSS from `/proc/PID/status` of a fresh server after one call, then after opening {} MCP sessions \
         (initialize + notifications/initialized over 16 connections, left open).\n",
        r.config.memory_sessions
    );
    let _ = writeln!(
        out,
        "| system | RSS at start MiB | RSS with sessions MiB | sessions | KiB per session | opened in s | this ÷ mcpgate |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    let m_mem = r
        .memory
        .iter()
        .find(|m| m.system == MCPGATE)
        .map(|m| m.with_sessions_kib as f64);
    for m in &r.memory {
        let per =
            (m.with_sessions_kib as f64 - m.baseline_kib as f64) / m.sessions_opened.max(1) as f64;
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.1} | {} | {:.1} | {:.2} | {} |",
            label(r, &m.system),
            m.baseline_kib as f64 / 1024.0,
            m.with_sessions_kib as f64 / 1024.0,
            m.sessions_opened,
            per,
            m.open_seconds,
            m_mem
                .map(|x| ratio(m.with_sessions_kib as f64, x))
                .unwrap_or_default()
        );
    }

    let _ = writeln!(out, "\n## Cost of one token verification\n");
    let _ = writeln!(
        out,
        "| system | new token, key cached µs | same token again µs | first verification incl. JWKS fetch µs | how |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---|");
    // A figure that was not measured is said to be missing, never filled in
    // from another column.
    let opt = |v: Option<f64>| {
        v.map(|x| format!("{x:.1}"))
            .unwrap_or_else(|| "not measured".to_owned())
    };
    for v in &r.verify {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            v.system,
            opt(v.cached_us),
            opt(v.repeat_token_us),
            opt(v.first_with_fetch_us),
            v.method
        );
    }
    if let (Some(m), Some(f)) = (
        r.verify.iter().find(|v| v.system == MCPGATE),
        r.verify.iter().find(|v| v.system == "fastmcp"),
    ) {
        let mut sentences = Vec::new();
        if let (Some(mc), Some(fc)) = (m.cached_us, f.cached_us) {
            sentences.push(format!(
                "A new token with its key cached: FastMCP takes {} as long as mcpgate.",
                ratio(fc, mc)
            ));
        }
        match (m.repeat_token_us, f.repeat_token_us) {
            (Some(mr), Some(fr)) => sentences.push(format!(
                "The same token again (every request of a session that keeps its token): FastMCP takes {} as long \
                 as mcpgate's verified-token cache hit ({fr:.1} µs vs {mr:.1} µs; FastMCP's new-token figure is {}).",
                ratio(fr, mr),
                f.cached_us
                    .map(|v| format!("{v:.1} µs"))
                    .unwrap_or_else(|| "not measured".to_owned())
            )),
            (mr, fr) => {
                let missing: Vec<&str> = [("mcpgate", mr), ("FastMCP", fr)]
                    .into_iter()
                    .filter(|(_, v)| v.is_none())
                    .map(|(name, _)| name)
                    .collect();
                sentences.push(format!(
                    "The same token again was not measured for {} in this run, so there is no ratio for it.",
                    missing.join(" and ")
                ));
            }
        }
        let _ = writeln!(out, "\n{}", sentences.join(" "));
    }
    verify_alg_table(r, &mut out);

    policy_section(r, &mut out);

    let _ = writeln!(out, "\n## Signing-key rotation mid-run\n");
    let _ = writeln!(
        out,
        "One session per connection; a third into the measured window the authorization server rotates its key \
         (`POST /admin/rotate-keys`; the old key stays published), and every other connection switches to a token \
         minted with the new key while the rest keep their old-key tokens. Throughput per 250 ms shows any stall.\n"
    );
    let _ = writeln!(
        out,
        "| system | connections | correct results/s | errors | results with old-key tokens | with new-key tokens | p99 ms | slowest 250 ms bucket vs median bucket |"
    );
    let _ = writeln!(out, "|---|---:|---:|---|---:|---:|---:|---:|");
    for x in &r.rotation {
        let mut sorted = x.timeline.clone();
        sorted.sort_unstable();
        let med = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
        let min = sorted.first().copied().unwrap_or(0);
        let errs = if x.errors == 0 {
            "0".to_owned()
        } else {
            let kinds: Vec<String> = x
                .error_kinds
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect();
            format!("{} ({})", x.errors, kinds.join(", "))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {errs} | {} | {} | {} | {} vs {} |",
            label(r, &x.system),
            x.concurrency,
            num(x.rps),
            x.ok_old_key,
            x.ok_new_key,
            ms(x.latency.p99_us),
            min,
            med
        );
    }

    let _ = writeln!(out, "\n## What ran\n");
    for s in &r.systems {
        let _ = writeln!(out, "- **{}** — `{}`", s.label, s.command);
    }
    let _ = writeln!(
        out,
        "- **Authorization server** — `target/release/bench-as --mcp-url http://127.0.0.1:$PORT/mcp`: \
         `mcpgate-dev-as` (Scalekit-compatible: RS256, `kid`, JWKS at `{{env}}/keys`, `iss` = \
         `{{env}}/resources/{{res}}`, `aud` = `[mcp_url, res_id]`) on loopback, in-memory storage; tokens minted \
         through its Rust API (`/bench/mint`), one subject per connection.\n\
         - **Load generator** — `target/release/mcpgate-bench` (tokio, hyper HTTP/1.1 client, one keep-alive \
         connection per worker, TCP_NODELAY), a separate process on the same machine. Every request carries \
         `Authorization: Bearer …` (systems with auth), `Mcp-Session-Id` and `MCP-Protocol-Version`.\n\
         - The floor answers fixed bytes and has no sessions, so it gets the same requests with fixed arguments \
         (20 + 22) and id; it shows what the HTTP stack and the load generator can do at all on this machine.\n"
    );

    let _ = writeln!(out, "## Machine and versions\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| CPU | {} |", r.machine.cpu_model);
    let _ = writeln!(out, "| cores | {} |", r.machine.cores);
    let _ = writeln!(out, "| memory | {} MiB |", r.machine.memory_mib);
    let _ = writeln!(out, "| kernel | {} |", r.machine.kernel);
    let _ = writeln!(out, "| source | {} |", source_summary(r.source.as_ref()));
    for (k, v) in &r.versions {
        let _ = writeln!(out, "| {k} | {v} |");
    }

    let _ = writeln!(
        out,
        "\n## Rerun\n\n```sh\nbash bench/run.sh            # full run (~10 min): writes bench/results/<date>.json, the chart and this file\n\
         bash bench/run.sh --smoke    # a few seconds per system; output under target/bench-smoke/, exits non-zero if anything produced no correct result\n\
         cargo bench -p mcpgate-bench --bench verify   # the verification micro-benchmark alone\n\
         target/release/mcpgate-bench report --json bench/results/<date>.json   # regenerate this file from a results file\n```\n\n\
         `run.sh` builds `mcpgate-bench` in release mode, creates `bench/.venv` from `bench/requirements.txt` \
         (hash-pinned) if needed, runs the Criterion bench, waits (up to 5 minutes) for the 1-minute load average to \
         drop below 1.0, then runs the driver.\n"
    );

    if let Some(analysis) = analysis {
        let _ = writeln!(out, "{}", analysis.trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{AlgVerifyCost, VerifyCost};

    #[test]
    fn formats() {
        assert_eq!(num(12345.6), "12,346");
        assert_eq!(num(999.0), "999");
        assert_eq!(ratio(300.0, 10.0), "30×");
        assert_eq!(ratio(1.0, 0.0), "–");
        assert_eq!(ms(1234.0), "1.23");
        let md = markdown(&Results::default(), "c.svg", "r.json", Some("## Analysis"));
        assert!(md.contains("## Targets") && md.ends_with("## Analysis\n"));
    }

    fn run(system: &str, sessions: &str, c: usize, rps: f64, p50_us: f64) -> ThroughputRun {
        ThroughputRun {
            system: system.to_owned(),
            sessions: sessions.to_owned(),
            concurrency: c,
            ok: (rps * 10.0) as u64,
            rps,
            latency: crate::stats::Latency {
                p50_us,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn stateless_targets_compare_the_2026_rows_only() {
        let mut r = Results::default();
        r.config.concurrency = vec![1, 64];
        r.throughput = vec![
            run("mcpgate", "stateless", 64, 20_000.0, 3000.0),
            run("fastmcp", "stateless", 64, 150.0, 3000.0),
            run("floor", "stateless", 64, 36_000.0, 1500.0),
            run("mcpgate", "stateless", 1, 8_000.0, 120.0),
            run("floor", "stateless", 1, 12_000.0, 70.0),
            // Session-era rows must not be mistaken for 2026-07-28 ones.
            run("mcpgate", "per-connection", 64, 9_000.0, 7000.0),
            run("floor", "per-connection", 64, 36_000.0, 1500.0),
        ];
        let mut out = String::new();
        targets(&r, &mut out);
        assert!(
            out.contains("≥ 100× FastMCP (2026-07-28) at 64 connections | 20,000 vs 150 correct results/s = **133×** | met |"),
            "{out}"
        );
        assert!(out.contains("= **56%** of the floor | met |"), "{out}");
        assert!(out.contains("**+0.050 ms** | met |"), "{out}");
        assert!(
            out.contains("= **25%** of the floor | **missed** |"),
            "{out}"
        );
    }

    #[test]
    fn the_policy_target_compares_policies_with_plain_mcpgate_in_each_era() {
        let mut r = Results::default();
        r.config.concurrency = vec![1, 64];
        r.throughput = vec![
            run("mcpgate", "per-connection", 64, 10_000.0, 5000.0),
            run("mcpgate-policies", "per-connection", 64, 9_700.0, 5000.0),
            run("mcpgate", "stateless", 64, 20_000.0, 3000.0),
            run("mcpgate-policies", "stateless", 64, 20_200.0, 3000.0),
            // Other connection counts must not be used.
            run("mcpgate-policies", "per-connection", 1, 1.0, 100.0),
        ];
        let mut out = String::new();
        targets(&r, &mut out);
        assert!(
            out.contains(
                "| 100 per-tool policy rules cost ≤ 5% of authenticated `tools/call` throughput (64 connections) \
                 | session-era: 9,700 vs 10,000 results/s, **3.0%**; \
                 2026-07-28: 20,200 vs 20,000 results/s, **1.0% faster** (noise) | met |"
            ),
            "{out}"
        );

        // Over 5% in one era misses the target.
        r.throughput[3].rps = 18_000.0;
        let mut out = String::new();
        targets(&r, &mut out);
        assert!(
            out.contains("2026-07-28: 18,000 vs 20,000 results/s, **10.0%** | **missed** |"),
            "{out}"
        );

        // Without the policies system the target is not measured.
        r.throughput.retain(|t| t.system != "mcpgate-policies");
        let mut out = String::new();
        targets(&r, &mut out);
        assert!(
            out.contains("throughput (64 connections) | – | not measured |"),
            "{out}"
        );
    }

    #[test]
    fn the_policy_section_shows_both_systems_and_the_decision_cost() {
        let md = markdown(&Results::default(), "c.svg", "r.json", None);
        assert!(!md.contains("## Cost of per-tool policies"), "{md}");

        let mut r = Results::default();
        r.config.concurrency = vec![64];
        r.throughput = vec![
            run("mcpgate", "per-connection", 64, 10_000.0, 5000.0),
            run("mcpgate-policies", "per-connection", 64, 9_700.0, 5000.0),
            run("mcpgate", "stateless", 64, 20_000.0, 3000.0),
            run("mcpgate-policies", "stateless", 64, 20_200.0, 3000.0),
        ];
        r.policy_decide = vec![
            crate::results::PolicyDecideCost {
                rules: 0,
                mean_ns: 3.2,
            },
            crate::results::PolicyDecideCost {
                rules: 100,
                mean_ns: 412.0,
            },
        ];
        let md = markdown(&r, "c.svg", "r.json", None);
        let start = md.find("## Cost of per-tool policies").expect("section");
        let section = &md[start..md.find("## Signing-key rotation").unwrap()];
        assert!(
            section.contains("| session-era (one session each) | 64 | 10,000 | 9,700 | +3.0% |"),
            "{section}"
        );
        assert!(
            section.contains("| 2026-07-28 | 64 | 20,000 | 20,200 | -1.0% |"),
            "{section}"
        );
        assert!(
            section.contains("0 rules 3 ns, 100 rules 412 ns."),
            "{section}"
        );
    }

    fn verify(system: &str, new: Option<f64>, repeat: Option<f64>) -> VerifyCost {
        VerifyCost {
            system: system.to_owned(),
            cached_us: new,
            repeat_token_us: repeat,
            first_with_fetch_us: Some(700.0),
            method: "m".to_owned(),
        }
    }

    fn verify_section(r: &Results) -> String {
        let md = markdown(r, "c.svg", "r.json", None);
        let start = md.find("## Cost of one token verification").unwrap();
        let end = md.find("## Signing-key rotation").unwrap();
        md[start..end].to_owned()
    }

    #[test]
    fn a_repeat_figure_that_was_not_measured_is_never_substituted() {
        // As in bench/results/2026-11-26.json: FastMCP's repeat figure is null.
        let r = Results {
            verify: vec![
                verify("mcpgate", Some(45.6), Some(0.9)),
                verify("fastmcp", Some(242.3), None),
            ],
            ..Results::default()
        };
        let section = verify_section(&r);
        assert!(
            section.contains("| fastmcp | 242.3 | not measured | 700.0 | m |"),
            "{section}"
        );
        // No ratio made up from the new-token figure (242.3 / 0.9 = 269×).
        assert!(!section.contains("269×"), "{section}");
        assert!(
            section.contains("The same token again was not measured for FastMCP"),
            "{section}"
        );
        assert!(section.contains("FastMCP takes 5.31× as long as mcpgate."));
    }

    #[test]
    fn a_measured_repeat_figure_gives_its_own_ratio() {
        let r = Results {
            verify: vec![
                verify("mcpgate", Some(45.6), Some(0.9)),
                verify("fastmcp", Some(242.3), Some(180.0)),
            ],
            ..Results::default()
        };
        let section = verify_section(&r);
        assert!(
            section.contains("| fastmcp | 242.3 | 180.0 | 700.0 | m |"),
            "{section}"
        );
        assert!(section.contains("FastMCP takes 200× as long"), "{section}");
        assert!(section.contains("(180.0 µs vs 0.9 µs"), "{section}");
    }

    #[test]
    fn the_per_algorithm_table_has_one_row_per_algorithm_with_both_ratios() {
        assert!(!verify_section(&Results::default()).contains("per algorithm"));
        let alg = |name: &str, m: [Option<f64>; 2], f: [Option<f64>; 2]| AlgVerifyCost {
            algorithm: name.to_owned(),
            mcpgate_new_us: m[0],
            mcpgate_repeat_us: m[1],
            fastmcp_new_us: f[0],
            fastmcp_repeat_us: f[1],
        };
        let r = Results {
            verify_alg: vec![
                alg("RS256", [Some(40.0), Some(0.8)], [Some(200.0), Some(160.0)]),
                alg("ES256", [Some(60.0), Some(0.8)], [Some(90.0), Some(80.0)]),
                // FastMCP failed for EdDSA: its cells and ratios stay empty.
                alg("EdDSA", [Some(30.0), Some(0.8)], [None, None]),
            ],
            ..Results::default()
        };
        let section = verify_section(&r);
        assert!(
            section.contains("### Verification cost per algorithm"),
            "{section}"
        );
        assert!(
            section.contains("| RS256 | 40.0 | 0.8 | 200.0 | 160.0 | 5.00× | 200× |"),
            "{section}"
        );
        assert!(
            section.contains("| ES256 | 60.0 | 0.8 | 90.0 | 80.0 | 1.50× | 100× |"),
            "{section}"
        );
        assert!(
            section.contains("| EdDSA | 30.0 | 0.8 | not measured | not measured | – | – |"),
            "{section}"
        );
    }

    #[test]
    fn results_files_without_the_per_algorithm_costs_still_load() {
        let mut json = serde_json::to_value(Results::default()).unwrap();
        json.as_object_mut().unwrap().remove("verify_alg");
        let r: Results = serde_json::from_value(json).unwrap();
        assert!(r.verify_alg.is_empty());
    }

    #[test]
    fn the_commit_and_tree_state_are_printed() {
        let mut r = Results::default();
        let md = markdown(&r, "c.svg", "r.json", None);
        assert!(md.contains("commit not recorded"), "{md}");

        let commit = "0123456789abcdef0123456789abcdef01234567";
        r.source = Some(SourceTree {
            commit: Some(commit.to_owned()),
            clean: Some(true),
            ..SourceTree::default()
        });
        let md = markdown(&r, "c.svg", "r.json", None);
        assert!(
            md.contains(&format!("commit `{commit}`, clean work tree")),
            "{md}"
        );
        assert!(md.contains(&format!("| source | commit `{commit}`, clean work tree |")));

        r.source = Some(SourceTree {
            commit: Some(commit.to_owned()),
            clean: Some(false),
            changes: vec![" M bench/src/report.rs".to_owned()],
            changed_paths: 1,
            error: None,
        });
        let md = markdown(&r, "c.svg", "r.json", None);
        assert!(
            md.contains("**with uncommitted changes** (1 path listed"),
            "{md}"
        );

        r.source = Some(SourceTree {
            error: Some("not a git checkout (no .git)".to_owned()),
            ..SourceTree::default()
        });
        let md = markdown(&r, "c.svg", "r.json", None);
        assert!(
            md.contains("commit unknown (not a git checkout (no .git))"),
            "{md}"
        );
    }

    #[test]
    fn gateway_targets_compare_with_the_upstream_directly_and_fastmcps_proxy() {
        let mut r = Results::default();
        r.config.concurrency = vec![1, 64];
        r.throughput = vec![
            run("mcpgate-noauth", "per-connection", 1, 9_000.0, 110.0),
            run("gateway-http", "per-connection", 1, 5_000.0, 250.0),
            run("mcpgate-noauth", "per-connection", 64, 20_000.0, 3000.0),
            run("gateway-http", "per-connection", 64, 13_000.0, 5000.0),
            run("fastmcp-proxy-http", "per-connection", 64, 200.0, 300_000.0),
            run("gateway-stdio", "per-connection", 64, 8_000.0, 8000.0),
            run(
                "fastmcp-proxy-stdio",
                "per-connection",
                64,
                400.0,
                150_000.0,
            ),
            // Stateless rows must not be taken for session-era ones.
            run("gateway-http", "stateless", 1, 9_000.0, 100.0),
        ];
        let mut out = String::new();
        targets(&r, &mut out);
        assert!(
            out.contains("1 connection, ≤ 0.2 ms | p50 0.25 ms through the gateway vs 0.11 ms directly: **+0.140 ms** | met |"),
            "{out}"
        );
        assert!(
            out.contains(
                "(64 connections) | 13,000 vs 20,000 results/s = **65%** of direct | met |"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "≥ 30× FastMCP's proxy at 64 connections | HTTP upstream: 13,000 vs 200 results/s = **65×**; \
                 stdio upstream (reported, not the target): 8,000 vs 400 results/s = 20× | met |"
            ),
            "{out}"
        );

        // Slower than the targets: each is missed.
        r.throughput[1].latency.p50_us = 400.0;
        r.throughput[3].rps = 11_000.0;
        r.throughput[4].rps = 500.0;
        let mut out = String::new();
        targets(&r, &mut out);
        assert!(out.contains("**+0.290 ms** | **missed** |"), "{out}");
        assert!(out.contains("= **55%** of direct | **missed** |"), "{out}");
        assert!(out.contains("= **22×**; stdio"), "{out}");
        assert!(out.contains("= 20× | **missed** |"), "{out}");

        // Without the gateway systems nothing is measured.
        r.throughput.retain(|t| t.system == "mcpgate-noauth");
        let mut out = String::new();
        targets(&r, &mut out);
        assert!(
            out.contains("1 connection, ≤ 0.2 ms | – | not measured |"),
            "{out}"
        );
        assert!(
            out.contains("directly (64 connections) | – | not measured |"),
            "{out}"
        );
        assert!(out.contains("| HTTP upstream: – | not measured |"), "{out}");
    }

    #[test]
    fn the_gateway_section_has_its_rows_and_the_idle_principals() {
        let md = markdown(&Results::default(), "c.svg", "r.json", None);
        assert!(!md.contains("## Gateway"), "{md}");

        let mut r = Results::default();
        r.config.concurrency = vec![64];
        r.config.duration_s = 10.0;
        for (id, label) in [
            ("mcpgate", "mcpgate (auth on)"),
            ("mcpgate-noauth", "mcpgate (auth off)"),
            ("gateway-http", "gw http"),
            ("fastmcp-proxy-http", "fm http"),
        ] {
            r.systems.push(crate::results::SystemInfo {
                id: id.to_owned(),
                label: label.to_owned(),
                command: String::new(),
            });
        }
        let mut gw = run("gateway-http", "per-connection", 64, 13_000.0, 5000.0);
        gw.server_cpu_s = Some(13.0);
        r.throughput = vec![
            run("mcpgate", "per-connection", 64, 15_000.0, 4000.0),
            run("mcpgate-noauth", "per-connection", 64, 20_000.0, 3000.0),
            gw,
            run("fastmcp-proxy-http", "per-connection", 64, 200.0, 300_000.0),
        ];
        r.gateway_memory = vec![crate::results::GatewayMemory {
            system: "gateway-stdio".to_owned(),
            principals: 20,
            baseline_gateway_kib: 10_240,
            baseline_children: 1,
            baseline_children_kib: 4_096,
            gateway_kib: 12_288,
            children: 21,
            children_kib: 86_016,
            baseline_total_pss_kib: Some(12_000),
            total_pss_kib: Some(52_000),
        }];
        let md = markdown(&r, "c.svg", "r.json", None);
        let start = md.find("## Gateway").expect("section");
        let section = &md[start..md.find("## Cold start").unwrap()];
        assert!(
            section.contains(
                "| 64 | HTTP upstream directly, no gateway (= mcpgate (auth off)) | 20,000 | 3.00 |"
            ),
            "{section}"
        );
        // Share of direct, added p50, 1× for itself, CPU per result (13 s / 130,000).
        assert!(
            section
                .contains("| 64 | gw http | 13,000 | 5.00 | 0.00 | 0 | 65% | +2.000 | 1× | 100 |"),
            "{section}"
        );
        assert!(
            section.contains("| 64 | fm http | 200 | 300 | 0.00 | 0 | 1% | +297.000 | 65× |"),
            "{section}"
        );
        assert!(
            section.contains(
                "| gateway-stdio | 20 | 10.0 → 12.0 | 1 → 21 | 4.0 → 84.0 | 102 | 4198 | 2000 |"
            ),
            "{section}"
        );
        // The gateways stay out of the servers' tables.
        let headline = &md[..start];
        assert!(!headline.contains("| gw http |"), "{headline}");
        assert!(
            headline.contains("| 64 | mcpgate (auth off) |"),
            "{headline}"
        );
    }

    #[test]
    fn results_files_without_the_gateway_memory_still_load() {
        let mut json = serde_json::to_value(Results::default()).unwrap();
        json.as_object_mut().unwrap().remove("gateway_memory");
        let r: Results = serde_json::from_value(json).unwrap();
        assert!(r.gateway_memory.is_empty());
    }

    #[test]
    fn results_files_without_the_source_fields_still_load() {
        let mut json = serde_json::to_value(Results::default()).unwrap();
        json.as_object_mut().unwrap().remove("source");
        let r: Results = serde_json::from_value(json).unwrap();
        assert_eq!(r.source, None);
        let tree: SourceTree = serde_json::from_str(r#"{"commit": null, "clean": null}"#).unwrap();
        assert_eq!(tree, SourceTree::default());
    }
}
