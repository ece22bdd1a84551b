"""The Lambda handlers behind the template's front door: Application Load Balancer events.

The template puts both functions behind an ALB with multi-value headers on, so what reaches a
handler is an ALB event and what the client sees is the ``multiValueHeaders`` of its answer, as
the function wrote them. These tests send such events to the real handlers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from moto import mock_aws

from authproxy.app import create_lambda_handler
from authproxy.settings import Settings as FacadeSettings
from mcpserver.aws_lambda import build_handler
from mcpserver.settings import Settings as McpSettings

REGION = "eu-west-1"
HOST = "mcp.example.com"
MCP_URL = f"https://{HOST}/mcp"
TARGET_GROUP = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/mcp/0123456789"


def alb_event(
    method: str,
    path: str,
    headers: dict[str, str],
    body: str = "",
    query: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """An ALB request event with ``lambda.multi_value_headers.enabled`` (the template's setting).

    Like the load balancer, it passes query parameters exactly as the client encoded them.
    """
    return {
        "requestContext": {"elb": {"targetGroupArn": TARGET_GROUP}},
        "httpMethod": method,
        "path": path,
        "multiValueQueryStringParameters": query or {},
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


@pytest.fixture
def facade_handler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The façade's Lambda handler on a user pool in moto's Cognito (with the MCP resource)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        cognito = boto3.client("cognito-idp", region_name=REGION)
        pool = cognito.create_user_pool(PoolName="users")["UserPool"]["Id"]
        cognito.create_resource_server(
            UserPoolId=pool,
            Identifier=MCP_URL,
            Name="MCP",
            Scopes=[
                {"ScopeName": "read", "ScopeDescription": "read"},
                {"ScopeName": "write", "ScopeDescription": "write"},
            ],
        )
        settings = FacadeSettings.from_env(
            {
                "ISSUER": f"https://{HOST}",
                "USER_POOL_ID": pool,
                "COGNITO_DOMAIN": "https://login.example.com",
                "AUTHPROXY_RESOURCES": json.dumps([{"resource": MCP_URL}]),
                "AUTHPROXY_SECRET_KEY": "k" * 64,
                "AUTHPROXY_STORE": f"sqlite:///{tmp_path / 'registrations.db'}",
                "AWS_REGION": REGION,
            }
        )
        yield create_lambda_handler(settings)


def test_authorization_server_metadata_is_served_through_the_alb(facade_handler: Any) -> None:
    event = alb_event("GET", "/.well-known/oauth-authorization-server", {})
    response = facade_handler(event, None)
    assert response["statusCode"] == 200
    document = json.loads(response["body"])
    assert document["issuer"] == f"https://{HOST}"
    assert document["authorization_endpoint"] == f"https://{HOST}/authorize"
    assert document["code_challenge_methods_supported"] == ["S256"]


def test_query_parameters_encoded_by_the_client_reach_the_facade_decoded(
    facade_handler: Any,
) -> None:
    """The ALB passes the query string undecoded; the registered redirect URI must still match."""
    redirect_uri = "http://127.0.0.1:33418/callback"
    registration = alb_event(
        "POST",
        "/register",
        {"content-type": "application/json"},
        json.dumps(
            {
                "client_name": "ALB test",
                "redirect_uris": [redirect_uri],
                "token_endpoint_auth_method": "none",
            }
        ),
    )
    registered = facade_handler(registration, None)
    assert registered["statusCode"] == 201, registered["body"]
    client_id = json.loads(registered["body"])["client_id"]

    authorization = alb_event(
        "GET",
        "/authorize",
        {"accept": "text/html"},
        query={
            "response_type": ["code"],
            "client_id": [quote(client_id, safe="")],
            "redirect_uri": [quote(redirect_uri, safe="")],
            "code_challenge": ["E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"],
            "code_challenge_method": ["S256"],
            "state": ["a%20b"],
        },
    )
    response = facade_handler(authorization, None)
    # The consent page (design D6), not the error page of a redirect URI that did not match.
    assert response["statusCode"] == 200, response["body"]
    assert "127.0.0.1" in response["body"]
