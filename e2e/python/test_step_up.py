"""End to end: 403 step-up with the official MCP Python SDK's OAuth client (issue 12).

The server is `target/debug/examples/step_up` (crates/mcpgate/examples/step_up.rs;
STEP_UP_BIN names another binary): the dev authorization server `mcpgate dev`
runs, next to a Todos MCP server whose `add_todo` tool needs `todo:write`.

The user first grants everything but `todo:write` (the consent page lets a user
untick scopes). Calling `add_todo` is then answered HTTP 403 with
`WWW-Authenticate: Bearer error="insufficient_scope", scope="openid mcp:tools
todo:write", resource_metadata=…`. How the SDK (mcp 2.3.0,
`mcp/client/auth/oauth2.py`, `OAuthClientProvider.async_auth_flow`) steps up:
a 403 whose challenge says `insufficient_scope` runs the authorization flow
again inside the same request, asking for the union of what it asked for
before, what it was granted and the challenge's `scope` (SEP-2350), and then
resends the request with the new token, so the tool call itself succeeds.
Both protocol eras: `legacy` (a session) and `2026-07-28` (stateless, the 403
decided from the `Mcp-Name` header).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import anyio
import httpx2
import pytest
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata
from mcp.types import TextContent

from test_python_sdk import (
    REPO_ROOT,
    ConsentFormParser,
    HttpRecorder,
    MemoryStorage,
    _free_port,
    _printed_fields,
    _read_logs,
    _stop,
    jwt_claims,
    leaf_exceptions,
    sdk_client,
)

DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "examples" / "step_up"
START_TIMEOUT_S = 30.0
SCENARIO_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class StepUpServer:
    mcp_url: str
    stdout_path: Path
    stderr_path: Path

    def logs(self) -> str:
        return _read_logs(self.stdout_path, self.stderr_path, "step_up")


@pytest.fixture(scope="module")
def step_up_server(tmp_path_factory: pytest.TempPathFactory):
    binary = Path(os.environ.get("STEP_UP_BIN") or DEFAULT_BIN)
    if not binary.is_file():
        pytest.fail(f"{binary} does not exist: run `cargo build -p mcpgate --example step_up` or set STEP_UP_BIN")
    logs = tmp_path_factory.mktemp("step_up")
    stdout_path, stderr_path = logs / "stdout.txt", logs / "stderr.txt"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen([str(binary)], cwd=REPO_ROOT, stdout=out, stderr=err, env={**os.environ, "NO_COLOR": "1"})
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        fields: dict[str, str] = {}
        while "Token" not in fields:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"step_up did not start\n{_read_logs(stdout_path, stderr_path, 'step_up')}")
            time.sleep(0.05)
            fields = _printed_fields(stdout_path.read_text(errors="replace"))
        yield StepUpServer(fields["MCP URL"], stdout_path, stderr_path)
    finally:
        complaint = _stop(proc, "step_up")
        assert complaint is None, complaint


def consent(authorization_url: str, withhold: list[str]) -> str:
    """The consent page as a person answers it: untick `withhold`, press Approve; returns the redirect."""
    with httpx2.Client(timeout=30.0, follow_redirects=False) as browser:
        page = browser.get(authorization_url)
        assert page.status_code == 200, (page.status_code, page.text[:1000])
        form = ConsentFormParser()
        form.feed(page.text)
        assert form.forms == 1 and form.method == "post", page.text[:2000]
        # An unticked checkbox is not submitted.
        body = {name: value for name, value in form.fields.items() if value not in withhold}
        offered = set(form.fields.values())
        assert all(scope in offered for scope in withhold), (withhold, form.fields)
        approve = [b for b in form.buttons if b["label"] == "Approve"]
        assert len(approve) == 1, form.buttons
        if approve[0]["name"]:
            body[approve[0]["name"]] = approve[0]["value"] or ""
        action = urljoin(authorization_url, form.action)
        u = urlsplit(action)
        decision = browser.post(action, data=body, headers={"Origin": f"{u.scheme}://{u.netloc}"})
        location = decision.headers.get("location")
        assert 300 <= decision.status_code < 400 and location, (decision.status_code, decision.text[:1000])
        return urljoin(action, location)


@dataclass
class User:
    """Redirect and callback handlers: withholds `withhold[i]` at the i-th consent."""

    redirect_uri: str
    withhold: list[list[str]]
    authorization_urls: list[str] = field(default_factory=list)
    redirect: str | None = None

    async def open(self, authorization_url: str) -> None:
        withheld = self.withhold[len(self.authorization_urls)] if len(self.authorization_urls) < len(self.withhold) else []
        self.authorization_urls.append(authorization_url)
        self.redirect = await anyio.to_thread.run_sync(consent, authorization_url, withheld)

    async def callback(self) -> AuthorizationCodeResult:
        assert self.redirect is not None
        query = parse_qs(urlsplit(self.redirect).query)
        assert "error" not in query, query
        return AuthorizationCodeResult(code=query["code"][0], state=query["state"][0], iss=query.get("iss", [None])[0])


def _text(result) -> str:
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_sdk_steps_up_on_403_insufficient_scope(step_up_server: StepUpServer, mode: str) -> None:
    mcp_url = step_up_server.mcp_url
    redirect_uri = f"http://127.0.0.1:{_free_port()}/callback"
    storage = MemoryStorage()
    user = User(redirect_uri, withhold=[["todo:write"]])
    oauth = OAuthClientProvider(
        server_url=mcp_url,
        client_metadata=OAuthClientMetadata(
            client_name=f"mcpgate-e2e-python step-up ({mode})",
            redirect_uris=[redirect_uri],
            grant_types=["authorization_code"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=user.open,
        callback_handler=user.callback,
    )
    recorder = HttpRecorder()
    seen: dict[str, object] = {}

    async def scenario() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT_S):
            async with recorder.http_client(auth=oauth) as http:
                async with sdk_client(mcp_url, http, mode) as client:
                    tools = await client.list_tools()
                    seen["first_token"] = storage.tokens.access_token
                    seen["first_tools"] = sorted(t.name for t in tools.tools)
                    result = await client.call_tool("add_todo", {})
                    assert not result.is_error, result
                    seen["result"] = _text(result)
                    seen["second_token"] = storage.tokens.access_token
                    tools = await client.list_tools()
                    seen["second_tools"] = sorted(t.name for t in tools.tools)

    try:
        anyio.run(scenario)
    except BaseException as exc:
        leaves = "\n".join(repr(e) for e in leaf_exceptions(exc))
        raise AssertionError(f"step-up scenario failed ({mode}): {leaves}\n{step_up_server.logs()}") from exc

    first, second = jwt_claims(seen["first_token"]), jwt_claims(seen["second_token"])
    assert sorted(first["scope"].split()) == ["mcp:tools", "openid"], first
    # Lists follow policy: without todo:write, add_todo is not listed.
    assert seen["first_tools"] == ["list_todos"]
    assert sorted(second["scope"].split()) == ["mcp:tools", "openid", "todo:write"], second
    assert second["sub"] == first["sub"]
    assert seen["result"] == "added, with scopes: openid mcp:tools todo:write"
    assert seen["second_tools"] == ["add_todo", "list_todos"]

    # The 403 and its challenge, exactly; then the same call again with the new token.
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(mcp_url))
    refused = [ex for ex in recorder.to(mcp_url) if ex.status == 403]
    assert len(refused) == 1, recorder.exchanges
    assert refused[0].mcp_method == "tools/call", refused[0]
    assert refused[0].authorization == f"Bearer {seen['first_token']}"
    assert refused[0].www_authenticate == (
        'Bearer error="insufficient_scope", error_description="this resource requires scope: '
        'openid mcp:tools todo:write", scope="openid mcp:tools todo:write", '
        f'resource_metadata="{origin}/.well-known/oauth-protected-resource/mcp"'
    )
    later = recorder.to(mcp_url)[recorder.to(mcp_url).index(refused[0]) + 1 :]
    retried = [ex for ex in later if ex.mcp_method == "tools/call"]
    assert retried and retried[0].status == 200 and retried[0].authorization == f"Bearer {seen['second_token']}"
    # Two consents: the second asked for the union the challenge named.
    assert len(user.authorization_urls) == 2, user.authorization_urls
    second_query = parse_qs(urlsplit(user.authorization_urls[1]).query)
    assert sorted(second_query["scope"][0].split()) == ["mcp:tools", "openid", "todo:write"], second_query
    assert second_query["resource"] == [mcp_url], second_query
