"""Cost of one token verification in FastMCP's ScalekitProvider (its JWTVerifier).

Counterpart of mcpgate's Criterion bench (benches/verify.rs), against the same
local authorization server. Prints one JSON object:
  cached_us            mean of `verify_token` with the key already cached
  first_with_fetch_us  mean of the first `verify_token` of a fresh provider,
                       JWKS fetch from the local AS included (construction excluded)

Usage: python fastmcp_verify.py ENV_URL RESOURCE_ID BASE_URL TOKEN [CACHED_N FIRST_N]
"""

import asyncio
import json
import sys
import time

from fastmcp.server.auth.providers.scalekit import ScalekitProvider


async def main() -> None:
    env_url, resource_id, base_url, token = sys.argv[1:5]
    cached_n = int(sys.argv[5]) if len(sys.argv) > 5 else 2000
    first_n = int(sys.argv[6]) if len(sys.argv) > 6 else 50

    def provider() -> ScalekitProvider:
        return ScalekitProvider(
            environment_url=env_url, resource_id=resource_id, base_url=base_url
        )

    warm = provider()
    if await warm.verify_token(token) is None:
        raise SystemExit("FastMCP rejected the benchmark token")
    start = time.perf_counter()
    for _ in range(cached_n):
        await warm.verify_token(token)
    cached_us = (time.perf_counter() - start) / cached_n * 1e6

    total = 0.0
    for _ in range(first_n):
        fresh = provider()
        start = time.perf_counter()
        ok = await fresh.verify_token(token)
        total += time.perf_counter() - start
        if ok is None:
            raise SystemExit("FastMCP rejected the benchmark token on first use")
    first_us = total / first_n * 1e6
    print(json.dumps({"cached_us": cached_us, "first_with_fetch_us": first_us}))


asyncio.run(main())
