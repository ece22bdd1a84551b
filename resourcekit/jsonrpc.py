"""Looking inside an MCP request (JSON-RPC 2.0 §4, §6) without consuming it.

Authorization and session binding need to know which method a POST calls (``tools/call`` of
which tool, ``initialize`` or not) before the server behind them sees the request. These helpers
read the body once, hand it back to the next ASGI app unchanged, and never interpret more than the
``method`` and ``params.name`` members. :func:`send_json` answers a request these layers refuse.

Every layer of one request shares one read and one parse: :func:`buffer_body` keeps the body, its
replaying ``receive`` and the decoded JSON in the ASGI scope, and a later layer that is handed
that same ``receive`` takes them from there instead of reading and parsing again.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any, Final

from mcp.shared.inbound import MCP_METHOD_HEADER, MCP_NAME_HEADER
from starlette.types import Message, Receive, Scope, Send

from servicekit.bodies import BodyTooLarge, read_body

# MCP transports, "Standard headers": a value that is not visible ASCII travels as
# ``=?base64?<RFC 4648 base64 of its UTF-8>?=``.
_BASE64_VALUE = re.compile(r"^=\?base64\?(?P<payload>[A-Za-z0-9+/=]*)\?=$")
# Where a request's buffered body lives in its ASGI scope.
_SCOPE_KEY: Final = "resourcekit.body"


class NotJSON:
    """What a body decodes to when it is not JSON (so ``None``, JSON ``null``, stays distinct)."""


NOT_JSON: Final = NotJSON()


def decode(body: bytes) -> Any:
    """``body`` as JSON, or :data:`NOT_JSON`."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return NOT_JSON


class BufferedBody:
    """A body read once: its bytes, a ``receive`` that replays them, its JSON parsed once."""

    def __init__(self, body: bytes, receive: Receive) -> None:
        self.body = body
        self.receive = receive
        self._decoded: Any = None
        self._parsed = False

    @property
    def decoded(self) -> Any:
        """The body as JSON (parsed once) or :data:`NOT_JSON`; callers must not change it."""
        if not self._parsed:
            self._decoded, self._parsed = decode(self.body), True
        return self._decoded

    def requests(self) -> list[Mapping[str, Any]]:
        """The request and notification objects the body holds (:func:`requests_in`)."""
        return requests_of(self.decoded)


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


async def buffer_body(
    scope: Scope, receive: Receive, send: Send, limit: int
) -> BufferedBody | None:
    """The body with a ``receive`` that replays it; None once a too-large body was answered 413.

    A layer behind the one that buffered the body, handed its replaying ``receive``, gets the same
    :class:`BufferedBody` back from the scope: nothing has consumed the replay in between.
    """
    held = scope.get(_SCOPE_KEY)
    if isinstance(held, BufferedBody) and held.receive is receive:
        return held
    try:
        body = await read_body(receive, limit)
    except BodyTooLarge:
        await send_json(send, 413, {"error": "request body too large"})
        return None
    buffered = BufferedBody(body, replay(body, receive))
    scope[_SCOPE_KEY] = buffered
    return buffered


def requests_of(decoded: Any) -> list[Mapping[str, Any]]:
    """The request and notification objects of a decoded single message or batch."""
    messages = decoded if isinstance(decoded, list) else [decoded]
    return [m for m in messages if isinstance(m, Mapping) and isinstance(m.get("method"), str)]


def requests_in(body: bytes) -> list[Mapping[str, Any]]:
    """The request and notification objects of a single message or a batch; ``[]`` if not JSON."""
    return requests_of(decode(body))


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


def header_tool(headers: Mapping[str, str]) -> list[str]:
    """The tool a ``tools/call`` names in its ``Mcp-Method``/``Mcp-Name`` headers, if it does."""
    name = headers.get(MCP_NAME_HEADER)
    if headers.get(MCP_METHOD_HEADER) != "tools/call" or not name:
        return []
    encoded = _BASE64_VALUE.match(name)
    if encoded is None:
        return [name]
    try:
        return [base64.b64decode(encoded["payload"], validate=True).decode("utf-8")]
    except (binascii.Error, UnicodeDecodeError):
        return []


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
