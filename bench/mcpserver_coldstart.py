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
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import RSAKey

MCP_URL = "https://mcp.example.com/mcp"
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Bench1234"

COLD = """
import json, sys, time
started = time.perf_counter()
from mcpserver.lambda_handler import handler
imported = time.perf_counter()
response = handler(json.loads(sys.argv[1]), None)
answered = time.perf_counter()
print(json.dumps({"import_ms": (imported - started) * 1000,
                  "first_response_ms": (answered - imported) * 1000,
                  "status": response["statusCode"]}))
"""


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


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 2),
        "p95": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
        "min": round(ordered[0], 2),
        "max": round(ordered[-1], 2),
    }


def cold_starts(env: dict[str, str], first_event: dict, runs: int) -> dict:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", COLD, json.dumps(first_event)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        wall = (time.perf_counter() - started) * 1000
        samples.append({**json.loads(result.stdout.splitlines()[-1]), "process_ms": wall})
    return {
        "status": samples[0]["status"],
        "import_ms": summary([s["import_ms"] for s in samples]),
        "first_response_ms": summary([s["first_response_ms"] for s in samples]),
        "import_plus_first_response_ms": summary(
            [s["import_ms"] + s["first_response_ms"] for s in samples]
        ),
        "whole_process_ms": summary([s["process_ms"] for s in samples]),
    }


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
            "cold_unauthenticated_401": cold_starts(env, event(tools_list, None), args.runs),
            "cold_authenticated_tools_list": cold_starts(env, event(tools_list, token), args.runs),
            "warm_authenticated_tools_call_whoami": warm_calls(env, token, args.calls),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
