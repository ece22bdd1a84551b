"""The Lambda handler, invoked in this process with API Gateway HTTP API and Function URL events.

The events follow the payload format 2.0 documented for HTTP APIs ("Working with AWS Lambda proxy
integrations for HTTP APIs") and Function URLs ("Invoking Lambda function URLs"). One handler
serves several invocations in a row, as a warm execution environment does.
"""

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
import snapshot_restore_py
from starlette.types import Message

from mcpserver.aws_lambda import LambdaApp, build_handler, without_stage
from mcpserver.settings import Settings
from tests.mcpserver.conftest import Tokens

API_HOST = "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
MCP_URL = f"https://{API_HOST}/mcp"
URL_HOST = "abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws"
ACCEPT = "application/json, text/event-stream"


def http_api_event(
    method: str,
    path: str,
    *,
    host: str = API_HOST,
    stage: str = "$default",
    headers: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API (v2) event; ``stage`` other than ``$default`` prefixes the path."""
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    payload = json.dumps(body) if body is not None else None
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": {
            "accept": ACCEPT,
            "content-length": str(len(payload or "")),
            "host": host,
            "user-agent": "test",
            "x-amzn-trace-id": "Root=1-67891233-abcdef012345678912345678",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            **({"content-type": "application/json"} if payload else {}),
            **(headers or {}),
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": host.split(".")[0],
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "test",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": stage,
            "time": "21/Nov/2026:22:00:00 +0000",
            "timeEpoch": 1795302000000,
        },
        "isBase64Encoded": base64_body,
    }
    if payload is not None:
        event["body"] = base64.b64encode(payload.encode()).decode() if base64_body else payload
    return event


def function_url_event(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """A Lambda Function URL event: payload 2.0 with no stage prefix and an IAM-less authorizer."""
    event = http_api_event(method, path, host=URL_HOST, **kwargs)
    event["requestContext"]["authentication"] = None
    return event


class FakeContext:
    """The parts of the Lambda context object Mangum reads."""

    function_name = "mcpserver"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def jwks_file(tmp_path: Path, signing_key: Any) -> str:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [signing_key.as_dict(private=False)]}))
    return str(path)


def lambda_env(mcp_url: str, jwks_file: str, issuer: str) -> dict[str, str]:
    return {
        "MCP_URL": mcp_url,
        "ISSUER": mcp_url.rsplit("/", 1)[0],
        "COGNITO_ISSUER": issuer,
        "AWS_REGION": "eu-west-1",
        "MCP_SESSION_SECRET": "s" * 40,
        "MCP_JWKS_FILE": jwks_file,
    }


def tools_list(token: str) -> dict[str, Any]:
    return {
        "headers": {"authorization": f"Bearer {token}", "mcp-protocol-version": "2025-06-18"},
        "body": {"jsonrpc": "2.0", "id": 7, "method": "tools/list"},
    }


def assert_challenge(response: dict[str, Any], origin: str) -> None:
    assert response["statusCode"] == 401
    headers = {name.lower(): value for name, value in response["headers"].items()}
    assert headers["www-authenticate"].startswith(
        f'Bearer resource_metadata="{origin}/.well-known/oauth-protected-resource/mcp"'
    )


@pytest.mark.parametrize(
    ("make_event", "host"),
    [(http_api_event, API_HOST), (function_url_event, URL_HOST)],
    ids=["http-api", "function-url"],
)
def test_warm_invocations(
    make_event: Any, host: str, jwks_file: str, tokens: Any, jwks_server: Any
) -> None:
    mcp_url = f"https://{host}/mcp"
    handler = build_handler(Settings.from_env(lambda_env(mcp_url, jwks_file, jwks_server.issuer)))
    token = tokens.access(scope=f"{mcp_url}/read")
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "lambda-test", "version": "0"},
        },
    }
    responses = [
        handler(make_event("POST", "/mcp", body=initialize), FakeContext()),
        handler(make_event("GET", "/.well-known/oauth-protected-resource/mcp"), FakeContext()),
        handler(make_event("POST", "/mcp", **tools_list(token)), FakeContext()),
        handler(make_event("POST", "/mcp", base64_body=True, **tools_list(token)), FakeContext()),
        handler(make_event("POST", "/mcp", body=initialize), FakeContext()),
    ]
    assert_challenge(responses[0], f"https://{host}")
    assert responses[1]["statusCode"] == 200
    assert json.loads(responses[1]["body"])["resource"] == mcp_url
    for listed in responses[2:4]:
        assert listed["statusCode"] == 200
        tools = json.loads(listed["body"])["result"]["tools"]
        assert "whoami" in {tool["name"] for tool in tools}
    assert_challenge(responses[4], f"https://{host}")


def test_a_stage_prefix_is_served(jwks_file: str, tokens: Any, jwks_server: Any) -> None:
    """A named stage: MCP_URL includes it, or (custom domain mapping) leaves it out."""
    with_stage = f"https://{API_HOST}/prod/mcp"
    handler = build_handler(
        Settings.from_env(lambda_env(with_stage, jwks_file, jwks_server.issuer))
    )
    token = tokens.access(scope=f"{with_stage}/read")
    listed = handler(http_api_event("POST", "/mcp", stage="prod", **tools_list(token)), None)
    assert listed["statusCode"] == 200

    mapped = "https://mcp.example.com/mcp"
    handler = build_handler(Settings.from_env(lambda_env(mapped, jwks_file, jwks_server.issuer)))
    event = http_api_event(
        "POST",
        "/mcp",
        stage="prod",
        host="mcp.example.com",
        **tools_list(tokens.access(scope=f"{mapped}/read")),
    )
    assert handler(event, None)["statusCode"] == 200
    metadata = handler(
        http_api_event(
            "GET", "/.well-known/oauth-protected-resource/mcp", stage="prod", host="mcp.example.com"
        ),
        None,
    )
    assert json.loads(metadata["body"])["resource"] == mapped


def test_without_stage() -> None:
    event = http_api_event("GET", "/mcp", stage="prod")
    stripped = without_stage(event, "/mcp")
    assert stripped["rawPath"] == "/mcp"
    assert stripped["requestContext"]["http"]["path"] == "/mcp"
    assert event["rawPath"] == "/prod/mcp"  # the original is left alone
    assert without_stage(event, "/prod/mcp") is event
    unstaged = http_api_event("GET", "/mcp")
    assert without_stage(unstaged, "/mcp") is unstaged


def test_the_application_is_started_once_per_execution_environment(
    jwks_file: str, tokens: Any, jwks_server: Any
) -> None:
    """Started (and its first requests rehearsed) when the handler is built, in the init phase,
    and never stopped between invocations: Mangum runs no lifespan per invocation."""
    mcp_url = f"https://{API_HOST}/mcp"
    handler = build_handler(Settings.from_env(lambda_env(mcp_url, jwks_file, jwks_server.issuer)))
    assert isinstance(handler, LambdaApp)
    token = tokens.access(scope=f"{mcp_url}/read")
    for _ in range(2):
        assert (
            handler(http_api_event("POST", "/mcp", **tools_list(token)), None)["statusCode"] == 200
        )
    # Between invocations the SDK's session managers still run: the transport answers directly.
    answers: list[Message] = []

    async def send(message: Message) -> None:
        answers.append(message)

    async def receive() -> Message:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "headers": [
            (b"host", API_HOST.encode()),
            (b"content-type", b"application/json"),
            (b"accept", b"application/json, text/event-stream"),
        ],
    }
    asyncio.get_event_loop().run_until_complete(handler.app.state.transport(scope, receive, send))
    assert answers[0]["status"] == 200


def test_the_issuers_key_set_is_fetched_in_the_init_phase(jwks_server: Any, tokens: Any) -> None:
    """With no key file, the handler fetches the issuer's JWKS while it is built (so a SnapStart
    snapshot holds it), and the first call fetches nothing."""
    mcp_url = f"https://{API_HOST}/mcp"
    env = {**lambda_env(mcp_url, "", jwks_server.issuer), "MCP_JWKS_FILE": ""}
    before = jwks_server.fetches
    handler = build_handler(Settings.from_env(env))
    assert jwks_server.fetches == before + 1
    token = tokens.access(scope=f"{mcp_url}/read")
    assert handler(http_api_event("POST", "/mcp", **tools_list(token)), None)["statusCode"] == 200
    assert jwks_server.fetches == before + 1


def test_mcp_security_token_validation_a_key_removed_before_a_restore_is_not_trusted(
    fresh_jwks: Any, new_key: Any
) -> None:
    """The issuer's key set is fetched in the init phase, so a SnapStart snapshot holds it; a
    snapshot may be restored weeks later. A key the issuer has removed since (rotated out after a
    compromise) must not verify anything in a restored environment: the key set is fetched again
    right after the restore, as the session keys are (servicekit.keys.refresh_after_restore).
    Whoever holds the removed key keeps its ``kid``, so no unknown ``kid`` would ever trigger a
    refresh on its own."""
    issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Restored"
    env = {**lambda_env(MCP_URL, "", issuer), "JWKS_URL": fresh_jwks.url}
    del env["MCP_JWKS_FILE"]
    since = len(snapshot_restore_py.get_after_restore())
    handler = build_handler(Settings.from_env(env))
    (removed,) = fresh_jwks.keys
    current = new_key("k2")
    fresh_jwks.keys = [current]
    for func, args, kwargs in snapshot_restore_py.get_after_restore()[since:]:
        func(*args, **kwargs)  # what Lambda's runtime does right after restoring
    fetches = fresh_jwks.fetches

    def call(key: Any) -> dict[str, Any]:
        token = Tokens(key, issuer, MCP_URL).access()
        return handler(http_api_event("POST", "/mcp", **tools_list(token)), FakeContext())

    assert call(current)["statusCode"] == 200
    # The restore fetched the set: the first call needed no fetch of its own.
    assert fresh_jwks.fetches == fetches
    assert call(removed)["statusCode"] == 401
