"""End to end: `mcpgate dev` (the gateway) in front of a FastMCP 4.2.3 server, over stdio and HTTP.

The upstream is a real FastMCP program (FastMCP pinned with hashes in
bench/requirements.txt; its interpreter is FASTMCP_PYTHON, or bench/.venv's,
installed on first use by e2e/python/fastmcp-venv.sh as bench/run.sh does).
The official MCP Python SDK connects through the gateway with the token
`mcpgate dev` printed, in legacy (session) and 2026-07-28 (stateless) modes,
and lists and calls the upstream's tools: the gateway terminates MCP on both
sides, so the 2026-07-28 client reaches a session-era server. The upstream
runs as a stdio child (`mcpgate dev -- python server.py`) and as a FastMCP
Streamable HTTP server without auth (`mcpgate dev --upstream URL`). Without a
token the gateway answers 401 and nothing reaches the upstream. Loopback only.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import Implementation, TextContent

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "mcpgate"
VENV_SCRIPT = REPO_ROOT / "e2e" / "python" / "fastmcp-venv.sh"
START_TIMEOUT_S = 60.0
SCENARIO_TIMEOUT_S = 60.0

FASTMCP_SERVER = '''
import os
from fastmcp import FastMCP

mcp = FastMCP("fastmcp upstream")

@mcp.tool
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b

@mcp.tool
def pid() -> int:
    """The process id of this server."""
    return os.getpid()

if __name__ == "__main__":
    import sys
    if len(sys.argv) > 1:  # `server.py PORT`: Streamable HTTP without auth on 127.0.0.1
        mcp.run(transport="http", host="127.0.0.1", port=int(sys.argv[1]), show_banner=False)
    else:
        mcp.run(show_banner=False)
'''


def _fields(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key and not line.startswith(" "):
            out.setdefault(key, value)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"{what} did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S}s")


@pytest.fixture(scope="module", params=["stdio", "http"])
def gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """`mcpgate dev` in front of the FastMCP server, over stdio or over Streamable HTTP without auth."""
    binary = Path(os.environ.get("MCPGATE_BIN") or DEFAULT_BIN)
    if not binary.is_file():
        pytest.fail(f"{binary} does not exist: run `cargo build -p mcpgate-cli` first, or set MCPGATE_BIN")
    if os.environ.get("FASTMCP_PYTHON"):
        python = Path(os.environ["FASTMCP_PYTHON"])
    else:
        installed = subprocess.run(["bash", str(VENV_SCRIPT)], capture_output=True, text=True)
        if installed.returncode != 0:
            pytest.fail(f"{VENV_SCRIPT} failed ({installed.returncode}):\n{installed.stderr}")
        python = Path(installed.stdout.strip().splitlines()[-1])
    if not python.is_file():
        pytest.fail(f"{python} does not exist: set FASTMCP_PYTHON to a Python with FastMCP 4.2.3")
    workdir = tmp_path_factory.mktemp("mcpgate-proxy")
    server = workdir / "server.py"
    server.write_text(FASTMCP_SERVER)
    upstream_proc = None
    if request.param == "stdio":
        upstream_args = ["--", str(python), str(server)]
    else:
        port = _free_port()
        upstream_log = open(workdir / "upstream.log", "wb")
        upstream_proc = subprocess.Popen(
            [str(python), str(server), str(port)], cwd=workdir, stdin=subprocess.DEVNULL, stdout=upstream_log, stderr=upstream_log
        )
        _wait_listening(port, upstream_proc, "the FastMCP HTTP server")
        upstream_args = ["--upstream", f"http://127.0.0.1:{port}/mcp"]
    stdout_path, stderr_path = workdir / "stdout.log", workdir / "stderr.log"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            [str(binary), "dev", "--ephemeral", "--port", "0", "--auth-port", "0", *upstream_args],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env={**os.environ, "NO_COLOR": "1"},
        )

    def logs() -> str:
        return f"--- stdout ---\n{stdout_path.read_text(errors='replace')}\n--- stderr ---\n{stderr_path.read_text(errors='replace')}"

    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            fields = _fields(stdout_path.read_text(errors="replace"))
            if "Token" in fields:
                break
            if proc.poll() is not None:
                pytest.fail(f"mcpgate dev exited with {proc.returncode} before its banner\n{logs()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no banner within {START_TIMEOUT_S}s\n{logs()}")
            time.sleep(0.05)
        yield fields["MCP URL"], fields["Token"], logs
    finally:
        for p in (proc, upstream_proc):
            if p is None:
                continue
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _text(content) -> str:
    return "".join(c.text for c in content if isinstance(c, TextContent))


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_python_sdk_calls_a_fastmcp_server_through_the_gateway(gateway, mode: str) -> None:
    mcp_url, token, logs = gateway

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT_S):
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30.0) as http:
                async with Client(
                    streamable_http_client(mcp_url, http_client=http),
                    mode=mode,
                    client_info=Implementation(name="mcpgate-e2e-proxy", version="1"),
                    cache=None,
                ) as client:
                    tools = {t.name for t in (await client.list_tools()).tools}
                    assert {"add", "pid"} <= tools, sorted(tools)
                    result = await client.call_tool("add", {"a": 2, "b": 3})
                    assert not result.is_error, result
                    assert _text(result.content) == "5", result
                    result = await client.call_tool("pid", {})
                    assert not result.is_error, result
                    assert int(_text(result.content)) > 0

    try:
        anyio.run(scenario)
    except BaseException as exc:
        raise AssertionError(f"SDK through the gateway failed ({mode}): {exc!r}\n{logs()}") from exc


def test_without_a_token_the_gateway_answers_401(gateway) -> None:
    mcp_url, _, _ = gateway
    with httpx2.Client(timeout=30.0) as http:
        resp = http.post(
            mcp_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Accept": "application/json, text/event-stream"},
        )
    assert resp.status_code == 401, (resp.status_code, resp.text)
    assert resp.headers["www-authenticate"].startswith("Bearer "), dict(resp.headers)
