#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance,
# pinned with Node 22 in package-lock.json) against the conformance-server
# fixture, which is written with mcpgate's public API. Fails on any failed check.
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
set +e
npx conformance server --url "http://127.0.0.1:$port/mcp" --suite all >"$out" 2>&1
status=$?
set -e
# The per-scenario summary, then the suite's own total line.
sed -n '/=== SUMMARY ===/,$p' "$out"
if [ "$status" -ne 0 ]; then
  echo "conformance suite failed (exit $status); full output in $out" >&2
  exit "$status"
fi
