"""JSON-RPC envelope checks of the MCP server (JSON-RPC 2.0 §4, §5), before the SDK sees a body.

The helpers that read a body without consuming it, shared with the gateway, are in
:mod:`resourcekit.jsonrpc`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.types import Send

from resourcekit.jsonrpc import NOT_JSON, decode, send_json
from servicekit import text


def envelope_problem(body: bytes) -> str | None:
    """Why ``body`` is not one well-formed JSON-RPC 2.0 message as MCP sends them (JSON-RPC 2.0
    §4, §5; MCP base protocol: ids are strings or integers, never null; no batches since
    2025-06-18), or None. A body that is not JSON at all is left to the SDK (-32700). Every
    string must be well-formed Unicode without NUL (:mod:`servicekit.text`)."""
    return message_problem(decode(body), body)


def message_problem(message: Any, body: bytes | None = None) -> str | None:
    """:func:`envelope_problem` of a body already decoded (:func:`resourcekit.jsonrpc.decode`);
    given the ``body`` it was decoded from, the strings need no walk when its bytes alone vouch
    for them."""
    if message is NOT_JSON:
        return None
    # RFC 8259 §8.1: JSON between systems is UTF-8. json.loads (and so the SDK's 2026-07-28 path)
    # also reads UTF-16 and UTF-32, whose encoding of any JSON text has a NUL byte (its first
    # character is ASCII); UTF-8 JSON never has one.
    if body is not None and b"\x00" in body:
        return "a JSON text must be UTF-8"
    surely_well_formed = body is not None and text.json_text_surely_well_formed(body)
    if not surely_well_formed and not text.json_well_formed(message):
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
