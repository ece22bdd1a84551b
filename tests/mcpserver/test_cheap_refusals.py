"""ISSUE 8 item 10, cheap refusals: a request without a bearer token costs the MCP server at most
a small bounded read before its 401 (MCP security best practices, "Resource exhaustion"; RFC 6750
§3.1: the challenge needs no look at the body unless it must name a tool's scopes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.types import Message

from mcpserver.app import create_app
from mcpserver.settings import Settings
from resourcekit.middleware import CHALLENGE_BODY_LIMIT

CHUNK = 16 * 1024
FOUR_MB = 4 * 1024 * 1024 - 1024


class CountingBody:
    """An ASGI ``receive`` serving a large body in chunks, counting the bytes taken from it."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.taken = 0

    async def __call__(self) -> Message:
        if self.taken >= len(self.body):
            return {"type": "http.disconnect"}
        chunk = self.body[self.taken : self.taken + CHUNK]
        self.taken += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": self.taken < len(self.body)}


def tool_call(name: str, padding: int) -> bytes:
    """A ``tools/call`` whose arguments carry ``padding`` bytes: a body of about that size."""
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": name, "arguments": {"instance_id": "i-1", "pad": "x" * padding}},
        }
    ).encode()


async def post_without_token(
    settings: Settings, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], int]:
    """POST ``body`` to the MCP endpoint as an ASGI server would: status, headers, bytes read."""
    app = create_app(settings)
    host = settings.mcp_url.split("/")[2]
    raw_headers = [
        (b"host", host.encode()),
        (b"content-type", b"application/json"),
        (b"accept", b"application/json, text/event-stream"),
        (b"content-length", str(len(body)).encode()),
        *((k.encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": settings.path,
        "raw_path": settings.path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }
    receive = CountingBody(body)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    answered = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], answered, receive.taken


@pytest.fixture
def settings(mcp_server: Any) -> Settings:
    return mcp_server.settings  # type: ignore[no-any-return]


async def test_issue8_cheap_refusal_of_a_4mb_body_reads_at_most_64kb(settings: Settings) -> None:
    status, headers, taken = await post_without_token(
        settings, tool_call("stop_ec2_instance", FOUR_MB)
    )
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer ")
    assert taken <= CHALLENGE_BODY_LIMIT + CHUNK
    assert CHALLENGE_BODY_LIMIT <= 64 * 1024


async def test_issue8_cheap_refusal_names_the_tool_scope_from_the_mcp_name_header(
    settings: Settings,
) -> None:
    status, headers, taken = await post_without_token(
        settings,
        tool_call("stop_ec2_instance", FOUR_MB),
        {"mcp-method": "tools/call", "mcp-name": "stop_ec2_instance"},
    )
    assert status == 401
    assert taken == 0
    both = f'scope="{settings.mcp_url}/read {settings.mcp_url}/write"'
    assert both in headers["www-authenticate"]


async def test_issue8_cheap_refusal_names_the_tool_scope_from_a_small_body(
    settings: Settings,
) -> None:
    status, headers, _ = await post_without_token(settings, tool_call("stop_ec2_instance", 100))
    assert status == 401
    both = f'scope="{settings.mcp_url}/read {settings.mcp_url}/write"'
    assert both in headers["www-authenticate"]


async def test_issue8_cheap_refusal_of_a_read_only_call_names_only_the_read_scope(
    settings: Settings,
) -> None:
    status, headers, _ = await post_without_token(settings, tool_call("whoami", 100))
    assert status == 401
    assert f'scope="{settings.mcp_url}/read"' in headers["www-authenticate"]
