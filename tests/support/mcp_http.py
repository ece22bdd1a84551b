"""MCP over Streamable HTTP, request by request, for tests that reproduce what a particular client
puts on the wire: the handshake-era session (``initialize``, ``Mcp-Session-Id``,
``notifications/initialized``) and JSON-RPC calls in it."""

from __future__ import annotations

import itertools
import json
from typing import Any

import httpx

from .stack import Stack

# What handshake-era clients send on every MCP request.
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
_ids = itertools.count()
# As generous as the other helpers' (support.person, support.oauth): the load test queues requests.
TIMEOUT = 30


def initialize_params(protocol: str, client: str, version: str) -> dict[str, Any]:
    return {
        "protocolVersion": protocol,
        "capabilities": {},
        "clientInfo": {"name": client, "version": version},
    }


def rpc(
    stack: Stack, method: str, params: dict[str, Any] | None, headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST one JSON-RPC request to the MCP endpoint (a notification when ``params`` is None)."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message.update(id=next(_ids), params=params)
    return httpx.post(
        stack.mcp_url,
        content=json.dumps(message),
        headers={**HEADERS, **(headers or {})},
        timeout=TIMEOUT,
    )


def result(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC result, from a JSON body or the single event of an SSE body."""
    assert response.status_code == 200, response.text
    body = response.text
    if response.headers["content-type"].startswith("text/event-stream"):
        body = next(line[5:] for line in body.splitlines() if line.startswith("data:"))
    message = json.loads(body)
    assert "result" in message, message
    return dict(message["result"])


def open_session(
    stack: Stack, access_token: str, params: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """``initialize`` with a bearer token, then ``notifications/initialized``. Returns the
    initialize result and the headers every later request in the session carries."""
    bearer = {"Authorization": f"Bearer {access_token}"}
    initialized = rpc(stack, "initialize", params, bearer)
    answer = result(initialized)
    session = {"Mcp-Session-Id": initialized.headers["mcp-session-id"], **bearer}
    assert rpc(stack, "notifications/initialized", None, session).status_code == 202
    return answer, session


def whoami(stack: Stack, access_token: str) -> dict[str, Any]:
    """The MCP server's ``whoami`` tool, called in a fresh session."""
    _, session = open_session(
        stack, access_token, initialize_params("2025-06-18", "authproxy-e2e", "0")
    )
    called = result(rpc(stack, "tools/call", {"name": "whoami", "arguments": {}}, session))
    assert called["isError"] is False, called
    return dict(called["structuredContent"])
