"""The façade on Lambda: ALB events (the template's front door) and API Gateway HTTP API events,
answered by the real handler across warm invocations, cookies and redirects intact."""

import base64
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from authproxy.app import create_lambda_handler
from authproxy.settings import Settings
from devstack.cognito import CognitoStandIn
from support.oauth import pkce

HOST = "mcp.example.com"
ISSUER = f"https://{HOST}"
MCP_URL = f"{ISSUER}/mcp"
TARGET_GROUP = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/authproxy/0123"
CLAUDE = {
    "client_name": "claudeai",
    "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
    "token_endpoint_auth_method": "client_secret_post",
    "grant_types": ["authorization_code", "refresh_token"],
    "scope": "claudeai",
}


class Context:
    aws_request_id = "lambda-request-1"
    function_name = "authproxy"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with CognitoStandIn() as standin:
        pool = standin.seed(resources=[(MCP_URL, ["read", "write"])])
        yield {
            "ISSUER": ISSUER,
            "USER_POOL_ID": pool.pool_id,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "COGNITO_ENDPOINT": standin.endpoint,
            "COGNITO_DOMAIN": pool.domain,
            "AUTHPROXY_SECRET_KEY": "lambda-test-key-" * 3,
            "AUTHPROXY_STORE": f"sqlite:///{tmp_path_factory.mktemp('lambda') / 'a.db'}",
            "AUTHPROXY_RESOURCES": json.dumps([{"resource": MCP_URL}]),
        }


@pytest.fixture(scope="module")
def handler(env: dict[str, str]) -> Any:
    with pytest.MonkeyPatch.context() as patch:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            patch.setenv(key, env[key])
        yield create_lambda_handler(Settings.from_env(env))


def alb_event(
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    body: str = "",
    headers: dict[str, str] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An ALB event with multi-value headers on, as the template configures the target group."""
    return {
        "requestContext": {"elb": {"targetGroupArn": TARGET_GROUP}},
        "httpMethod": method,
        "path": path,
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()},
        "multiValueHeaders": {
            "host": [HOST],
            "x-forwarded-proto": ["https"],
            "x-forwarded-port": ["443"],
            **{k.lower(): [v] for k, v in (headers or {}).items()},
        },
        "body": base64.b64encode(body.encode()).decode() if base64_body else body,
        "isBase64Encoded": base64_body,
    }


def http_api_event(method: str, path: str, body: str = "", headers: dict | None = None) -> dict:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": HOST, "x-forwarded-proto": "https", **(headers or {})},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4"},
            "stage": "$default",
            "requestId": "r1",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def header(response: dict[str, Any], name: str) -> list[str]:
    values = [
        v
        for k, vs in response.get("multiValueHeaders", {}).items()
        if k.lower() == name
        for v in vs
    ]
    values += [v for k, v in response.get("headers", {}).items() if k.lower() == name]
    return values


def test_metadata_across_warm_invocations(handler: Any) -> None:
    for _ in range(5):
        response = handler(alb_event("GET", "/.well-known/oauth-authorization-server"), Context())
        assert response["statusCode"] == 200
        assert json.loads(response["body"])["issuer"] == ISSUER
        assert header(response, "x-request-id") == ["lambda-request-1"]


def test_registration_and_authorize_through_the_load_balancer(handler: Any) -> None:
    registered = handler(
        alb_event(
            "POST",
            "/register",
            body=json.dumps(CLAUDE),
            base64_body=True,
            headers={"content-type": "application/json"},
        ),
        Context(),
    )
    assert registered["statusCode"] == 201, registered["body"]
    client = json.loads(registered["body"])
    _, challenge = pkce()
    page = handler(
        alb_event(
            "GET",
            "/authorize",
            query={
                "response_type": "code",
                "client_id": client["client_id"],
                "redirect_uri": "https://claude.ai/api/mcp/auth_callback",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "state": "s t/a+te",
            },
        ),
        Context(),
    )
    assert page["statusCode"] == 200
    assert header(page, "x-frame-options") == ["DENY"]
    cookies = header(page, "set-cookie")
    assert len(cookies) == 1
    assert cookies[0].startswith("__Host-authproxy-csrf=")
    assert "Secure" in cookies[0]


def test_consent_sets_three_cookies_through_the_load_balancer(handler: Any) -> None:
    from support.person import forms

    registered = json.loads(
        handler(alb_event("POST", "/register", body=json.dumps(CLAUDE)), Context())["body"]
    )
    query = {
        "response_type": "code",
        "client_id": registered["client_id"],
        "redirect_uri": "https://claude.ai/api/mcp/auth_callback",
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
    }
    page = handler(alb_event("GET", "/authorize", query=query), Context())
    fields = forms(page["body"])[0].fields
    csrf_cookie = header(page, "set-cookie")[0].split(";")[0]
    body = "&".join(f"{k}={v}" for k, v in {**fields, "decision": "approve"}.items())
    decided = handler(
        alb_event(
            "POST",
            "/consent",
            body=body,
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "cookie": csrf_cookie,
                "origin": ISSUER,
            },
        ),
        Context(),
    )
    assert decided["statusCode"] == 302, decided["body"]
    location = header(decided, "location")[0]
    assert urlsplit(location).path == "/oauth2/authorize"
    cookies = header(decided, "set-cookie")
    assert sorted(c.split("=")[0] for c in cookies) == [
        "__Host-authproxy-consent",
        "__Host-authproxy-csrf",
        "__Host-authproxy-txn",  # the browser binding of the state (design D11)
    ]


def test_http_api_events_are_served_too(handler: Any) -> None:
    response = handler(http_api_event("GET", "/.well-known/openid-configuration"), Context())
    assert response["statusCode"] == 200
    bad = handler(
        http_api_event(
            "POST",
            "/token",
            "grant_type=password&client_id=x",
            {"content-type": "application/x-www-form-urlencoded"},
        ),
        Context(),
    )
    assert bad["statusCode"] == 400
    assert json.loads(bad["body"])["error"] == "unsupported_grant_type"


def test_the_module_builds_its_handler_from_the_environment(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    sys.modules.pop("authproxy.lambda_handler", None)
    module = importlib.import_module("authproxy.lambda_handler")
    response = module.handler(
        alb_event("GET", "/.well-known/oauth-authorization-server"), Context()
    )
    assert response["statusCode"] == 200


def test_misconfiguration_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ISSUER", raising=False)
    sys.modules.pop("authproxy.lambda_handler", None)
    with pytest.raises(Exception, match="ISSUER"):
        importlib.import_module("authproxy.lambda_handler")


COLD_START = """
import json, sys
import snapshot_restore_py
from authproxy.lambda_handler import handler
event = json.loads(sys.argv[1])
answered = handler(event, None)["statusCode"]
loaded = sorted(m for m in ("boto3", "s3transfer", "botocore.client") if m in sys.modules)
for hook, args, kwargs in snapshot_restore_py.get_before_snapshot():
    hook(*args, **kwargs)
print(json.dumps([answered, loaded, "botocore.client" in sys.modules]))
"""


def test_a_cold_start_answers_metadata_without_loading_aws_clients_until_the_snapshot(
    env: dict[str, str],
) -> None:
    """A fresh interpreter answers its first metadata request without importing boto3,
    s3transfer or botocore's client machinery (about 200 ms of a cold start); the SnapStart
    before-snapshot hooks then make the clients, so a restored environment has them."""
    event = alb_event("GET", "/.well-known/oauth-authorization-server")
    result = subprocess.run(
        [sys.executable, "-c", COLD_START, json.dumps(event)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answered, loaded, made_before_snapshot = json.loads(result.stdout.splitlines()[-1])
    assert answered == 200
    assert loaded == []
    assert made_before_snapshot
