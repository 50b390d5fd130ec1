//! The chart: throughput, p50 and p99 latency versus concurrency, one line per
//! system, log scales — plain SVG, no plotting toolchain.

use std::fmt::Write as _;

use crate::results::Results;

const PANEL_W: f64 = 330.0;
const PANEL_H: f64 = 250.0;
const MARGIN_L: f64 = 62.0;
const MARGIN_T: f64 = 40.0;
const MARGIN_B: f64 = 42.0;
const GAP: f64 = 30.0;
const LEGEND_H: f64 = 24.0;

/// Colours per system id (stable across runs).
pub fn colour(system: &str) -> &'static str {
    match system {
        "mcpgate" => "#1f77b4",
        "mcpgate-noauth" => "#17becf",
        "fastmcp" => "#d62728",
        "fastmcp-2w" => "#ff9896",
        "floor" => "#7f7f7f",
        _ => "#2ca02c",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

struct Series {
    system: String,
    label: String,
    points: Vec<(usize, f64)>,
}

/// Log-scale bounds covering `values`, snapped to powers of ten.
fn decades(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| *v > 0.0 && v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (1.0, 10.0);
    }
    let lo = 10f64.powf(lo.log10().floor());
    let mut hi = 10f64.powf(hi.log10().ceil());
    if hi <= lo {
        hi = lo * 10.0;
    }
    (lo, hi)
}

fn tick_label(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{}k", v / 1e3)
    } else if v >= 1.0 {
        format!("{v}")
    } else {
        format!("{v:.2}")
    }
}

#[allow(clippy::too_many_arguments)]
fn panel(svg: &mut String, x0: f64, title: &str, unit: &str, series: &[Series], levels: &[usize]) {
    let plot_w = PANEL_W - MARGIN_L - 10.0;
    let plot_h = PANEL_H - MARGIN_T - MARGIN_B;
    let (lo, hi) = decades(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let y = |v: f64| {
        MARGIN_T + plot_h - (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10()) * plot_h
    };
    let x = |i: usize| x0 + MARGIN_L + (i as f64 + 0.5) * plot_w / levels.len() as f64;
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="22" font-size="14" font-weight="bold" text-anchor="middle">{}</text>"#,
        x0 + MARGIN_L + plot_w / 2.0,
        escape(title)
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{:.1}" y="{MARGIN_T}" width="{plot_w:.1}" height="{plot_h:.1}" fill="none" stroke="#999"/>"##,
        x0 + MARGIN_L
    );
    let mut d = lo;
    while d <= hi * 1.0001 {
        let yy = y(d);
        let _ = writeln!(
            svg,
            r##"<line x1="{:.1}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            x0 + MARGIN_L,
            x0 + MARGIN_L + plot_w,
            x0 + MARGIN_L - 5.0,
            yy + 4.0,
            tick_label(d)
        );
        d *= 10.0;
    }
    let _ = writeln!(
        svg,
        r#"<text transform="translate({:.1},{:.1}) rotate(-90)" font-size="11" text-anchor="middle">{}</text>"#,
        x0 + 14.0,
        MARGIN_T + plot_h / 2.0,
        escape(unit)
    );
    for (i, c) in levels.iter().enumerate() {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{c}</text>"#,
            x(i),
            MARGIN_T + plot_h + 16.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">connections (one session each)</text>"#,
        x0 + MARGIN_L + plot_w / 2.0,
        MARGIN_T + plot_h + 34.0
    );
    for s in series {
        let pts: Vec<String> = s
            .points
            .iter()
            .filter_map(|(c, v)| {
                let i = levels.iter().position(|l| l == c)?;
                (*v > 0.0).then(|| format!("{:.1},{:.1}", x(i), y(*v)))
            })
            .collect();
        let col = colour(&s.system);
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{col}" stroke-width="2"/>"#,
            pts.join(" ")
        );
        for p in &pts {
            let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(svg, r#"<circle cx="{px}" cy="{py}" r="3" fill="{col}"/>"#);
        }
    }
}

/// The SVG document for the per-connection-session runs of `results`.
pub fn chart(results: &Results) -> String {
    let mut levels: Vec<usize> = results.config.concurrency.clone();
    levels.sort_unstable();
    let series_of = |f: &dyn Fn(&crate::results::ThroughputRun) -> f64| -> Vec<Series> {
        results
            .systems
            .iter()
            // The gateways are reported in their own table, not charted.
            .filter(|s| !crate::system::is_gateway_id(&s.id))
            .map(|s| Series {
                system: s.id.clone(),
                label: s.label.clone(),
                points: results
                    .throughput
                    .iter()
                    .filter(|r| r.system == s.id && r.sessions == "per-connection")
                    .map(|r| (r.concurrency, f(r)))
                    .collect(),
            })
            .filter(|s| !s.points.is_empty())
            .collect()
    };
    let rps = series_of(&|r| r.rps);
    let p50 = series_of(&|r| r.latency.p50_us / 1000.0);
    let p99 = series_of(&|r| r.latency.p99_us / 1000.0);
    let width = 3.0 * PANEL_W + 2.0 * GAP;
    let height = PANEL_H + LEGEND_H * (rps.len() as f64 / 2.0).ceil() + 16.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    panel(
        &mut svg,
        0.0,
        "tools/call throughput",
        "correct results / s (log)",
        &rps,
        &levels,
    );
    panel(
        &mut svg,
        PANEL_W + GAP,
        "p50 latency",
        "ms (log)",
        &p50,
        &levels,
    );
    panel(
        &mut svg,
        2.0 * (PANEL_W + GAP),
        "p99 latency",
        "ms (log)",
        &p99,
        &levels,
    );
    for (i, s) in rps.iter().enumerate() {
        let lx = MARGIN_L + (i % 2) as f64 * (width / 2.0);
        let ly = PANEL_H + 8.0 + (i / 2) as f64 * LEGEND_H;
        let _ = writeln!(
            svg,
            r#"<rect x="{lx:.1}" y="{ly:.1}" width="14" height="14" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="12">{}</text>"#,
            colour(&s.system),
            lx + 20.0,
            ly + 12.0,
            escape(&s.label)
        );
    }
    let _ = writeln!(svg, "</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{SystemInfo, ThroughputRun};

    #[test]
    fn chart_is_well_formed() {
        let mut r = Results::default();
        r.config.concurrency = vec![1, 16, 64];
        r.systems.push(SystemInfo {
            id: "mcpgate".into(),
            label: "a <b>".into(),
            command: String::new(),
        });
        for (c, rps) in [(1, 900.0), (16, 9000.0), (64, 12000.0)] {
            let mut t = ThroughputRun {
                system: "mcpgate".into(),
                sessions: "per-connection".into(),
                concurrency: c,
                rps,
                ..ThroughputRun::default()
            };
            t.latency.p50_us = 100.0 * c as f64;
            t.latency.p99_us = 300.0 * c as f64;
            r.throughput.push(t);
        }
        let svg = chart(&r);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a &lt;b&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert_eq!(decades([3.0, 4500.0].into_iter()), (1.0, 10000.0));
    }
}
