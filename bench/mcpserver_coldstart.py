"""Cold start and tools/call latency of the MCP server's Lambda handler, measured on this machine.

    .venv/bin/python bench/mcpserver_coldstart.py [--runs 10] [--calls 200]

Cold start: a fresh interpreter imports ``mcpserver.lambda_handler`` (which builds the app, as the
Lambda init phase does) and answers its first event: an unauthenticated POST (the 401 every
client starts with) in one series, an authenticated ``tools/list`` in another. Warm: one handler
answers authenticated ``tools/call whoami`` events in a row. Tokens are RS256 JWTs minted here and
verified against a JWKS file (``MCP_JWKS_FILE``), so no network is involved. Numbers are printed
as JSON; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from coldstart import cold_starts, summary
from joserfc import jwt
from joserfc.jwk import RSAKey

HANDLER = "mcpserver.lambda_handler"
MCP_URL = "https://mcp.example.com/mcp"
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Bench1234"


def event(body: dict, token: str | None) -> dict:
    headers = {
        "host": "mcp.example.com",
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2025-06-18",
        "x-forwarded-proto": "https",
    }
    if token:
        headers["authorization"] = f"Bearer {token}"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/mcp",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "http": {
                "method": "POST",
                "path": "/mcp",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "bench",
            },
            "stage": "$default",
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def mint(key: RSAKey) -> str:
    now = int(time.time())
    claims = {
        "sub": str(uuid.uuid4()),
        "iss": ISSUER,
        "client_id": "benchclient",
        "token_use": "access",
        "scope": f"{MCP_URL}/read",
        "exp": now + 3600,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "username": "bench",
    }
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def warm_calls(env: dict[str, str], token: str, calls: int) -> dict:
    os.environ.update(env)
    from mcpserver.lambda_handler import handler

    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami"}}
    first = handler(event(call, token), None)
    assert first["statusCode"] == 200, first
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        response = handler(event(call, token), None)
        samples.append((time.perf_counter() - started) * 1000)
        assert response["statusCode"] == 200
    return {"calls": calls, "ms": summary(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="fresh interpreters per cold series")
    parser.add_argument("--calls", type=int, default=200, help="warm tools/call invocations")
    args = parser.parse_args()

    key = RSAKey.generate_key(2048, parameters={"kid": "bench", "use": "sig", "alg": "RS256"})
    with tempfile.TemporaryDirectory() as tmp:
        jwks = Path(tmp) / "jwks.json"
        jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
        env = {
            **os.environ,
            "MCP_URL": MCP_URL,
            "ISSUER": "https://mcp.example.com",
            "COGNITO_ISSUER": ISSUER,
            "AWS_REGION": "eu-west-1",
            "MCP_SESSION_SECRET": "b" * 40,
            "MCP_JWKS_FILE": str(jwks),
            "MCP_LOG_LEVEL": "WARNING",
        }
        token = mint(key)
        tools_list = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        report = {
            "python": sys.version.split()[0],
            "cold_unauthenticated_401": cold_starts(
                HANDLER, env, event(tools_list, None), args.runs
            ),
            "cold_authenticated_tools_list": cold_starts(
                HANDLER, env, event(tools_list, token), args.runs
            ),
            "warm_authenticated_tools_call_whoami": warm_calls(env, token, args.calls),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
