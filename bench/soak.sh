#!/usr/bin/env bash
# mcpgate's soak run (issue 13): a script, not a CI test.
#
#   bash bench/soak.sh                      10 minutes at 64 connections
#   bash bench/soak.sh --duration 60 --connections 8    a short run while developing
#
# Builds release, then `mcpgate-bench soak`: bench-as and `bench-server --system
# mcpgate` (auth on, verified-token cache on), N connections of authenticated
# `tools/call` for the whole run, a key rotation every tenth of it, two JWKS
# outages (at 1/3 and 2/3, a twentieth long each), and every 5 s the server's RSS,
# correct results, errors and p50/p99. Writes bench/results/soak-<date>.json and
# regenerates only the `## Reliability (soak)` section of BENCHMARKS.md (from the
# newest soak results file); exits non-zero if any request with a valid token
# failed. Extra flags go to the driver (--out-dir DIR, --md PATH).
# Only loopback addresses are used; every request is bounded by a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=600
connections=64
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration=${2:?--duration needs seconds}; shift 2 ;;
        --duration=*) duration=${1#*=}; shift ;;
        --connections) connections=${2:?--connections needs a number}; shift 2 ;;
        --connections=*) connections=${1#*=}; shift ;;
        *) extra+=("$1"); shift ;;
    esac
done
started=$(date +%s)

echo "== building mcpgate-bench (release)" >&2
cargo build --locked --release -p mcpgate-bench --bins
bin_dir="${CARGO_TARGET_DIR:-target}/release"
for bin in mcpgate-bench bench-server bench-as; do
    [ -x "$bin_dir/$bin" ] || { echo "bench/soak.sh: $bin_dir/$bin was not built" >&2; exit 1; }
done

echo "== soak: $duration s, $connections connections (1-minute load average now $(cut -d' ' -f1 /proc/loadavg))" >&2
status=0
"$bin_dir/mcpgate-bench" soak --duration "$duration" --connections "$connections" \
    ${extra[@]+"${extra[@]}"} || status=$?
echo "== bench/soak.sh: $(( $(date +%s) - started )) s, exit $status" >&2
exit "$status"
