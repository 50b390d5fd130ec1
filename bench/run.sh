#!/usr/bin/env bash
# mcpgate's benchmark harness: the one entry point.
#
#   bash bench/run.sh            full run (~10 min): bench/results/<date>.json + .svg, BENCHMARKS.md
#   bash bench/run.sh --smoke    a few seconds per system, from debug builds (the artifacts
#                                `cargo test --workspace` already has); output under
#                                target/bench-smoke/; exits non-zero if any system produced
#                                no correct result. Proves the harness works, measures nothing.
#
# Extra flags go to the driver (e.g. --only mcpgate,fastmcp, --duration 5).
# BENCH_MAX_LOAD (default 1.0): a full run first waits, at most BENCH_WAIT seconds
# (default 300), for the 1-minute load average to drop below it; --no-wait skips that.
# Only loopback addresses are used; every request is bounded by a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
wait_quiet=1
driver_args=()
for arg in "$@"; do
    case "$arg" in
        --smoke) mode=smoke ;;
        --no-wait) wait_quiet=0 ;;
        *) driver_args+=("$arg") ;;
    esac
done
started=$(date +%s)

target_dir=${CARGO_TARGET_DIR:-target}
if [ "$mode" = smoke ]; then
    # Debug build with exactly the feature set of `cargo test --workspace`
    # (`--workspace` plus a bench target turns the members' dev-dependencies on),
    # so after the test suite's build this compiles only the four targets below
    # and links; `-p mcpgate-bench` would resolve other features and rebuild
    # tokio, rmcp and everything over them. Cargo builds a package's binaries
    # (mcpgate-bench, bench-server, bench-as) for its benches, and `cargo test`
    # runs a Criterion bench in test mode: each benchmark function once.
    echo "== building mcpgate-bench (debug) and running each Criterion benchmark once (benches/verify.rs, benches/policy.rs)" >&2
    cargo test --locked --workspace --bench verify --bench policy
    # The gateway systems run `mcpgate proxy`: the workspace's debug binaries
    # with the same feature set (CI's build stage; nothing to do after it).
    echo "== building the workspace's binaries (debug) for the gateway systems" >&2
    cargo build --locked --workspace --bins --examples
    bin_dir="$target_dir/debug"
else
    echo "== building mcpgate-bench and mcpgate (release)" >&2
    cargo build --locked --release -p mcpgate-bench --bins
    # The gateway systems (`mcpgate proxy`); a separate build so that each
    # package keeps the feature set of its own release build.
    cargo build --locked --release -p mcpgate-cli --bin mcpgate
    cargo bench --locked -p mcpgate-bench --bench verify --bench policy --no-run
    bin_dir="$target_dir/release"
fi
for bin in mcpgate-bench bench-server bench-as mcpgate; do
    [ -x "$bin_dir/$bin" ] || { echo "bench/run.sh: $bin_dir/$bin was not built" >&2; exit 1; }
done

echo "== FastMCP virtualenv (bench/.venv, from bench/requirements.txt)" >&2
venv=bench/.venv
stamp="$venv/.requirements.sha256"
want=$(sha256sum bench/requirements.txt | cut -d' ' -f1)
if [ ! -x "$venv/bin/uvicorn" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "FastMCP 4 needs Python >= 3.10")'
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r bench/requirements.txt
    echo "$want" > "$stamp"
fi

if [ "$mode" = full ] && [ "$wait_quiet" = 1 ]; then
    max_load=${BENCH_MAX_LOAD:-1.0}
    deadline=$(( $(date +%s) + ${BENCH_WAIT:-300} ))
    while true; do
        load=$(cut -d' ' -f1 /proc/loadavg)
        if awk -v l="$load" -v m="$max_load" 'BEGIN { exit !(l < m) }'; then
            echo "== load average $load < $max_load: measuring" >&2
            break
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "== load average still $load after waiting; measuring anyway (recorded in the results)" >&2
            break
        fi
        echo "== load average $load >= $max_load; waiting for the machine to quieten" >&2
        sleep 15
    done
fi

args=(run)
if [ "$mode" = smoke ]; then
    args+=(--smoke)
else
    echo "== Criterion: token verification (benches/verify.rs)" >&2
    cargo bench --locked -p mcpgate-bench --bench verify -- --warm-up-time 2 --measurement-time 6
    echo "== Criterion: per-tool policy decision (benches/policy.rs)" >&2
    cargo bench --locked -p mcpgate-bench --bench policy -- --warm-up-time 1 --measurement-time 3
fi

status=0
"$bin_dir/mcpgate-bench" "${args[@]}" ${driver_args[@]+"${driver_args[@]}"} || status=$?
echo "== bench/run.sh $mode: $(( $(date +%s) - started )) s, exit $status" >&2
exit "$status"
