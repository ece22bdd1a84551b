import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from mcpserver.auth import BearerAuthMiddleware, CognitoTokenVerifier
from resourcekit.access import access_fields
from resourcekit.jwks import RemoteJWKS
from servicekit.logs import JSONFormatter, RequestLogMiddleware


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The package's log records as this process writes them: JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    # The verifier's records come from the shared core, resourcekit.
    loggers = [logging.getLogger(name) for name in ("mcpserver", "resourcekit")]
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield stream
    for logger, level in zip(loggers, previous, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


async def ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def test_requests_are_logged_as_json_with_their_id_and_no_token(
    log_lines: io.StringIO, tokens: Any, jwks_server: Any
) -> None:
    verifier = CognitoTokenVerifier(
        issuer=tokens.issuer,
        resource=tokens.resource,
        scopes=["read"],
        keys=RemoteJWKS(jwks_server.url),
    )
    app = RequestLogMiddleware(
        BearerAuthMiddleware(ok, verifier, resource_metadata_url="https://x/.well-known/y"),
        logger="mcpserver.access",
        describe=access_fields,
    )
    expired = tokens.access(exp=1)
    valid = tokens.access()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        refused = await http.post("/mcp", headers={"authorization": f"Bearer {expired}"})
        accepted = await http.post(
            "/mcp", headers={"authorization": f"Bearer {valid}", "x-request-id": "req-42"}
        )
    assert refused.status_code == 401
    assert accepted.status_code == 200

    text = log_lines.getvalue()
    assert expired not in text
    assert valid not in text
    records = [json.loads(line) for line in text.splitlines()]
    refusal = next(r for r in records if r["message"] == "bearer token refused")
    assert "exp" in refusal["reason"]
    access = [r for r in records if r["logger"] == "mcpserver.access"]
    assert [(r["status"], r["path"]) for r in access] == [(401, "/mcp"), (200, "/mcp")]
    assert access[1]["request_id"] == "req-42"
    assert access[1]["subject"] == "7f1e9c2a-0000-4000-8000-00000000d3e0"
    # What joins the call to its sign-in (design D14), and why the other was refused.
    assert access[1]["step"] == "mcp"
    assert access[1]["origin_jti"]
    assert access[0]["reason"] == "invalid_token"
    assert refusal["request_id"] == access[0]["request_id"]
    assert access[0]["request_id"]
