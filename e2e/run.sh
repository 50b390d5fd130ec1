#!/usr/bin/env bash
# End-to-end tests of `mcpgate dev` with clients written elsewhere: the official
# MCP TypeScript SDK and Debian's Chromium (via playwright-core).
#
# Installs what is missing (npm packages from e2e/package-lock.json; Chromium
# from Debian's archive when running as root), builds the mcpgate binary, runs
# `node --test` on e2e/tests/ and exits non-zero if anything fails.
#
# Environment: MCPGATE_BIN runs the tests against another binary (and skips the
# cargo build); CHROMIUM_PATH points at another Chromium (default /usr/bin/chromium).
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$E2E_DIR/.." && pwd)"
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
started=$SECONDS

say() { printf '==> %s\n' "$*"; }
die() { printf 'e2e/run.sh: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly, through password-less sudo, or not at all.
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo "$@"
  else
    return 99
  fi
}

# Node.js 20 or newer (playwright-core needs it; `node --test` is the runner).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  die "Node.js >= 20 with npm is required (node and npm must be on PATH)"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
(( node_major >= 20 )) || die "Node.js >= 20 is required, found $(node --version)"

# npm packages, exactly as locked.
if [[ ! -f "$E2E_DIR/node_modules/.package-lock.json" ||
      "$E2E_DIR/package-lock.json" -nt "$E2E_DIR/node_modules/.package-lock.json" ]]; then
  say "npm ci (e2e/)"
  (cd "$E2E_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi

# Chromium from Debian: never a browser download through playwright.
if [[ ! -x "$CHROMIUM" ]]; then
  if [[ "$CHROMIUM" != /usr/bin/chromium ]]; then
    die "CHROMIUM_PATH=$CHROMIUM is not an executable"
  fi
  if [[ $(id -u) -ne 0 ]] && ! { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; then
    die "$CHROMIUM is missing; as root run: apt-get update && apt-get install -y chromium"
  fi
  say "installing Debian's chromium"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
  [[ -x "$CHROMIUM" ]] || die "apt-get installed chromium but $CHROMIUM is still missing"
fi

# The binary under test.
if [[ -z "${MCPGATE_BIN:-}" ]]; then
  command -v cargo >/dev/null 2>&1 || die "cargo is required to build mcpgate (or set MCPGATE_BIN)"
  # The workspace's binaries with the feature set of `cargo test --workspace`
  # (`--examples` turns the members' dev-dependencies on): after the test suite's
  # build this only links. `cargo build -p mcpgate-cli` would resolve other
  # features and recompile tokio, rmcp and what is built on them (~50 s here).
  say "cargo build --locked --workspace --bins --examples"
  (cd "$REPO_ROOT" && cargo build --locked --workspace --bins --examples)
else
  [[ -x "$MCPGATE_BIN" ]] || die "MCPGATE_BIN=$MCPGATE_BIN is not an executable"
fi

say "node --test e2e/tests/"
cd "$REPO_ROOT"
status=0
# Files are named explicitly: Node 20 takes directories, newer Node takes globs.
node --test e2e/tests/*.test.mjs || status=$?
say "e2e finished in $((SECONDS - started)) s (exit $status); consent screenshot: target/e2e-artifacts/consent.png"
exit "$status"
