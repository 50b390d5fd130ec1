#!/usr/bin/env bash
# Python end-to-end test: the official MCP Python SDK (locked with hashes in
# requirements.txt, compiled from requirements.in) against `mcpgate dev` and the
# seed example (`scalekit_server`), in its legacy, auto and 2026-07-28 modes,
# with a bearer token and through its own OAuth client.
#
#   bash e2e/python/run.sh [extra pytest args]
#
# Whenever requirements.txt changed since the last install (or the virtualenv
# <repo>/target/py-e2e-venv is missing), creates the virtualenv afresh and
# installs the lock with --require-hashes --no-deps --only-binary :all: (every
# file checked against its sha256, nothing installed that the lock does not
# name, nothing built from source), then `pip check` fails the run if the lock
# misses a dependency. Builds the binaries the tests start (see below) unless
# MCPGATE_BIN / SCALEKIT_SERVER_BIN / STEP_UP_BIN name them, and runs pytest on
# this directory. Exits non-zero when
# anything fails. PYTHON picks the interpreter (default python3; the lock is
# for Python 3.11 on Linux x86_64).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/target/py-e2e-venv"
python="${PYTHON:-python3}"

log() { printf '[py-e2e] %s\n' "$*" >&2; }

# `python3 -m venv` needs ensurepip, which Debian ships separately in
# python3-venv / python3.X-venv. Install it only when it is missing.
ensure_venv_support() {
  if "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    log "$python has no working venv/ensurepip and apt-get is unavailable: install python3-venv"
    return 1
  fi
  local ver
  ver="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  log "installing python3-venv (python$ver-venv) with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "python$ver-venv" >/dev/null 2>&1 || apt-get install -y -qq python3-venv >/dev/null
}

# (Re)create the virtualenv and install the lock whenever requirements.txt
# changed since the last successful install: a fresh virtualenv, so nothing an
# older, looser requirements file brought in survives.
stamp="$venv/.e2e-requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1 \
  || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  ensure_venv_support
  log "creating virtualenv $venv"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
  log "installing $here/requirements.txt (hash-checked, no unlisted dependencies)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    --require-hashes --no-deps --only-binary :all: -r "$here/requirements.txt"
  # --no-deps installs exactly the lock; pip check proves it is complete (every
  # requirement of every installed package, for this interpreter, is installed
  # at a version that satisfies it).
  if ! "$venv/bin/python" -m pip check --disable-pip-version-check; then
    log "requirements.txt is not a complete lock for $("$venv/bin/python" -V 2>&1): regenerate it from requirements.in"
    exit 1
  fi
  echo "$want" > "$stamp"
fi

# mcpgate (`mcpgate dev`), the seed example (`scalekit_server`) and the step-up
# example (`examples/step_up`), unless MCPGATE_BIN, SCALEKIT_SERVER_BIN and
# STEP_UP_BIN name binaries to use instead. Given only MCPGATE_BIN (as .ci/run
# does, after `cargo build --workspace --bins --examples`), the binaries next to
# it are used when they exist. Anything missing is built with that same command:
# the feature set of `cargo test --workspace`, so after the test suite's build it
# only links (`-p scalekit-server` alone would resolve other features and
# recompile much of the dependency tree).
target="${CARGO_TARGET_DIR:-$repo/target}/debug"
bin_dir="$target"
if [ -n "${MCPGATE_BIN:-}" ]; then bin_dir="$(dirname "$MCPGATE_BIN")"; fi
if [ -z "${SCALEKIT_SERVER_BIN:-}" ] && [ -x "$bin_dir/scalekit_server" ]; then
  export SCALEKIT_SERVER_BIN="$bin_dir/scalekit_server"
fi
if [ -z "${STEP_UP_BIN:-}" ] && [ -x "$bin_dir/examples/step_up" ]; then
  export STEP_UP_BIN="$bin_dir/examples/step_up"
fi
if [ -z "${MCPGATE_BIN:-}" ] || [ -z "${SCALEKIT_SERVER_BIN:-}" ] || [ -z "${STEP_UP_BIN:-}" ]; then
  log "building: cargo build --locked --workspace --bins --examples"
  (cd "$repo" && cargo build --locked -q --workspace --bins --examples)
  : "${MCPGATE_BIN:=$target/mcpgate}" "${SCALEKIT_SERVER_BIN:=$target/scalekit_server}" "${STEP_UP_BIN:=$target/examples/step_up}"
  export MCPGATE_BIN SCALEKIT_SERVER_BIN STEP_UP_BIN
fi

cd "$repo"
export PYTHONDONTWRITEBYTECODE=1
status=0
"$venv/bin/python" -m pytest -q e2e/python "$@" || status=$?
if [ "$status" -ne 0 ]; then
  log "pytest failed (exit $status)"
fi
exit "$status"
