"""FastMCP's proxy under test: the gateway counterpart of ``mcpgate proxy``.

FastMCP's own proxy (``fastmcp.server.create_proxy``, the recommended way to
build a ``FastMCPProxy``) with the same ``ScalekitProvider`` as
``fastmcp_server.py``, in front of an MCP server without auth, served like
``fastmcp_server.py`` (``http_app()`` under uvicorn):

    SCALEKIT_ENVIRONMENT_URL=http://127.0.0.1:PORT_AS \
    SCALEKIT_RESOURCE_ID=res_123 BASE_URL=http://127.0.0.1:PORT \
    UPSTREAM_URL=http://127.0.0.1:PORT_UP/mcp \
    .venv/bin/uvicorn fastmcp_proxy:app --host 127.0.0.1 --port PORT \
        --log-level warning --no-access-log

The upstream is either a Streamable HTTP server (``UPSTREAM_URL``) or a stdio
command (``UPSTREAM_COMMAND``, a JSON array: program and arguments). Both are
FastMCP's defaults: ``create_proxy`` builds a fresh ``ProxyClient`` for each
request (its session strategy for a target that is not a connected client),
mirroring the caller's protocol era; a ``StdioTransport`` keeps its one
subprocess alive across those clients (``keep_alive`` defaults to true).
"""

import json
import os

from fastmcp.client.transports import StdioTransport
from fastmcp.server import create_proxy
from fastmcp.server.auth.providers.scalekit import ScalekitProvider

auth = ScalekitProvider(
    environment_url=os.environ["SCALEKIT_ENVIRONMENT_URL"],
    resource_id=os.environ["SCALEKIT_RESOURCE_ID"],
    base_url=os.environ["BASE_URL"],
)

if os.environ.get("UPSTREAM_URL"):
    target = os.environ["UPSTREAM_URL"]
else:
    argv = json.loads(os.environ["UPSTREAM_COMMAND"])
    target = StdioTransport(command=argv[0], args=argv[1:])

proxy = create_proxy(target, name="bench-proxy", auth=auth)

app = proxy.http_app(path="/mcp")
