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
# misses a dependency. Builds target/debug/mcpgate and target/debug/scalekit_server
# (unless MCPGATE_BIN / SCALEKIT_SERVER_BIN name binaries to use instead) and
# runs pytest on this directory. Exits non-zero when
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

# mcpgate (`mcpgate dev`) and the seed example (`scalekit_server`), unless
# MCPGATE_BIN and SCALEKIT_SERVER_BIN name binaries to use instead. Given only
# MCPGATE_BIN (as .ci/run does, after `cargo build --workspace --bins`), the
# scalekit_server next to it is used when there is one: building it here with
# `-p scalekit-server` would resolve other features and recompile much of the
# workspace's dependencies.
if [ -n "${MCPGATE_BIN:-}" ] && [ -z "${SCALEKIT_SERVER_BIN:-}" ] \
  && [ -x "$(dirname "$MCPGATE_BIN")/scalekit_server" ]; then
  SCALEKIT_SERVER_BIN="$(dirname "$MCPGATE_BIN")/scalekit_server"
  export SCALEKIT_SERVER_BIN
fi
packages=()
if [ -z "${MCPGATE_BIN:-}" ]; then packages+=(-p mcpgate-cli); fi
if [ -z "${SCALEKIT_SERVER_BIN:-}" ]; then packages+=(-p scalekit-server); fi
if [ ${#packages[@]} -gt 0 ]; then
  log "building: cargo build --locked ${packages[*]}"
  (cd "$repo" && cargo build --locked -q "${packages[@]}")
fi

cd "$repo"
export PYTHONDONTWRITEBYTECODE=1
status=0
"$venv/bin/python" -m pytest -q e2e/python "$@" || status=$?
if [ "$status" -ne 0 ]; then
  log "pytest failed (exit $status)"
fi
exit "$status"
