"""The entry point as Lambda loads it: a fresh interpreter imports the module, then invokes it."""

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from mcp.types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    PROTOCOL_VERSION_META_KEY,
)

INVOKE = """
import json, sys, types
from mcpserver.lambda_handler import handler
context = types.SimpleNamespace(aws_request_id="8f5d3c1e-lambda-request")
print(json.dumps(handler(json.load(sys.stdin), context)))
"""

EVENT = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/.well-known/oauth-protected-resource/mcp",
    "rawQueryString": "",
    "headers": {"host": "mcp.example.com", "x-forwarded-proto": "https"},
    "requestContext": {
        "http": {
            "method": "GET",
            "path": "/.well-known/oauth-protected-resource/mcp",
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.7",
            "userAgent": "test",
        },
        "stage": "$default",
    },
    "isBase64Encoded": False,
}


def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", INVOKE],
        input=json.dumps(EVENT),
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
        check=False,
    )


def deployed_env(tmp_path: Path, signing_key: Any) -> dict[str, str]:
    """A deployment's environment, its signing key's JWK Set in a file."""
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [signing_key.as_dict(private=False)]}))
    return {
        "MCP_URL": "https://mcp.example.com/mcp",
        "ISSUER": "https://mcp.example.com",
        "USER_POOL_ID": "eu-west-1_AbCdEf123",
        "MCP_SESSION_SECRET": "s" * 40,
        "MCP_JWKS_FILE": str(jwks),
    }


def test_the_handler_is_built_at_import_from_the_environment(
    tmp_path: Path, signing_key: Any
) -> None:
    result = run(deployed_env(tmp_path, signing_key))
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["resource"] == "https://mcp.example.com/mcp"
    (access,) = [json.loads(line) for line in result.stderr.splitlines()]
    assert access["logger"] == "mcpserver.access"
    assert access["status"] == 200
    assert access["request_id"] == "8f5d3c1e-lambda-request"


def test_a_misconfigured_function_fails_its_init_naming_the_variable() -> None:
    result = run({"ISSUER": "https://mcp.example.com"})
    assert result.returncode != 0
    assert "SettingsError: MCP_URL: is required" in result.stderr


WITHOUT_LOCAL_SERVER = """
import importlib.abc, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("uvicorn", "click"):
            raise ImportError(f"{name} is not shipped")
        return None

sys.meta_path.insert(0, Refuse())
"""


def test_a_tool_call_is_served_without_uvicorn_or_click(tmp_path: Path, signing_key: Any) -> None:
    """scripts/build_lambdas.py leaves both out of mcpserver.zip: the handler must not need them."""
    mcp_url = "https://mcp.example.com/mcp"
    issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [signing_key.as_dict(private=False)]}))
    now = int(time.time())
    claims = {
        "sub": "s-1",
        "iss": issuer,
        "client_id": "c-1",
        "token_use": "access",
        "scope": f"{mcp_url}/read",
        "exp": now + 600,
        "iat": now,
        "username": "demo",
    }
    token = jwt.encode({"alg": "RS256", "kid": signing_key.kid}, claims, signing_key)
    meta = {
        PROTOCOL_VERSION_META_KEY: "2026-07-28",
        CLIENT_INFO_META_KEY: {"name": "test", "version": "0"},
        CLIENT_CAPABILITIES_META_KEY: {},
    }
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}, "_meta": meta},
    }
    event = {
        **EVENT,
        "rawPath": "/mcp",
        "headers": {
            "host": "mcp.example.com",
            "authorization": f"Bearer {token}",
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": "2026-07-28",
            "mcp-method": "tools/call",
            "mcp-name": "whoami",
        },
        "requestContext": {
            **EVENT["requestContext"],
            "http": {**EVENT["requestContext"]["http"], "method": "POST", "path": "/mcp"},
        },
        "body": json.dumps(call),
    }
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_LOCAL_SERVER + INVOKE],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "MCP_URL": mcp_url,
            "ISSUER": "https://mcp.example.com",
            "USER_POOL_ID": "eu-west-1_AbCdEf123",
            "MCP_SESSION_SECRET": "s" * 40,
            "MCP_JWKS_FILE": str(jwks),
        },
        check=False,
    )
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200
    answer = json.loads(response["body"])["result"]
    assert not answer.get("isError")
    assert answer["structuredContent"]["subject"] == "s-1"


COUNT_COLLECTIONS = """
import gc, json, sys
passes = []
gc.callbacks.append(
    lambda phase, info: passes.append(info["generation"])
    if phase == "start" and "mcpserver.lambda_handler" in sys.modules
    else None
)
try:
    import mcpserver.lambda_handler
except Exception as exc:
    failed = type(exc).__name__
else:
    failed = None
print(json.dumps({"passes": passes, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "failed": failed}))
"""


def collections_during_init(env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", COUNT_COLLECTIONS],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@pytest.mark.parametrize(
    ("initialization", "collections"), [("on-demand", [1]), ("snap-start", [1, 1])]
)
def test_init_runs_without_collector_passes_and_freezes_what_it_built(
    tmp_path: Path, signing_key: Any, initialization: str, collections: list[int]
) -> None:
    """The collector's passes over the SDK's import were a tenth of the cold start: the only
    collections left in init are LambdaApp's explicit ones of the young generation, after the
    build and, where the first requests are rehearsed, after the rehearsal."""
    seen = collections_during_init(
        {**deployed_env(tmp_path, signing_key), "AWS_LAMBDA_INITIALIZATION_TYPE": initialization}
    )
    assert seen["failed"] is None
    assert seen["passes"] == collections
    assert seen["enabled"]
    assert seen["frozen"] > 10_000


def test_a_failed_init_leaves_the_collector_on() -> None:
    seen = collections_during_init({"ISSUER": "https://mcp.example.com"})
    assert seen["failed"] == "SettingsError"
    assert seen["enabled"]
