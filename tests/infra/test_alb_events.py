"""The Lambda handlers behind the template's front door: Application Load Balancer events.

The template puts both functions behind an ALB with multi-value headers on, so what reaches a
handler is an ALB event and what the client sees is the ``multiValueHeaders`` of its answer, as
the function wrote them. These tests send such events to the real handlers.
"""

from __future__ import annotations

import json
from typing import Any

from mcpserver.aws_lambda import build_handler
from mcpserver.settings import Settings as McpSettings

HOST = "mcp.example.com"
MCP_URL = f"https://{HOST}/mcp"
TARGET_GROUP = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/mcp/0123456789"


def alb_event(method: str, path: str, headers: dict[str, str], body: str = "") -> dict[str, Any]:
    """An ALB request event with ``lambda.multi_value_headers.enabled`` (the template's setting)."""
    return {
        "requestContext": {"elb": {"targetGroupArn": TARGET_GROUP}},
        "httpMethod": method,
        "path": path,
        "multiValueQueryStringParameters": {},
        "multiValueHeaders": {
            "host": [HOST],
            "x-forwarded-for": ["203.0.113.7"],
            "x-forwarded-port": ["443"],
            "x-forwarded-proto": ["https"],
            **{name.lower(): [value] for name, value in headers.items()},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def header(response: dict[str, Any], name: str) -> list[str]:
    """A response header's values, however the handler cased its name."""
    return [
        value
        for key, values in response.get("multiValueHeaders", {}).items()
        if key.lower() == name
        for value in values
    ]


def mcp_handler() -> Any:
    settings = McpSettings.from_env(
        {
            "MCP_URL": MCP_URL,
            "ISSUER": f"https://{HOST}",
            "USER_POOL_ID": "eu-west-1_Example123",
            "MCP_SESSION_SECRET": "s" * 64,
            "AWS_REGION": "eu-west-1",
        }
    )
    return build_handler(settings)


def test_unauthenticated_mcp_call_answers_401_with_its_challenge() -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "alb-test", "version": "0"},
        },
    }
    event = alb_event(
        "POST",
        "/mcp",
        {"content-type": "application/json", "accept": "application/json, text/event-stream"},
        json.dumps(initialize),
    )
    response = mcp_handler()(event, None)
    assert response["statusCode"] == 401
    (challenge,) = header(response, "www-authenticate")
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="https://{HOST}/.well-known/oauth-protected-resource/mcp"' in (
        challenge
    )


def test_protected_resource_metadata_is_served_through_the_alb() -> None:
    event = alb_event("GET", "/.well-known/oauth-protected-resource/mcp", {})
    response = mcp_handler()(event, None)
    assert response["statusCode"] == 200
    document = json.loads(response["body"])
    assert document["resource"] == MCP_URL
    assert document["authorization_servers"] == [f"https://{HOST}"]
