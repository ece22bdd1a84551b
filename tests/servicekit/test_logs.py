"""JSON log lines and the request-id middleware both deployables use."""

import io
import json
import logging
import sys
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from servicekit.logs import JSONFormatter, RequestLogMiddleware, configure


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


def test_configure_is_idempotent_and_quiets_libraries() -> None:
    configure("kitpkg", "INFO", libraries=("kitlib",))
    configure("kitpkg", "INFO", libraries=("kitlib",))
    assert len(logging.getLogger("kitpkg").handlers) == 1
    assert logging.getLogger("kitlib").level == logging.WARNING
    configure("kitpkg", "DEBUG", libraries=("kitlib",))
    assert logging.getLogger("kitlib").level == logging.DEBUG
