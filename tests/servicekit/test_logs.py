"""JSON log lines and the request-id middleware both deployables use."""

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from servicekit.logs import LIBRARIES, JSONFormatter, RequestLogMiddleware, configure
from support.mcp_http import whoami
from support.oauth import obtain_code, token_request
from support.stack import Stack, dev_stack


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("kit.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)


async def ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def call(app: RequestLogMiddleware, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        return await http.get("/path?code=secret-code", headers=headers)


async def test_access_line_has_id_status_and_no_query(lines: io.StringIO) -> None:
    app = RequestLogMiddleware(ok, logger="kit.access", describe=lambda scope: {"who": "x"})
    response = await call(app, **{"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    entry = json.loads(lines.getvalue())
    assert entry["request_id"] == "abc-123"
    assert entry["status"] == 204
    assert entry["path"] == "/path"
    assert entry["who"] == "x"
    assert "secret-code" not in lines.getvalue()


async def test_request_id_is_new_when_absent_and_cleaned_when_hostile(
    lines: io.StringIO,
) -> None:
    app = RequestLogMiddleware(ok, logger="kit.access")
    fresh = await call(app)
    assert len(fresh.headers["x-request-id"]) == 32
    hostile = await call(app, **{"x-request-id": 'a"b\\c<d>' + "e" * 300})
    assert hostile.headers["x-request-id"] == "abcd" + "e" * 120  # cut at 128, then cleaned


async def test_lambda_request_id_wins() -> None:
    seen = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["aws.context"] = SimpleNamespace(aws_request_id="lambda-1")
        await RequestLogMiddleware(ok, logger="kit.access")(scope, receive, record)

    async def record(message: dict) -> None:
        seen.append(message)

    await app({"type": "http", "method": "GET", "path": "/", "headers": []}, None, None)  # type: ignore[arg-type]
    assert (b"x-request-id", b"lambda-1") in seen[0]["headers"]


async def test_a_bug_is_logged_with_its_request_id_and_answered_without_a_trace(
    lines: io.StringIO,
) -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("a bug with a secret in its message")

    app = RequestLogMiddleware(broken, logger="kit.access")
    for rid in ("first-id", "second-id"):
        response = await call(app, **{"x-request-id": rid})
        assert response.status_code == 500
        assert response.headers["x-request-id"] == rid
        assert response.json()["error"] == "server_error"
        assert "secret" not in response.text
    entries = [json.loads(line) for line in lines.getvalue().splitlines()]
    failures = [e for e in entries if e["message"] == "unhandled error"]
    assert [e["request_id"] for e in failures] == ["first-id", "second-id"]
    assert "RuntimeError" in failures[0]["exception"]
    assert [e["status"] for e in entries if e["message"] == "request"] == [500, 500]


def test_exceptions_are_part_of_the_json_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("kit", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    line = json.loads(JSONFormatter().format(record))
    assert line["message"] == "failed"
    assert line["level"] == "ERROR"
    assert "ValueError: boom" in line["exception"]


def test_configure_is_idempotent_and_holds_libraries_to_warnings_at_every_level() -> None:
    configure("kitpkg", "INFO")
    configure("kitpkg", "INFO")
    assert len(logging.getLogger("kitpkg").handlers) == 1
    configure("kitpkg", "DEBUG")
    assert logging.getLogger("kitpkg").level == logging.DEBUG
    for name in LIBRARIES:
        library = logging.getLogger(name)
        assert library.level == logging.WARNING, name
        assert library.propagate is False, name
    # A child without a level of its own follows: botocore's body logging stays off.
    assert not logging.getLogger("botocore.parsers").isEnabledFor(logging.DEBUG)


ROOT_AFTER_MCP_SERVER_AT_DEBUG = """
import json, logging
from mcpserver.app import create_app
from mcpserver.settings import Settings
create_app(Settings.from_env({
    "MCP_URL": "https://mcp.example.com/mcp",
    "ISSUER": "https://mcp.example.com",
    "USER_POOL_ID": "us-east-1_TestPool1",
    "MCP_SESSION_SECRET": "s" * 40,
    "MCP_LOG_LEVEL": "DEBUG",
}))
root = logging.getLogger()
print(json.dumps({"level": root.level, "handlers": len(root.handlers)}))
"""


def test_mcp_log_level_debug_leaves_the_root_logger_alone() -> None:
    """Before, MCP_LOG_LEVEL reached the SDK, whose logging.basicConfig put the root logger (and
    with it every library without a level: botocore, urllib3) at DEBUG in a fresh process."""
    run = subprocess.run(
        [sys.executable, "-c", ROOT_AFTER_MCP_SERVER_AT_DEBUG],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"level": logging.WARNING, "handlers": 0}


REDIRECT = "http://127.0.0.1:53710/callback"


def test_both_deployables_at_debug_log_no_secret(tmp_path: Path) -> None:
    """One process hosting the façade and the MCP server at DEBUG (``authproxy dev --log-level
    debug``) creates a backing client on the real stand-in, signs a person in, redeems the code
    and calls a tool: nothing it writes, from any logger, holds a secret, a token or a code.
    Before, botocore logged CreateUserPoolClient's response body, ClientSecret included."""
    with dev_stack("--log-level", "debug", "--store", str(tmp_path / "audit.db")) as stack:
        assert (stack["AUTHPROXY_LOG_LEVEL"], stack["MCP_LOG_LEVEL"]) == ("DEBUG", "DEBUG")
        client = stack.register(
            client_name="log audit",
            redirect_uris=[REDIRECT],
            token_endpoint_auth_method="client_secret_post",
        )
        code, verifier, _ = obtain_code(stack, client, scope=f"{stack.mcp_url}/read")
        tokens = token_request(
            stack.issuer,
            client,
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": verifier,
                "redirect_uri": REDIRECT,
                "resource": stack.mcp_url,
            },
        ).json()
        assert whoami(stack, tokens["access_token"])
        backing = backing_secrets(stack)
        secrets = {
            "client secret": client["client_secret"],
            "registration access token": client["registration_access_token"],
            "code": code,
            "code verifier": verifier,
            "access token": tokens["access_token"],
            "refresh token": tokens["refresh_token"],
            "password": stack["DEMO_PASSWORD"],
            **{f"backing client secret {i}": secret for i, secret in enumerate(backing)},
        }
        written = stack.log_text()
    assert backing, "the flow created no backing client"
    assert '"logger": "authproxy' in written  # the capture holds the deployables' lines
    for name, value in secrets.items():
        assert value not in written, f"the {name} appears in the logs"


def backing_secrets(stack: Stack) -> list[str]:
    """The ClientSecret of every app client in the stand-in's pool (the backing clients)."""
    cognito = stack.aws("cognito-idp")
    pool = stack["USER_POOL_ID"]
    listed = cognito.list_user_pool_clients(UserPoolId=pool, MaxResults=60)["UserPoolClients"]
    described = [
        cognito.describe_user_pool_client(UserPoolId=pool, ClientId=c["ClientId"]) for c in listed
    ]
    return [
        d["UserPoolClient"]["ClientSecret"]
        for d in described
        if "ClientSecret" in d["UserPoolClient"]
    ]


def test_the_time_of_a_line_reads_as_formattime_writes_it_across_seconds() -> None:
    formatter = JSONFormatter()
    for created in (1_800_000_000.001, 1_800_000_000.999, 1_800_000_001.5, 1_799_999_999.25):
        record = logging.makeLogRecord(
            {"msg": "x", "created": created, "msecs": created % 1 * 1000}
        )
        expected = formatter.formatTime(record, "%Y-%m-%dT%H:%M:%S.{ms:03d}%z").format(
            ms=int(record.msecs)
        )
        assert json.loads(formatter.format(record))["time"] == expected
