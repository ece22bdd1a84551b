"""What keeps a served tool call cheap, checked as properties rather than times (issue 11):
start-up objects kept from the garbage collector, one async-library lookup per request, and
``POST``s to the MCP endpoint handed to it without Starlette's router in between."""

from __future__ import annotations

import gc
import json
from typing import Any

import httpx
import sniffio
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.testclient import TestClient
from starlette.types import Message

from mcpserver.app import create_app
from mcpserver.settings import Settings
from mcpserver.transport import StatelessTransport

from .conftest import mcp_environment

MCP_URL = "https://mcp.example.com/mcp"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1"


def settings() -> Settings:
    return Settings.from_env(mcp_environment(MCP_URL, ISSUER, JWKS_URL=f"{ISSUER}/jwks.json"))


def test_startup_objects_are_kept_from_the_collector() -> None:
    gc.unfreeze()
    with TestClient(create_app(settings()), base_url="https://mcp.example.com"):
        assert gc.get_freeze_count() > 0


async def test_the_sdk_is_told_the_async_library_once_per_request() -> None:
    server = MCPServer("library")
    seen: list[str | None] = []

    @server.tool()
    async def library() -> str:
        """The async library the request's context names."""
        seen.append(sniffio.current_async_library_cvar.get())
        return "ok"

    transport = StatelessTransport(
        server, TransportSecuritySettings(enable_dns_rebinding_protection=False)
    )
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "library"}}
    async with transport.lifespan():
        http = httpx.ASGITransport(app=AuthContextMiddleware(transport))
        async with httpx.AsyncClient(transport=http, base_url="http://test") as client:
            answer = await client.post(
                "/mcp",
                json=call,
                headers={"accept": "application/json, text/event-stream"},
            )
    assert answer.status_code == 200, answer.text
    assert seen == ["asyncio"]
    # Told for that request only: the caller's context is as it was.
    assert sniffio.current_async_library_cvar.get() is None


async def test_mcp_posts_skip_the_router() -> None:
    app = create_app(settings())

    async def answer(method: str) -> tuple[dict[str, Any], list[Message]]:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "https",
            "path": "/mcp",
            "raw_path": b"/mcp",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"mcp.example.com"), (b"content-type", b"application/json")],
            "client": ("203.0.113.7", 4000),
            "server": ("mcp.example.com", 443),
        }
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": json.dumps({}).encode(), "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return scope, sent

    routed, _ = await answer("GET")
    assert "router" in routed
    direct, sent = await answer("POST")
    assert "router" not in direct
    # The same answer as through the route: the challenge, CORS's Vary and the request id.
    start = sent[0]
    names = {name for name, _ in start["headers"]}
    assert start["status"] == 401
    assert {b"www-authenticate", b"vary", b"x-request-id"} <= names
