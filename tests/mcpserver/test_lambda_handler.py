"""The entry point as Lambda loads it: a fresh interpreter imports the module, then invokes it."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def test_the_handler_is_built_at_import_from_the_environment(
    tmp_path: Path, signing_key: Any
) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [signing_key.as_dict(private=False)]}))
    result = run(
        {
            "MCP_URL": "https://mcp.example.com/mcp",
            "ISSUER": "https://mcp.example.com",
            "USER_POOL_ID": "eu-west-1_AbCdEf123",
            "MCP_SESSION_SECRET": "s" * 40,
            "MCP_JWKS_FILE": str(jwks),
        }
    )
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
