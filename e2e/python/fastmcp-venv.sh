#!/usr/bin/env bash
# The FastMCP 4.2.3 virtualenv the proxy end-to-end test (test_proxy.py) runs
# its upstream server with: bench/.venv, installed from bench/requirements.txt
# (the benchmark's hash-pinned lock, --require-hashes) exactly as bench/run.sh
# installs it, with the same stamp, so the two share one virtualenv. Prints the
# interpreter's path.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
venv=bench/.venv
stamp="$venv/.requirements.sha256"
want=$(sha256sum bench/requirements.txt | cut -d' ' -f1)
if [ ! -x "$venv/bin/uvicorn" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "FastMCP 4 needs Python >= 3.10")'
    echo "fastmcp-venv.sh: installing bench/requirements.txt into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r bench/requirements.txt
    echo "$want" > "$stamp"
fi
echo "$repo/$venv/bin/python"
