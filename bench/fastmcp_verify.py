"""Cost of one token verification in FastMCP's ScalekitProvider (its JWTVerifier).

Counterpart of mcpgate's Criterion bench (benches/verify.rs), against the same
local authorization server. Reads access tokens from standard input, one per
line, all distinct (minted by the driver from bench-as), and prints one JSON
object:
  new_token_us         mean of `verify_token` of a token this provider has not
                       seen before, key already cached: every token but the
                       first is verified exactly once (the first warms the key)
  new_token_n          how many distinct tokens that mean is over
  repeat_token_us      mean of `verify_token` of the same token again and again
                       (what every request of a session with one token costs),
                       key cached
  repeat_token_n       how many repeats that mean is over
  first_with_fetch_us  mean of the first `verify_token` of a fresh provider,
                       JWKS fetch from the local AS included (construction excluded)

Usage: python fastmcp_verify.py ENV_URL RESOURCE_ID BASE_URL [REPEAT_N FIRST_N] < TOKENS

With `--jwt ALG JWKS_URI ISSUER AUDIENCE [REPEAT_N]` instead, the same
new-token and repeat-token means are taken with FastMCP's generic
`JWTVerifier` for algorithm ALG (RS256, ES256, EdDSA, …), the counterpart of
the Criterion group `verify_alg/{ALG}/…`; `first_with_fetch_us` is omitted.
"""

import asyncio
import json
import sys
import time

from fastmcp.server.auth.providers.scalekit import ScalekitProvider


def read_tokens() -> list[str]:
    tokens = [line.strip() for line in sys.stdin if line.strip()]
    if len(tokens) < 2:
        raise SystemExit("fastmcp_verify.py needs at least two tokens on standard input")
    if len(set(tokens)) != len(tokens):
        raise SystemExit("fastmcp_verify.py: the tokens on standard input are not all distinct")
    return tokens


async def new_and_repeat(verify, tokens: list[str], repeat_n: int) -> dict:
    """Means of a new token each time (key cached) and of one token again."""
    if await verify(tokens[0]) is None:
        raise SystemExit("FastMCP rejected the benchmark token")
    fresh_tokens = tokens[1:]
    start = time.perf_counter()
    for token in fresh_tokens:
        if await verify(token) is None:
            raise SystemExit("FastMCP rejected one of the distinct benchmark tokens")
    new_us = (time.perf_counter() - start) / len(fresh_tokens) * 1e6
    start = time.perf_counter()
    for _ in range(repeat_n):
        await verify(tokens[0])
    repeat_us = (time.perf_counter() - start) / repeat_n * 1e6
    if await verify(tokens[0]) is None:
        raise SystemExit("FastMCP rejected the repeated benchmark token")
    return {
        "new_token_us": new_us,
        "new_token_n": len(fresh_tokens),
        "repeat_token_us": repeat_us,
        "repeat_token_n": repeat_n,
    }


async def jwt_main() -> None:
    from fastmcp.server.auth.providers.jwt import JWTVerifier

    alg, jwks_uri, issuer, audience = sys.argv[2:6]
    repeat_n = int(sys.argv[6]) if len(sys.argv) > 6 else 2000
    tokens = read_tokens()
    verifier = JWTVerifier(jwks_uri=jwks_uri, issuer=issuer, audience=audience, algorithm=alg)
    result = await new_and_repeat(verifier.verify_token, tokens, repeat_n)
    print(json.dumps({"algorithm": alg, **result}))


async def main() -> None:
    if sys.argv[1:2] == ["--jwt"]:
        await jwt_main()
        return
    env_url, resource_id, base_url = sys.argv[1:4]
    repeat_n = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
    first_n = int(sys.argv[5]) if len(sys.argv) > 5 else 50
    tokens = [line.strip() for line in sys.stdin if line.strip()]
    if len(tokens) < 2:
        raise SystemExit("fastmcp_verify.py needs at least two tokens on standard input")
    if len(set(tokens)) != len(tokens):
        raise SystemExit("fastmcp_verify.py: the tokens on standard input are not all distinct")

    def provider() -> ScalekitProvider:
        return ScalekitProvider(
            environment_url=env_url, resource_id=resource_id, base_url=base_url
        )

    # One provider; its first call fetches and caches the key.
    warm = provider()
    if await warm.verify_token(tokens[0]) is None:
        raise SystemExit("FastMCP rejected the benchmark token")

    # A new token each time: tokens[1:], each verified once.
    fresh_tokens = tokens[1:]
    start = time.perf_counter()
    for token in fresh_tokens:
        if await warm.verify_token(token) is None:
            raise SystemExit("FastMCP rejected one of the distinct benchmark tokens")
    new_us = (time.perf_counter() - start) / len(fresh_tokens) * 1e6

    # The same token again (it has been verified once already, above).
    same = tokens[0]
    start = time.perf_counter()
    for _ in range(repeat_n):
        await warm.verify_token(same)
    repeat_us = (time.perf_counter() - start) / repeat_n * 1e6
    if await warm.verify_token(same) is None:
        raise SystemExit("FastMCP rejected the repeated benchmark token")

    total = 0.0
    for i in range(first_n):
        fresh = provider()
        start = time.perf_counter()
        ok = await fresh.verify_token(tokens[i % len(tokens)])
        total += time.perf_counter() - start
        if ok is None:
            raise SystemExit("FastMCP rejected the benchmark token on first use")
    first_us = total / first_n * 1e6
    print(
        json.dumps(
            {
                "new_token_us": new_us,
                "new_token_n": len(fresh_tokens),
                "repeat_token_us": repeat_us,
                "repeat_token_n": repeat_n,
                "first_with_fetch_us": first_us,
            }
        )
    )


asyncio.run(main())
