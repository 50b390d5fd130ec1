"""End to end: on-behalf-of tokens (RFC 8693) from the gateway to a FastMCP 4.2.3 server with its own OAuth.

The upstream is a real FastMCP program (pinned with hashes in
bench/requirements.txt, installed by e2e/python/fastmcp-venv.sh) protected by
FastMCP's own `ScalekitProvider`, pointed at `mcpgate dev`'s authorization
server, whose audience is the upstream's resource id (`res_upstream`), not
the gateway's. `mcpgate dev --upstream URL --on-behalf-of res_upstream` puts
the gateway in front of it: the gateway registers itself for token exchange
and sends each caller's token exchanged for one with that audience.

Proved here: the official MCP Python SDK calls a tool through the gateway and
the upstream sees the exchanged token (audience `res_upstream`, the user as
`sub`, the gateway as `act`); the upstream refuses the caller's own token
(401); the exchange is cached (one exchange, counted in the authorization
server's log, for several calls); an expired caller token is not sent for
exchange (no token request reaches the authorization server). Loopback only.
"""

from __future__ import annotations

import base64
import json
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
UPSTREAM_RESOURCE_ID = "res_upstream"

# FastMCP with its own Scalekit auth: argv = port, environment URL, resource id.
FASTMCP_SERVER = '''
import json
import sys
from fastmcp import FastMCP
from fastmcp.server.auth.providers.scalekit import ScalekitProvider
from fastmcp.server.dependencies import get_access_token

port, environment_url, resource_id = int(sys.argv[1]), sys.argv[2], sys.argv[3]
auth = ScalekitProvider(
    environment_url=environment_url,
    resource_id=resource_id,
    base_url=f"http://127.0.0.1:{port}",
)
mcp = FastMCP("fastmcp upstream with its own OAuth", auth=auth)

@mcp.tool
def whoami() -> str:
    """The claims of the token this server was called with."""
    token = get_access_token()
    claims = token.claims if token else {}
    return json.dumps({"sub": claims.get("sub"), "aud": claims.get("aud"), "act": claims.get("act")})

if __name__ == "__main__":
    mcp.run(transport="http", host="127.0.0.1", port=port, show_banner=False)
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


def _fastmcp_python() -> Path:
    if os.environ.get("FASTMCP_PYTHON"):
        python = Path(os.environ["FASTMCP_PYTHON"])
    else:
        installed = subprocess.run(["bash", str(VENV_SCRIPT)], capture_output=True, text=True)
        if installed.returncode != 0:
            pytest.fail(f"{VENV_SCRIPT} failed ({installed.returncode}):\n{installed.stderr}")
        python = Path(installed.stdout.strip().splitlines()[-1])
    if not python.is_file():
        pytest.fail(f"{python} does not exist: set FASTMCP_PYTHON to a Python with FastMCP 4.2.3")
    return python


class Stack:
    """`mcpgate dev` (authorization server + gateway) in front of the FastMCP server."""

    def __init__(self, binary: Path, workdir: Path, port: int, auth_port: int, upstream_url: str, token: str, stderr: Path):
        self.binary = binary
        self.workdir = workdir
        self.port = port
        self.auth_port = auth_port
        self.upstream_url = upstream_url
        self.token = token
        self.stderr = stderr
        self.mcp_url = f"http://127.0.0.1:{port}/mcp"

    def log(self) -> str:
        return self.stderr.read_text(errors="replace")

    def token_requests(self) -> int:
        """Token requests at the authorization server that were exchanges or refusals (from its log)."""
        log = self.log()
        return log.count("token exchanged") + log.count("token request refused")

    def mint(self, lifetime: int) -> str:
        out = subprocess.run(
            [
                str(self.binary), "dev", "token", "--data-dir", str(self.workdir / "state"),
                "--port", str(self.port), "--auth-port", str(self.auth_port), "--lifetime", str(lifetime),
            ],
            capture_output=True, text=True, timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    binary = Path(os.environ.get("MCPGATE_BIN") or DEFAULT_BIN)
    if not binary.is_file():
        pytest.fail(f"{binary} does not exist: run `cargo build -p mcpgate-cli` first, or set MCPGATE_BIN")
    python = _fastmcp_python()
    workdir = tmp_path_factory.mktemp("mcpgate-obo")
    server = workdir / "server.py"
    server.write_text(FASTMCP_SERVER)
    port, auth_port, upstream_port = _free_port(), _free_port(), _free_port()
    env_url = f"http://127.0.0.1:{auth_port}"
    upstream_url = f"http://127.0.0.1:{upstream_port}/mcp"
    upstream_log = open(workdir / "upstream.log", "wb")
    upstream = subprocess.Popen(
        [str(python), str(server), str(upstream_port), env_url, UPSTREAM_RESOURCE_ID],
        cwd=workdir, stdin=subprocess.DEVNULL, stdout=upstream_log, stderr=upstream_log,
    )
    procs = [upstream]
    try:
        _wait_listening(upstream_port, upstream, "the FastMCP server")
        stdout_path, stderr_path = workdir / "stdout.log", workdir / "stderr.log"
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            gateway = subprocess.Popen(
                [
                    str(binary), "dev", "--data-dir", str(workdir / "state"),
                    "--port", str(port), "--auth-port", str(auth_port),
                    # FastMCP's provider accepts the environment URL as issuer.
                    "--issuer-form", "env",
                    "--upstream", upstream_url, "--on-behalf-of", UPSTREAM_RESOURCE_ID,
                ],
                cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                env={**os.environ, "NO_COLOR": "1", "RUST_LOG": "warn,mcpgate_dev_as=debug,mcpgate_gateway=info"},
            )
        procs.append(gateway)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            fields = _fields(stdout_path.read_text(errors="replace"))
            if "Token" in fields:
                break
            if gateway.poll() is not None:
                pytest.fail(f"mcpgate dev exited with {gateway.returncode}\n{stderr_path.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                pytest.fail(f"no banner within {START_TIMEOUT_S}s\n{stderr_path.read_text(errors='replace')}")
            time.sleep(0.05)
        assert fields["MCP URL"] == f"http://127.0.0.1:{port}/mcp", fields
        yield Stack(binary, workdir, port, auth_port, upstream_url, fields["Token"], stderr_path)
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _text(content) -> str:
    return "".join(c.text for c in content if isinstance(c, TextContent))


async def _call_whoami(mcp_url: str, token: str, times: int = 1) -> list:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30.0) as http:
        async with Client(
            streamable_http_client(mcp_url, http_client=http),
            mode="legacy",
            client_info=Implementation(name="mcpgate-e2e-obo", version="1"),
            cache=None,
        ) as client:
            results = []
            for _ in range(times):
                results.append(await client.call_tool("whoami", {}))
            return results


def test_the_upstream_accepts_the_exchanged_token_and_the_exchange_is_cached(stack: Stack) -> None:
    before = stack.token_requests()

    async def scenario() -> list:
        with anyio.fail_after(SCENARIO_TIMEOUT_S):
            return await _call_whoami(stack.mcp_url, stack.token, times=3)

    results = anyio.run(scenario)
    for result in results:
        assert not result.is_error, f"{result}\n{stack.log()}"
    claims = json.loads(_text(results[0].content))
    assert claims["aud"] in (UPSTREAM_RESOURCE_ID, [UPSTREAM_RESOURCE_ID]), claims
    caller = json.loads(base64.urlsafe_b64decode(stack.token.split(".")[1] + "=="))
    assert claims["sub"] == caller["sub"], claims
    assert claims["act"]["sub"].startswith("m2m_"), claims
    # Three calls, one exchange: the token is cached per principal.
    assert stack.token_requests() - before == 1, stack.log()


def test_the_upstream_refuses_the_callers_own_token(stack: Stack) -> None:
    with httpx2.Client(timeout=30.0) as http:
        resp = http.post(
            stack.upstream_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"}}},
            headers={"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {stack.token}"},
        )
    assert resp.status_code == 401, (resp.status_code, resp.text)


def test_an_expired_caller_token_is_not_exchanged(stack: Stack) -> None:
    expired = stack.mint(lifetime=1)
    exp = json.loads(base64.urlsafe_b64decode(expired.split(".")[1] + "=="))["exp"]
    while time.time() <= exp + 1:  # wait for expiry; not a timing assertion
        time.sleep(0.2)
    before = stack.token_requests()

    async def scenario() -> str:
        with anyio.fail_after(SCENARIO_TIMEOUT_S):
            try:
                results = await _call_whoami(stack.mcp_url, expired)
            except Exception as exc:  # noqa: BLE001 — the refusal is the expected outcome
                return repr(exc)
            return f"unexpected success: {results}"

    # Within the verifier's clock-skew leeway the gateway still accepts the
    # caller and refuses the call itself ("the caller's token has expired;
    # it is not exchanged"); beyond it the caller gets 401. Either way the
    # upstream gets nothing and no exchange is attempted.
    outcome = anyio.run(scenario)
    assert "it is not exchanged" in outcome or "401" in outcome, outcome
    assert stack.token_requests() == before, f"{outcome}\n{stack.log()}"
