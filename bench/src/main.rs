//! `mcpgate-bench`: the benchmark driver (see the crate docs of `mcpgate_bench`).
//!
//! ```text
//! mcpgate-bench run [--smoke] [--only mcpgate,fastmcp] [--duration S] [--warmup S]
//! mcpgate-bench report --json bench/results/DATE.json [--md BENCHMARKS.md]
//! mcpgate-bench soak [--duration S] [--connections N] [--out-dir DIR] [--md PATH]
//! mcpgate-bench soak-report [--json bench/results/soak-DATE.json] [--md BENCHMARKS.md]
//! ```
//! Usually started by `bash bench/run.sh`, which builds, prepares FastMCP's
//! virtualenv and runs the Criterion bench first; the soak by `bash bench/soak.sh`
//! (see `mcpgate_bench::soak`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use mcpgate_bench::args::Flags;
use mcpgate_bench::driver::{self, Options};
use mcpgate_bench::results::Results;
use mcpgate_bench::soak::{self, SoakOptions};
use mcpgate_bench::{report, svg};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// A path relative to `base` when it lies below it (for links in Markdown).
fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Writes the SVG next to the JSON and the Markdown at `md`.
fn write_outputs(results: &Results, json: &Path, md: &Path, root: &Path) -> anyhow::Result<()> {
    let svg_path = json.with_extension("svg");
    std::fs::write(&svg_path, svg::chart(results))
        .with_context(|| format!("writing {}", svg_path.display()))?;
    let md_dir = md.parent().unwrap_or(Path::new("."));
    let analysis = std::fs::read_to_string(root.join("bench/analysis.md")).ok();
    let text = report::markdown(
        results,
        &relative(&svg_path, md_dir),
        &relative(json, md_dir),
        analysis.as_deref(),
    );
    // The soak section is written by `soak`, not by this report: keep it.
    let old = std::fs::read_to_string(md).ok();
    let text = soak::keep_section(old.as_deref(), text);
    std::fs::write(md, text).with_context(|| format!("writing {}", md.display()))?;
    eprintln!(
        "wrote {} and {} (from {})",
        svg_path.display(),
        md.display(),
        json.display()
    );
    Ok(())
}

async fn run(flags: &Flags) -> anyhow::Result<bool> {
    let root = flags
        .get("repo-root")
        .map(PathBuf::from)
        .unwrap_or_else(repo_root);
    let target = target_dir(&root);
    let mut opts = Options::new(root.clone(), target, flags.has("smoke"));
    if let Some(only) = flags.get("only") {
        opts.only = only.split(',').map(str::to_owned).collect();
    }
    if let Some(d) = flags.get("duration") {
        opts.duration = Duration::from_secs_f64(d.parse().context("--duration")?);
    }
    if let Some(w) = flags.get("warmup") {
        opts.warmup = Duration::from_secs_f64(w.parse().context("--warmup")?);
    }
    if let Some(v) = flags.get("venv") {
        opts.venv = PathBuf::from(v);
    }
    if let Some(d) = flags.get("out-dir") {
        opts.out_dir = PathBuf::from(d);
    }
    if let Some(m) = flags.get("md") {
        opts.markdown = PathBuf::from(m);
    }
    std::fs::create_dir_all(&opts.out_dir)?;
    let results = driver::run(&opts).await?;
    let json = opts.out_dir.join(format!("{}.json", results.date));
    std::fs::write(&json, serde_json::to_string_pretty(&results)? + "\n")?;
    write_outputs(&results, &json, &opts.markdown, &root)?;
    let problems = driver::problems(&results);
    for p in &problems {
        eprintln!("PROBLEM: {p}");
    }
    eprintln!(
        "{} run finished in {:.0} s; load average {:.2} at start, {:.2} at end",
        results.mode, results.wall_seconds, results.load.at_start[0], results.load.at_end[0]
    );
    Ok(problems.is_empty())
}

fn report_only(flags: &Flags) -> anyhow::Result<()> {
    let root = flags
        .get("repo-root")
        .map(PathBuf::from)
        .unwrap_or_else(repo_root);
    let json = PathBuf::from(flags.require("json").map_err(anyhow::Error::msg)?);
    let results: Results = serde_json::from_str(&std::fs::read_to_string(&json)?)?;
    let md = flags
        .get("md")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("BENCHMARKS.md"));
    write_outputs(&results, &json, &md, &root)
}

/// `soak`: the soak run, its results file and the soak section of the Markdown.
async fn soak_run(flags: &Flags) -> anyhow::Result<bool> {
    let root = flags
        .get("repo-root")
        .map(PathBuf::from)
        .unwrap_or_else(repo_root);
    let target = target_dir(&root);
    let opts = SoakOptions {
        bin_dir: std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| target.join("release")),
        out_dir: flags
            .get("out-dir")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("bench/results")),
        markdown: flags
            .get("md")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("BENCHMARKS.md")),
        log_dir: target.join("soak-logs"),
        duration: match flags.get("duration") {
            Some(d) => Duration::from_secs_f64(d.parse().context("--duration")?),
            None => soak::DEFAULT_DURATION,
        },
        connections: flags
            .parse_or("connections", soak::DEFAULT_CONNECTIONS)
            .map_err(anyhow::Error::msg)?,
        repo_root: root,
    };
    std::fs::create_dir_all(&opts.out_dir)?;
    let results = soak::run(&opts).await?;
    let json = opts.out_dir.join(format!("soak-{}.json", results.date));
    std::fs::write(&json, serde_json::to_string_pretty(&results)? + "\n")
        .with_context(|| format!("writing {}", json.display()))?;
    eprintln!("wrote {}", json.display());
    let newest = soak::newest_results(&opts.out_dir).unwrap_or(json);
    soak::write_section(&newest, &opts.markdown)?;
    soak::print_summary(&results);
    Ok(results.passed())
}

/// `soak-report`: regenerates the soak section from a soak results file.
fn soak_report(flags: &Flags) -> anyhow::Result<()> {
    let root = flags
        .get("repo-root")
        .map(PathBuf::from)
        .unwrap_or_else(repo_root);
    let json = match flags.get("json") {
        Some(j) => PathBuf::from(j),
        None => soak::newest_results(&root.join("bench/results"))
            .context("no bench/results/soak-*.json; run bash bench/soak.sh")?,
    };
    let md = flags
        .get("md")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("BENCHMARKS.md"));
    soak::write_section(&json, &md)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let flags = match Flags::parse(args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match command.as_str() {
        "run" => run(&flags).await,
        "report" => report_only(&flags).map(|()| true),
        "soak" => soak_run(&flags).await,
        "soak-report" => soak_report(&flags).map(|()| true),
        _ => {
            eprintln!(
                "usage: mcpgate-bench run [--smoke] [--only IDS] | report --json PATH [--md PATH]\n       \
                 | soak [--duration S] [--connections N] [--out-dir DIR] [--md PATH] | soak-report [--json PATH] [--md PATH]"
            );
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
