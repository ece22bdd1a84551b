"""Looking inside a POSTed JSON-RPC body (JSON-RPC 2.0 §4, §6) without consuming it.

Authorization and session binding need to know which method a POST calls (``tools/call`` of
which tool, ``initialize`` or not) before the MCP SDK sees the request. These helpers read the
body once, hand it back to the next ASGI app unchanged, and never interpret more than the
``method`` and ``params.name`` members. :func:`send_json` answers a request these layers refuse.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.types import Message, Receive, Send

from servicekit import text


class BodyTooLarge(Exception):
    """The request body exceeds the configured limit."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """Read the whole ASGI request body, refusing more than ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields ``body`` once, then defers to the original (for disconnects)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def buffer_body(receive: Receive, send: Send, limit: int) -> tuple[bytes, Receive] | None:
    """The body and a ``receive`` that replays it; None once a too-large body was answered 413."""
    try:
        body = await read_body(receive, limit)
    except BodyTooLarge:
        await send_json(send, 413, {"error": "request body too large"})
        return None
    return body, replay(body, receive)


def requests_in(body: bytes) -> list[Mapping[str, Any]]:
    """The request and notification objects of a single message or a batch; ``[]`` if not JSON."""
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return []
    messages = decoded if isinstance(decoded, list) else [decoded]
    return [m for m in messages if isinstance(m, Mapping) and isinstance(m.get("method"), str)]


def envelope_problem(body: bytes) -> str | None:
    """Why ``body`` is not one well-formed JSON-RPC 2.0 message as MCP sends them (JSON-RPC 2.0
    §4, §5; MCP base protocol: ids are strings or integers, never null; no batches since
    2025-06-18), or None. A body that is not JSON at all is left to the SDK (-32700). Every
    string must be well-formed Unicode without NUL (:mod:`servicekit.text`)."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not text.json_well_formed(message):
        return text.PROBLEM
    if isinstance(message, list):
        return "JSON-RPC batches are not supported"
    if not isinstance(message, Mapping):
        return "a JSON-RPC message must be an object"
    if message.get("jsonrpc") != "2.0":
        return 'jsonrpc must be "2.0"'
    if "id" in message and (type(message["id"]) not in (str, int)):
        return "id must be a string or an integer"
    if "method" in message:
        if not isinstance(message["method"], str):
            return "method must be a string"
        return None
    if "id" not in message or ("result" in message) == ("error" in message):
        return "a message needs a method, or an id with a result or an error"
    return None


async def send_rpc_error(send: Send, code: int, message: str) -> None:
    """A JSON-RPC error for a message whose id cannot be trusted (JSON-RPC 2.0 §5: id null)."""
    await send_json(
        send, 400, {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
    )


def called_tools(messages: list[Mapping[str, Any]]) -> list[str]:
    """Names of the tools that ``tools/call`` requests among ``messages`` call."""
    names = []
    for message in messages:
        params = message.get("params")
        if message["method"] == "tools/call" and isinstance(params, Mapping):
            name = params.get("name")
            if isinstance(name, str):
                names.append(name)
    return names


async def send_json(
    send: Send, status: int, body: Any, headers: Mapping[str, str] | None = None
) -> None:
    """Answer with a JSON document; responses about credentials are never cached."""
    payload = json.dumps(body).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
        *(
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in (headers or {}).items()
        ),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})
