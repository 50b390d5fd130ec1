"""The FastMCP server under test: the same tools as mcpgate's bench server.

Run as FastMCP's deployment guide recommends for production HTTP: build the
ASGI app with ``mcp.http_app()`` (Streamable HTTP at /mcp) and serve it with
uvicorn, e.g.

    SCALEKIT_ENVIRONMENT_URL=http://127.0.0.1:PORT_AS \
    SCALEKIT_RESOURCE_ID=res_123 BASE_URL=http://127.0.0.1:PORT \
    .venv/bin/uvicorn fastmcp_server:app --host 127.0.0.1 --port PORT \
        --log-level warning --no-access-log

Auth is FastMCP's own ``ScalekitProvider`` pointed at the environment URL of
the local Scalekit-compatible authorization server (plain http on loopback is
accepted: the provider only joins strings, and its JWTVerifier fetches
``{env}/keys`` with SSRF protection off, FastMCP's default for operator-set
URLs).
"""

import os

from fastmcp import FastMCP
from fastmcp.server.auth.providers.scalekit import ScalekitProvider
from fastmcp.server.dependencies import get_access_token

auth = ScalekitProvider(
    environment_url=os.environ["SCALEKIT_ENVIRONMENT_URL"],
    resource_id=os.environ["SCALEKIT_RESOURCE_ID"],
    base_url=os.environ["BASE_URL"],
)

mcp = FastMCP("bench", auth=auth)


@mcp.tool
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@mcp.tool
def inspect_token() -> dict:
    """Returns the caller's JWT claims."""
    token = get_access_token()
    return dict(token.claims) if token else {}


app = mcp.http_app(path="/mcp")
