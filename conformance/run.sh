#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance,
# pinned with Node 22 in package-lock.json) against the conformance-server
# fixture, which is written with mcpgate's public API.
#
# Fails on any failed or warning check and whenever the totals differ from
# expected.txt (scenarios run, passed checks per scenario and in all, failed and
# warning checks): check_totals.py counts every check from the suite's
# per-scenario checks.json files, because the suite's own summary line and exit
# code leave warnings out. CONFORMANCE_WRITE_EXPECTED=1 rewrites expected.txt
# from the run instead (after a deliberate change such as a new suite version).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

cd "$here"
if [ ! -x node_modules/.bin/conformance ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

cd "$root"
# Built with the feature set of `cargo test --workspace` (`--examples` turns the
# members' dev-dependencies on), so after the test suite's build this only links;
# `-p conformance-server` would resolve other features and recompile tokio, rmcp
# and what is built on them.
cargo build --locked --workspace --bins --examples
bin="${CARGO_TARGET_DIR:-$root/target}/debug/conformance-server"

# A free loopback port, chosen by the kernel.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
log="$root/target/conformance-server.log"
"$bin" --port "$port" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  if curl -s -o /dev/null "http://127.0.0.1:$port/mcp"; then break; fi
  sleep 0.1
done

cd "$here"
out="$root/target/conformance-output.txt"
results="$root/target/conformance-results"
rm -rf "$results"
set +e
npx conformance server --url "http://127.0.0.1:$port/mcp" --suite all --output-dir "$results" >"$out" 2>&1
status=$?
set -e
# The per-scenario summary, then the suite's own total line.
sed -n '/=== SUMMARY ===/,$p' "$out"
if [ "$status" -ne 0 ]; then
  echo "conformance suite failed (exit $status); full output in $out" >&2
  exit "$status"
fi
write=()
if [ -n "${CONFORMANCE_WRITE_EXPECTED:-}" ]; then write=(--write); fi
if ! python3 "$here/check_totals.py" "$here/expected.txt" "$results" "$out" ${write[@]+"${write[@]}"}; then
  echo "conformance totals differ from $here/expected.txt; per-scenario results in $results, output in $out" >&2
  exit 1
fi
