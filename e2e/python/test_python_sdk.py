"""End to end: the official MCP Python SDK against `mcpgate dev`.

A client nobody here wrote (`mcp` from PyPI, pinned in requirements.txt)
connects over Streamable HTTP with a bearer token to the protected example
server (crates/mcpgate-cli/src/demo.rs), lists and calls its tools, reads its
resource and gets its prompt. Without a valid token the same client must be
turned away with HTTP 401 and a `WWW-Authenticate: Bearer resource_metadata=…`
challenge.

The server is `mcpgate dev --ephemeral --port 0 --auth-port 0`, started once
for this module from MCPGATE_BIN (default: <repo>/target/debug/mcpgate). Every
address involved is on 127.0.0.1. Run the whole thing with e2e/python/run.sh.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.types import INTERNAL_ERROR, Implementation, TextContent
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_MODERN_VERSION

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "mcpgate"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
SCENARIO_TIMEOUT_S = 60.0

SERVER_NAME = "My Scalekit Protected Server"
EXPECTED_TOOLS = {"auth_status", "protected_action", "inspect_token"}
# The three ways the SDK can open a connection: "legacy" is the `initialize`
# handshake; "auto" (the SDK's default) first probes `server/discover` of the
# 2026 protocol and falls back to `initialize` when the server is older;
# "2026-07-28" adopts that revision without a probe.
# mcpgate serves 2026-07-28, so "auto" must end up there: stateless, every
# request authenticated on its own, no session.
MODES = ["legacy", "auto", "2026-07-28"]
EXPECTED_VERSION = {
    "legacy": HANDSHAKE_PROTOCOL_VERSIONS[-1],
    "auto": LATEST_MODERN_VERSION,
    "2026-07-28": LATEST_MODERN_VERSION,
}


# --------------------------------------------------------------------------
# The dev server
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class DevServer:
    mcp_url: str
    env_url: str
    resource_id: str
    token: str
    fields: dict[str, str]
    stdout_path: Path
    stderr_path: Path

    def logs(self) -> str:
        """The server's output so far, for assertion messages."""
        return _read_logs(self.stdout_path, self.stderr_path)


def _read_logs(stdout_path: Path, stderr_path: Path) -> str:
    out = stdout_path.read_text(errors="replace") if stdout_path.exists() else ""
    err = stderr_path.read_text(errors="replace") if stderr_path.exists() else ""
    return f"--- mcpgate dev stdout ---\n{out}\n--- mcpgate dev stderr ---\n{err}"


def _printed_fields(text: str) -> dict[str, str]:
    """`Name: value` lines of the banner, e.g. {"MCP URL": "http://…", "Token": "eyJ…"}."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z][A-Za-z ]*): (\S.*)$", line)
        if m:
            found.setdefault(m.group(1), m.group(2).strip())
    return found


def _stop(proc: subprocess.Popen[bytes]) -> str | None:
    """SIGINT, then SIGKILL after STOP_TIMEOUT_S. Returns a complaint if SIGINT was not enough."""
    if proc.poll() is not None:
        return None
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
        return None
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return f"mcpgate dev did not exit within {STOP_TIMEOUT_S}s of SIGINT and was killed"


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory):
    binary = Path(os.environ.get("MCPGATE_BIN") or DEFAULT_BIN)
    if not binary.is_file():
        pytest.fail(f"{binary} does not exist: run `cargo build -p mcpgate-cli` first, or set MCPGATE_BIN")

    logdir = tmp_path_factory.mktemp("mcpgate-dev")
    stdout_path, stderr_path = logdir / "stdout.log", logdir / "stderr.log"
    # Output goes to files, not pipes, so that a chatty server can never block
    # on a full pipe while the tests run.
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            [str(binary), "dev", "--ephemeral", "--port", "0", "--auth-port", "0"],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env={**os.environ, "NO_COLOR": "1"},
        )
    complaint = None
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            fields = _printed_fields(stdout_path.read_text(errors="replace"))
            if "Token" in fields:
                break
            if proc.poll() is not None:
                pytest.fail(
                    f"mcpgate dev exited with {proc.returncode} before printing its Token line\n"
                    + _read_logs(stdout_path, stderr_path)
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"mcpgate dev printed no Token line within {START_TIMEOUT_S}s\n"
                    + _read_logs(stdout_path, stderr_path)
                )
            time.sleep(0.05)

        for name in ("MCP URL", "Environment URL", "Resource ID", "Token"):
            assert name in fields, f"no `{name}:` line\n" + _read_logs(stdout_path, stderr_path)
        server = DevServer(
            mcp_url=fields["MCP URL"],
            env_url=fields["Environment URL"],
            resource_id=fields["Resource ID"],
            token=fields["Token"],
            fields=fields,
            stdout_path=stdout_path,
            stderr_path=stderr_path,
        )
        for url in (server.mcp_url, server.env_url):
            assert urlsplit(url).hostname == "127.0.0.1", f"not a loopback URL: {url}"
        assert server.resource_id.startswith("res_"), server.resource_id
        yield server
    finally:
        complaint = _stop(proc)
    if complaint:
        pytest.fail(complaint + "\n" + _read_logs(stdout_path, stderr_path))


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, unverified (the server verifies it; here it is only read)."""
    parts = token.split(".")
    assert len(parts) == 3, f"not a compact JWT: {token[:40]}…"
    return json.loads(_b64url_decode(parts[1]))


def tampered(token: str) -> str:
    """The same JWT with one bit of its signature flipped: well formed, but no longer valid."""
    header, payload, sig = token.split(".")
    raw = bytearray(_b64url_decode(sig))
    raw[len(raw) // 2] ^= 0x01
    return ".".join([header, payload, base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()])


def challenge_params(header: str) -> dict[str, str]:
    """auth-params of a `Bearer k="v", …` challenge."""
    assert re.match(r"^\s*Bearer\b", header, re.IGNORECASE), f"not a Bearer challenge: {header!r}"
    return {k.lower(): v for k, v in re.findall(r'([A-Za-z_]+)="([^"]*)"', header)}


def prm_url(mcp_url: str) -> str:
    """RFC 9728 protected-resource metadata URL for a resource with a path."""
    u = urlsplit(mcp_url)
    return f"{u.scheme}://{u.netloc}/.well-known/oauth-protected-resource{u.path}"


def leaf_exceptions(exc: BaseException) -> list[BaseException]:
    """The non-group exceptions inside (possibly nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaf_exceptions(sub)]
    return [exc]


def text_of(content: list[Any]) -> str:
    texts = [c.text for c in content if isinstance(c, TextContent)]
    assert texts, f"no text content in {content!r}"
    return "\n".join(texts)


@dataclass
class Exchange:
    method: str
    url: str
    authorization: str | None
    session_id: str | None
    status: int | None = None
    www_authenticate: str | None = None


@dataclass
class HttpRecorder:
    """Sees every request the SDK sends through our httpx2 client, and its response's status."""

    exchanges: list[Exchange] = field(default_factory=list)

    async def on_request(self, request: httpx2.Request) -> None:
        self.exchanges.append(
            Exchange(
                request.method,
                str(request.url),
                request.headers.get("authorization"),
                request.headers.get("mcp-session-id"),
            )
        )

    async def on_response(self, response: httpx2.Response) -> None:
        # Streamed responses: only status and headers are looked at here, never the body.
        for ex in reversed(self.exchanges):
            if ex.status is None and ex.method == response.request.method and ex.url == str(response.request.url):
                ex.status = response.status_code
                ex.www_authenticate = response.headers.get("www-authenticate")
                break

    def http_client(self, headers: dict[str, str] | None = None) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            headers=headers or {},
            timeout=httpx2.Timeout(30.0, read=300.0),
            event_hooks={"request": [self.on_request], "response": [self.on_response]},
        )


def sdk_client(url: str, http: httpx2.AsyncClient, mode: str) -> Client:
    return Client(
        streamable_http_client(url, http_client=http),
        mode=mode,
        client_info=Implementation(name="mcpgate-e2e-python", version="1"),
        cache=None,  # every call below must reach the server
    )


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_sdk_with_bearer_token(dev_server: DevServer, mode: str) -> None:
    claims = jwt_claims(dev_server.token)
    sub, iss = claims["sub"], claims["iss"]
    aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    # The token printed by `mcpgate dev` is for this very server.
    assert dev_server.mcp_url in aud and dev_server.resource_id in aud, claims
    if "Authorization server" in dev_server.fields:
        assert iss == dev_server.fields["Authorization server"], claims

    recorder = HttpRecorder()

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT_S):
            async with recorder.http_client({"Authorization": f"Bearer {dev_server.token}"}) as http:
                async with sdk_client(dev_server.mcp_url, http, mode) as client:
                    assert client.protocol_version == EXPECTED_VERSION[mode], client.protocol_version
                    if mode != "2026-07-28":
                        # A pinned mode adopts the version without a discovery
                        # round trip, so the client learns no server info.
                        assert client.server_info is not None and client.server_info.name == SERVER_NAME

                    # Tools
                    tools = {t.name: t for t in (await client.list_tools()).tools}
                    assert EXPECTED_TOOLS <= set(tools), sorted(tools)

                    result = await client.call_tool("protected_action", {})
                    assert not result.is_error, result
                    assert text_of(result.content) == "Access granted via Scalekit!"

                    result = await client.call_tool("auth_status", {})
                    assert not result.is_error, result
                    status = result.structured_content or json.loads(text_of(result.content))
                    assert status["authenticated"] is True, status
                    assert status["provider"] == "Scalekit", status
                    assert sub in status["message"], status

                    result = await client.call_tool("inspect_token", {})
                    assert not result.is_error, result
                    seen = result.structured_content
                    assert isinstance(seen, dict), f"inspect_token has no structured content: {result!r}"
                    assert json.loads(text_of(result.content)) == seen
                    assert seen["sub"] == sub
                    assert seen["iss"] == iss
                    seen_aud = seen["aud"] if isinstance(seen["aud"], list) else [seen["aud"]]
                    assert dev_server.mcp_url in seen_aud and dev_server.resource_id in seen_aud, seen
                    assert seen == claims, "inspect_token should echo exactly the claims of the token sent"

                    # Resource
                    resources = {str(r.uri) for r in (await client.list_resources()).resources}
                    assert "auth://whoami" in resources, resources
                    read = await client.read_resource("auth://whoami")
                    assert len(read.contents) == 1, read
                    whoami_content = read.contents[0]
                    assert str(whoami_content.uri) == "auth://whoami"
                    assert whoami_content.mime_type == "application/json"
                    whoami = json.loads(whoami_content.text)
                    assert whoami["subject"] == sub, whoami
                    assert whoami["client_id"] == claims["client_id"], whoami
                    assert whoami["scopes"] == claims["scope"].split(), whoami
                    assert whoami["expires_at"] == claims["exp"], whoami

                    # Prompt
                    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
                    assert "summarize_access" in prompts, sorted(prompts)
                    args = {a.name: a for a in prompts["summarize_access"].arguments or []}
                    assert "audience" in args and args["audience"].required, args
                    prompt = await client.get_prompt("summarize_access", {"audience": "auditors"})
                    assert prompt.messages, prompt
                    said = "\n".join(
                        m.content.text for m in prompt.messages if isinstance(m.content, TextContent)
                    )
                    assert "auditors" in said and sub in said, said

    try:
        anyio.run(scenario)
    except BaseException as exc:
        leaves = "\n".join(repr(e) for e in leaf_exceptions(exc))
        raise AssertionError(f"SDK scenario failed ({mode}): {leaves}\n{dev_server.logs()}") from exc

    assert recorder.exchanges, "the SDK sent nothing through the given HTTP client"
    for ex in recorder.exchanges:
        assert urlsplit(ex.url).hostname == "127.0.0.1", ex
        assert ex.authorization == f"Bearer {dev_server.token}", f"request without the bearer token: {ex}"
        assert ex.status != 401, f"token refused: {ex}"
    posts = [ex for ex in recorder.exchanges if ex.method == "POST"]
    assert posts and all(ex.url == dev_server.mcp_url for ex in posts)
    if mode == "legacy":
        assert all(ex.status is None or ex.status < 300 for ex in recorder.exchanges), recorder.exchanges
    else:
        # 2026-07-28 has no sessions: nothing to bind, nothing to delete.
        assert not any(ex.session_id for ex in recorder.exchanges), recorder.exchanges
        assert not any(ex.method == "DELETE" for ex in recorder.exchanges), recorder.exchanges
        return

    # Leaving the client sent DELETE for its session, so the session is gone.
    session_ids = {ex.session_id for ex in recorder.exchanges if ex.session_id}
    assert len(session_ids) == 1, recorder.exchanges
    (session_id,) = session_ids
    deletes = [ex for ex in recorder.exchanges if ex.method == "DELETE"]
    assert len(deletes) == 1 and deletes[0].status is not None and deletes[0].status < 300, deletes
    with httpx2.Client(timeout=30.0) as http:
        reuse = http.post(
            dev_server.mcp_url,
            json={"jsonrpc": "2.0", "id": 99, "method": "tools/list"},
            headers={
                "Accept": "application/json, text/event-stream",
                "Authorization": f"Bearer {dev_server.token}",
                "Mcp-Session-Id": session_id,
                "Mcp-Protocol-Version": HANDSHAKE_PROTOCOL_VERSIONS[-1],
            },
        )
    assert reuse.status_code == 404, f"session {session_id} still usable after DELETE: {reuse.status_code} {reuse.text}"


@pytest.mark.parametrize("mode", MODES)
def test_sdk_without_token_is_refused_with_401(dev_server: DevServer, mode: str) -> None:
    recorder = HttpRecorder()

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT_S):
            async with recorder.http_client() as http:
                async with sdk_client(dev_server.mcp_url, http, mode) as client:
                    # A pinned 2026-07-28 client sends nothing until its first
                    # request; the others are refused while connecting.
                    await client.list_tools()

    with pytest.raises(BaseException) as excinfo:
        anyio.run(scenario)
    leaves = leaf_exceptions(excinfo.value)
    # mcp 2.3.0 turns an HTTP error status without a JSON-RPC body into
    # MCPError(INTERNAL_ERROR, "Server returned an error response"); the status
    # itself is not in the message, so the recorder below shows it was 401.
    assert any(isinstance(e, MCPError) and e.code == INTERNAL_ERROR for e in leaves), leaves

    assert recorder.exchanges, "the SDK sent nothing"
    for ex in recorder.exchanges:
        assert ex.authorization is None, ex
        assert ex.status == 401, f"expected 401 without a token: {ex}"
        assert ex.www_authenticate, f"401 without WWW-Authenticate: {ex}"
        params = challenge_params(ex.www_authenticate)
        assert params.get("resource_metadata") == prm_url(dev_server.mcp_url), ex.www_authenticate


def test_plain_http_401_challenge_and_metadata(dev_server: DevServer) -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": HANDSHAKE_PROTOCOL_VERSIONS[-1],
            "capabilities": {},
            "clientInfo": {"name": "httpx2", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    with httpx2.Client(timeout=30.0) as http:
        resp = http.post(dev_server.mcp_url, json=initialize, headers=headers)
        assert resp.status_code == 401, (resp.status_code, resp.text)
        challenge = resp.headers.get("www-authenticate")
        assert challenge, dict(resp.headers)
        metadata_url = challenge_params(challenge).get("resource_metadata")
        assert metadata_url == prm_url(dev_server.mcp_url), challenge
        assert metadata_url.endswith("/.well-known/oauth-protected-resource/mcp")

        # The metadata it points to names this resource and its authorization server.
        meta = http.get(metadata_url)
        assert meta.status_code == 200, (meta.status_code, meta.text)
        doc = meta.json()
        assert doc["resource"] == dev_server.mcp_url, doc
        iss = jwt_claims(dev_server.token)["iss"]
        assert iss in doc["authorization_servers"], doc

        # And the same request with the token is served.
        ok = http.post(
            dev_server.mcp_url,
            json=initialize,
            headers={**headers, "Authorization": f"Bearer {dev_server.token}"},
        )
        assert ok.status_code == 200, (ok.status_code, ok.text)


@pytest.mark.parametrize("mode", MODES)
def test_sdk_with_tampered_token_is_refused(dev_server: DevServer, mode: str) -> None:
    bad = tampered(dev_server.token)
    recorder = HttpRecorder()

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT_S):
            async with recorder.http_client({"Authorization": f"Bearer {bad}"}) as http:
                async with sdk_client(dev_server.mcp_url, http, mode) as client:
                    # A pinned 2026-07-28 client sends nothing until its first
                    # request; the others are refused while connecting.
                    await client.list_tools()

    with pytest.raises(BaseException) as excinfo:
        anyio.run(scenario)
    leaves = leaf_exceptions(excinfo.value)
    assert any(isinstance(e, MCPError) for e in leaves), leaves

    assert recorder.exchanges, "the SDK sent nothing"
    for ex in recorder.exchanges:
        assert ex.status == 401, f"a token with a broken signature was not refused: {ex}"
        params = challenge_params(ex.www_authenticate or "")
        assert params.get("error") == "invalid_token", ex.www_authenticate
        assert params.get("resource_metadata") == prm_url(dev_server.mcp_url), ex.www_authenticate
