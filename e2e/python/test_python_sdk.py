"""End to end: the official MCP Python SDK against `mcpgate dev` and the seed example.

A client nobody here wrote (`mcp` from PyPI, pinned in requirements.txt)
connects over Streamable HTTP, lists and calls the tools of the seed's sample
server, reads its resource and gets its prompt, in each of the SDK's three
modes (`legacy`, `auto`, `2026-07-28`):

- with a bearer token, against `mcpgate dev` (which serves the sample behind
  its dev authorization server) and against the seed example itself (the
  `scalekit_server` binary, configured with that authorization server as its
  Scalekit environment);
- through the SDK's own OAuth client (`OAuthClientProvider`) against `mcpgate
  dev`: 401 challenge, protected-resource and authorization-server metadata,
  dynamic client registration, authorization code with PKCE and the consent
  page answered as a browser submits its form, token exchange, then the same
  calls with the token it obtained.

Without a valid token the same client must be turned away with HTTP 401 and a
`WWW-Authenticate: Bearer resource_metadata=…` challenge.

`mcpgate dev --ephemeral --port 0 --auth-port 0` is started once for this
module from MCPGATE_BIN (default: <repo>/target/debug/mcpgate), the seed
example once from SCALEKIT_SERVER_BIN (default:
<repo>/target/debug/scalekit_server). Every address involved is on 127.0.0.1.
Run the whole thing with e2e/python/run.sh.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import anyio
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp.types import INTERNAL_ERROR, Implementation, TextContent
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_MODERN_VERSION

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "mcpgate"
DEFAULT_SEED_BIN = REPO_ROOT / "target" / "debug" / "scalekit_server"
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


def _read_logs(stdout_path: Path, stderr_path: Path, name: str = "mcpgate dev") -> str:
    out = stdout_path.read_text(errors="replace") if stdout_path.exists() else ""
    err = stderr_path.read_text(errors="replace") if stderr_path.exists() else ""
    return f"--- {name} stdout ---\n{out}\n--- {name} stderr ---\n{err}"


def _printed_fields(text: str) -> dict[str, str]:
    """`Name: value` lines of the banner, e.g. {"MCP URL": "http://…", "Token": "eyJ…"}."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z][A-Za-z ]*): (\S.*)$", line)
        if m:
            found.setdefault(m.group(1), m.group(2).strip())
    return found


def _stop(proc: subprocess.Popen[bytes], name: str = "mcpgate dev") -> str | None:
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
        return f"{name} did not exit within {STOP_TIMEOUT_S}s of SIGINT and was killed"


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
# The seed example, and which server a bearer-token test talks to
# --------------------------------------------------------------------------


def _free_port() -> int:
    """A loopback port nobody listens on right now, chosen by the kernel."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class SeedServer:
    mcp_url: str
    stdout_path: Path
    stderr_path: Path

    def logs(self) -> str:
        return _read_logs(self.stdout_path, self.stderr_path, "scalekit_server")


@pytest.fixture(scope="module")
def seed_server(dev_server: DevServer, tmp_path_factory: pytest.TempPathFactory):
    """The seed example (`scalekit_server`), with `mcpgate dev`'s authorization server as its Scalekit environment."""
    binary = Path(os.environ.get("SCALEKIT_SERVER_BIN") or DEFAULT_SEED_BIN).resolve()
    if not binary.is_file():
        pytest.fail(
            f"{binary} does not exist: run `cargo build -p scalekit-server` first, or set SCALEKIT_SERVER_BIN"
        )
    workdir = tmp_path_factory.mktemp("scalekit-server")
    stdout_path, stderr_path = workdir / "stdout.log", workdir / "stderr.log"
    port = _free_port()
    server = SeedServer(f"http://127.0.0.1:{port}/mcp", stdout_path, stderr_path)
    # Only these variables, and an empty working directory: no `.env`, no
    # SCALEKIT_* or RUST_LOG of the machine running the tests gets in.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "NO_COLOR": "1",
        "SCALEKIT_ENVIRONMENT_URL": dev_server.env_url,
        "SCALEKIT_RESOURCE_ID": dev_server.resource_id,
        "MCP_URL": server.mcp_url,
    }
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            [str(binary)], cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env
        )
    complaint = None
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                break
            except OSError:
                pass
            if proc.poll() is not None:
                pytest.fail(f"scalekit_server exited with {proc.returncode} before listening\n{server.logs()}")
            if time.monotonic() > deadline:
                pytest.fail(f"scalekit_server did not listen on {port} within {START_TIMEOUT_S}s\n{server.logs()}")
            time.sleep(0.05)
        yield server
    finally:
        complaint = _stop(proc, "scalekit_server")
    if complaint:
        pytest.fail(complaint + "\n" + server.logs())


@dataclass(frozen=True)
class Target:
    """An MCP server the bearer-token tests connect to, and the token they present."""

    name: str
    mcp_url: str
    resource_id: str
    token: str
    # The issuer `mcpgate dev` printed, which its tokens carry.
    issuer: str | None
    server: DevServer | SeedServer

    def logs(self) -> str:
        return self.server.logs()


@pytest.fixture(params=["mcpgate-dev", "seed-example"])
def bearer_target(request: pytest.FixtureRequest, dev_server: DevServer) -> Target:
    if request.param == "mcpgate-dev":
        server: DevServer | SeedServer = dev_server
        mcp_url = dev_server.mcp_url
    else:
        server = request.getfixturevalue("seed_server")
        mcp_url = server.mcp_url
    return Target(
        name=request.param,
        mcp_url=mcp_url,
        resource_id=dev_server.resource_id,
        # The dev server's token is for its resource id (and for its own MCP
        # URL); the seed example, configured with that resource id, takes it.
        token=dev_server.token,
        issuer=dev_server.fields.get("Authorization server"),
        server=server,
    )


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


def audience(claims: dict[str, Any]) -> list[str]:
    return claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]


@dataclass
class Exchange:
    method: str
    url: str
    authorization: str | None
    session_id: str | None
    # The JSON-RPC method of an MCP POST: its `Mcp-Method` header (2026-07-28
    # clients send one), else the body's `method`; None for anything else.
    mcp_method: str | None = None
    status: int | None = None
    www_authenticate: str | None = None


def _jsonrpc_method(request: httpx2.Request) -> str | None:
    if request.headers.get("mcp-method"):
        return request.headers["mcp-method"]
    if request.method != "POST" or "json" not in request.headers.get("content-type", ""):
        return None
    try:
        body = json.loads(request.content)
    except Exception:  # a streamed body that was not read, or not JSON: not an MCP request
        return None
    return body.get("method") if isinstance(body, dict) else None


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
                _jsonrpc_method(request),
            )
        )

    async def on_response(self, response: httpx2.Response) -> None:
        # Streamed responses: only status and headers are looked at here, never the body.
        for ex in reversed(self.exchanges):
            if ex.status is None and ex.method == response.request.method and ex.url == str(response.request.url):
                ex.status = response.status_code
                ex.www_authenticate = response.headers.get("www-authenticate")
                break

    def http_client(
        self, headers: dict[str, str] | None = None, auth: httpx2.Auth | None = None
    ) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            headers=headers or {},
            auth=auth,
            timeout=httpx2.Timeout(30.0, read=300.0),
            event_hooks={"request": [self.on_request], "response": [self.on_response]},
        )

    def to(self, mcp_url: str) -> list[Exchange]:
        return [ex for ex in self.exchanges if ex.url == mcp_url]


def sdk_client(url: str, http: httpx2.AsyncClient, mode: str) -> Client:
    return Client(
        streamable_http_client(url, http_client=http),
        mode=mode,
        client_info=Implementation(name="mcpgate-e2e-python", version="1"),
        cache=None,  # every call below must reach the server
    )


async def exercise_sample(client: Client, mode: str, claims: dict[str, Any], mcp_url: str) -> None:
    """Every tool, the resource and the prompt of the seed's sample server, as the holder of `claims`."""
    sub = claims["sub"]
    assert client.protocol_version == EXPECTED_VERSION[mode], client.protocol_version
    if mode != "2026-07-28":
        # A pinned mode adopts the version without a discovery round trip, so
        # the client learns no server info.
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
    assert seen["iss"] == claims["iss"]
    assert audience(seen) == audience(claims), seen
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
    said = "\n".join(m.content.text for m in prompt.messages if isinstance(m.content, TextContent))
    assert "auditors" in said and sub in said, said


def check_protocol_on_the_wire(mcp_posts: list[Exchange], mode: str) -> None:
    """What the SDK sent shows which revision it chose, not only what it reports."""
    methods = [ex.mcp_method for ex in mcp_posts]
    assert "tools/call" in methods, methods
    if mode == "legacy":
        # The 2025 handshake, then a session.
        assert methods[0] == "initialize", methods
        assert "server/discover" not in methods, methods
        assert any(ex.session_id for ex in mcp_posts), mcp_posts
    else:
        # 2026-07-28: no handshake, no session. In `auto` the SDK probes with
        # `server/discover` and, because mcpgate answers it, never falls back
        # to `initialize`.
        assert "initialize" not in methods, methods
        assert "notifications/initialized" not in methods, methods
        assert not any(ex.session_id for ex in mcp_posts), mcp_posts
        if mode == "auto":
            assert methods[0] == "server/discover", methods


def check_session_deleted(recorder: HttpRecorder, mcp_url: str, token: str) -> None:
    """Leaving a legacy client sent DELETE for its session, so the session is gone."""
    session_ids = {ex.session_id for ex in recorder.to(mcp_url) if ex.session_id}
    assert len(session_ids) == 1, recorder.exchanges
    (session_id,) = session_ids
    deletes = [ex for ex in recorder.to(mcp_url) if ex.method == "DELETE"]
    assert len(deletes) == 1 and deletes[0].status is not None and deletes[0].status < 300, deletes
    with httpx2.Client(timeout=30.0) as http:
        reuse = http.post(
            mcp_url,
            json={"jsonrpc": "2.0", "id": 99, "method": "tools/list"},
            headers={
                "Accept": "application/json, text/event-stream",
                "Authorization": f"Bearer {token}",
                "Mcp-Session-Id": session_id,
                "Mcp-Protocol-Version": HANDSHAKE_PROTOCOL_VERSIONS[-1],
            },
        )
    assert reuse.status_code == 404, f"session {session_id} still usable after DELETE: {reuse.status_code} {reuse.text}"


# --------------------------------------------------------------------------
# OAuth: the consent page, answered as a browser submits it
# --------------------------------------------------------------------------


class ConsentFormParser(HTMLParser):
    """The consent page's form: method, action, named inputs and submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms = 0
        self.method = "get"
        self.action = ""
        self.fields: dict[str, str] = {}
        self.buttons: list[dict[str, str | None]] = []
        self._in_form = False
        self._button: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms += 1
            self._in_form = True
            self.method = (a.get("method") or "get").lower()
            self.action = a.get("action") or ""
        elif self._in_form and tag == "input" and a.get("name") and a.get("type") not in ("submit", "button"):
            self.fields[a["name"]] = a.get("value") or ""
        elif self._in_form and tag == "button":
            self._button = {"name": a.get("name"), "value": a.get("value"), "label": ""}

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button["label"] = (self._button["label"] or "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None:
            self._button["label"] = (self._button["label"] or "").strip()
            self.buttons.append(self._button)
            self._button = None
        elif tag == "form":
            self._in_form = False


def approve_consent(authorization_url: str) -> str:
    """GETs the consent page, POSTs its form with the Approve button; returns the redirect it answers with."""
    with httpx2.Client(timeout=30.0, follow_redirects=False) as browser:
        page = browser.get(authorization_url)
        assert page.status_code == 200, (page.status_code, page.headers.get("location"), page.text[:1000])
        form = ConsentFormParser()
        form.feed(page.text)
        assert form.forms == 1 and form.method == "post", (form.forms, form.method, page.text[:2000])
        approve = [b for b in form.buttons if b["label"] == "Approve"]
        assert len(approve) == 1, form.buttons
        body = dict(form.fields)
        if approve[0]["name"]:
            body[approve[0]["name"]] = approve[0]["value"] or ""
        action = urljoin(authorization_url, form.action)
        u = urlsplit(action)
        decision = browser.post(
            action,
            data=body,
            # A same-origin form post's Origin.
            headers={"Origin": f"{u.scheme}://{u.netloc}"},
        )
        location = decision.headers.get("location")
        assert 300 <= decision.status_code < 400 and location, (decision.status_code, decision.text[:1000])
        return urljoin(action, location)


@dataclass
class MemoryStorage:
    """The SDK's TokenStorage, in memory: one client registration and its tokens."""

    tokens: OAuthToken | None = None
    client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class Browser:
    """The SDK's redirect and callback handlers: the user approves, the redirect is read."""

    redirect_uri: str
    authorization_urls: list[str] = field(default_factory=list)
    redirect: str | None = None

    async def open(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        self.redirect = await anyio.to_thread.run_sync(approve_consent, authorization_url)

    async def callback(self) -> AuthorizationCodeResult:
        assert self.redirect is not None, "the SDK asked for the callback before opening the authorization URL"
        u = urlsplit(self.redirect)
        assert f"{u.scheme}://{u.netloc}{u.path}" == self.redirect_uri, self.redirect
        query = parse_qs(u.query)
        assert "error" not in query, query
        # Each parameter once (RFC 6749 §3.1); RFC 9207 `iss` is checked by the SDK.
        assert all(len(v) == 1 for v in query.values()), query
        return AuthorizationCodeResult(
            code=query["code"][0], state=query["state"][0], iss=query.get("iss", [None])[0]
        )


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_sdk_with_bearer_token(bearer_target: Target, mode: str) -> None:
    target = bearer_target
    claims = jwt_claims(target.token)
    # The token printed by `mcpgate dev` is for its resource (and its own URL).
    assert target.resource_id in audience(claims), claims
    if target.issuer:
        assert claims["iss"] == target.issuer, claims

    recorder = HttpRecorder()

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT_S):
            async with recorder.http_client({"Authorization": f"Bearer {target.token}"}) as http:
                async with sdk_client(target.mcp_url, http, mode) as client:
                    await exercise_sample(client, mode, claims, target.mcp_url)

    try:
        anyio.run(scenario)
    except BaseException as exc:
        leaves = "\n".join(repr(e) for e in leaf_exceptions(exc))
        raise AssertionError(f"SDK scenario failed ({target.name}, {mode}): {leaves}\n{target.logs()}") from exc

    assert recorder.exchanges, "the SDK sent nothing through the given HTTP client"
    for ex in recorder.exchanges:
        assert urlsplit(ex.url).hostname == "127.0.0.1", ex
        assert ex.authorization == f"Bearer {target.token}", f"request without the bearer token: {ex}"
        assert ex.status != 401, f"token refused: {ex}"
    posts = [ex for ex in recorder.exchanges if ex.method == "POST"]
    assert posts and all(ex.url == target.mcp_url for ex in posts)
    check_protocol_on_the_wire(posts, mode)
    if mode == "legacy":
        assert all(ex.status is None or ex.status < 300 for ex in recorder.exchanges), recorder.exchanges
        check_session_deleted(recorder, target.mcp_url, target.token)
    else:
        # 2026-07-28 has no sessions: nothing to bind, nothing to delete.
        assert not any(ex.method == "DELETE" for ex in recorder.exchanges), recorder.exchanges


@pytest.mark.parametrize("mode", MODES)
def test_sdk_oauth_flow(dev_server: DevServer, mode: str) -> None:
    """The SDK's own OAuth client gets a token from `mcpgate dev` and uses it."""
    redirect_uri = f"http://127.0.0.1:{_free_port()}/callback"
    storage = MemoryStorage()
    browser = Browser(redirect_uri)
    oauth = OAuthClientProvider(
        server_url=dev_server.mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name=f"mcpgate-e2e-python ({mode})",
            redirect_uris=[redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
            scope="openid mcp:tools",
        ),
        storage=storage,
        redirect_handler=browser.open,
        callback_handler=browser.callback,
    )
    recorder = HttpRecorder()
    obtained: dict[str, Any] = {}

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT_S):
            async with recorder.http_client(auth=oauth) as http:
                async with sdk_client(dev_server.mcp_url, http, mode) as client:
                    if mode == "2026-07-28":
                        # A pinned client sends nothing until its first request.
                        await client.list_tools()
                    assert storage.tokens is not None, "connected without a token"
                    obtained["token"] = storage.tokens.access_token
                    await exercise_sample(client, mode, jwt_claims(storage.tokens.access_token), dev_server.mcp_url)

    try:
        anyio.run(scenario)
    except BaseException as exc:
        leaves = "\n".join(repr(e) for e in leaf_exceptions(exc))
        raise AssertionError(f"SDK OAuth scenario failed ({mode}): {leaves}\n{dev_server.logs()}") from exc

    # The flow went through the dev authorization server, once.
    token = obtained["token"]
    assert token != dev_server.token
    claims = jwt_claims(token)
    assert storage.client_info is not None
    client_id = storage.client_info.client_id
    assert claims["client_id"] == client_id, claims
    assert claims["iss"] == dev_server.fields["Authorization server"], claims
    # RFC 8707: the token is for this MCP server.
    assert dev_server.mcp_url in audience(claims), claims
    assert len(browser.authorization_urls) == 1, browser.authorization_urls
    auth_query = parse_qs(urlsplit(browser.authorization_urls[0]).query)
    # The SDK chooses the scopes from discovery (the challenge, else the
    # resource's scopes_supported), not from its client metadata; what it
    # asked for and the user approved is what the token carries.
    assert set(claims["scope"].split()) == set(auth_query["scope"][0].split()), (claims, auth_query)
    assert "mcp:tools" in claims["scope"].split(), claims
    assert auth_query["client_id"] == [client_id] and auth_query["code_challenge_method"] == ["S256"], auth_query
    assert auth_query["resource"] == [dev_server.mcp_url], auth_query

    mcp = recorder.to(dev_server.mcp_url)
    # First refused with the challenge that starts discovery, then only ever with the token.
    first = mcp[0]
    assert first.authorization is None and first.status == 401, first
    assert challenge_params(first.www_authenticate or "").get("resource_metadata") == prm_url(dev_server.mcp_url)
    later = mcp[1:]
    assert later and all(ex.authorization == f"Bearer {token}" for ex in later), later
    assert all(ex.status != 401 for ex in later), later
    urls = [ex.url for ex in recorder.exchanges]
    assert prm_url(dev_server.mcp_url) in urls, urls
    assert any("/.well-known/oauth-authorization-server" in u for u in urls), urls
    registrations = [ex for ex in recorder.exchanges if ex.url.endswith("clients:register")]
    assert len(registrations) == 1 and registrations[0].status == 201, registrations
    token_requests = [ex for ex in recorder.exchanges if ex.url.endswith("/oauth/token")]
    assert len(token_requests) == 1 and token_requests[0].status == 200, token_requests
    for ex in recorder.exchanges:
        assert urlsplit(ex.url).hostname == "127.0.0.1", ex

    # The request refused with 401 is retried by the SDK with the token, so it
    # counts once; what was sent with the token shows the revision chosen.
    check_protocol_on_the_wire([ex for ex in later if ex.method == "POST"], mode)
    if mode == "legacy":
        check_session_deleted(recorder, dev_server.mcp_url, token)
    else:
        assert not any(ex.method == "DELETE" for ex in mcp), mcp


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
