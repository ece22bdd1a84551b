"""Relaying an authenticated MCP request to its upstream, streaming the answer back.

Streamable HTTP passes through unchanged: ``POST`` with JSON or ``text/event-stream`` answers,
``GET`` streams, ``DELETE``, and the ``Mcp-Session-Id``, ``MCP-Protocol-Version``,
``Mcp-Method``/``Mcp-Name`` (every ``Mcp-*`` header) and ``Last-Event-ID`` headers. What changes:

- ``Authorization`` never reaches the upstream (no token passthrough); the caller's identity
  does, signed (:mod:`gateway.identity`). Only the headers listed here are forwarded, so a
  client cannot forge that identity or any other header the upstream might trust.
- ``Mcp-Session-Id`` is bound to the subject that created the session (:mod:`gateway.sessions`).
- A request body is one JSON-RPC message: it is read whole, bounded (``413`` beyond), and sent
  with its length. Answers stream chunk by chunk as the upstream writes them.
- Connecting is bounded, waiting for the answer's headers is bounded, and a stream may stay
  silent only so long: an upstream that cannot be reached answers ``502``, one that does not
  answer ``504``, both with a JSON-RPC error body (JSON-RPC 2.0 §5.1, id null), never a hang.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import anyio
import httpx
from mcp.server.auth.provider import AccessToken
from mcp.types import INTERNAL_ERROR, INVALID_REQUEST
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from gateway.identity import IDENTITY_HEADER, sign_identity
from gateway.sessions import BoundSessions
from gateway.settings import Upstream
from resourcekit.jsonrpc import send_json
from servicekit.bodies import BodyTooLarge, read_body

logger = logging.getLogger(__name__)

SESSION_HEADER = "mcp-session-id"
# Request headers an upstream sees (besides the identity header): what Streamable HTTP needs.
FORWARDED_REQUEST_HEADERS = frozenset(
    {"accept", "content-type", "last-event-id", "user-agent", "x-request-id"}
)
# Response headers the client never sees from an upstream: hop-by-hop ones (RFC 9110 §7.6.1),
# challenges of the upstream's own (the gateway is the resource the client authorizes for),
# cookies (the gateway shares its origin with the façade), and CORS (the gateway answers it).
DROPPED_RESPONSE_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "www-authenticate",
        "set-cookie",
    }
)
VISIBLE_ASCII = re.compile(r"^[\x21-\x7e]+$")
UPSTREAM_UNAVAILABLE = -32000  # JSON-RPC 2.0 §5.1: implementation-defined server error


def rpc_error(code: int, message: str) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}


def forwarded_headers(headers: Headers) -> dict[str, str]:
    """The request headers passed upstream: the listed ones and every ``Mcp-*`` header."""
    out = {
        name: value
        for name, value in headers.items()
        if name in FORWARDED_REQUEST_HEADERS or name.startswith("mcp-")
    }
    # Compressed answers pass through as they are, so ask for what the client accepts.
    out["accept-encoding"] = headers.get("accept-encoding", "identity")
    return out


def relayed_headers(
    headers: Iterable[tuple[bytes, bytes]], session_id: str | None
) -> list[tuple[bytes, bytes]]:
    """The upstream's response headers as the client receives them."""
    out = [
        (name, value)
        for name, value in headers
        if name.lower().decode("latin-1") not in DROPPED_RESPONSE_HEADERS
        and not name.lower().startswith(b"access-control-")
        and name.lower() != SESSION_HEADER.encode()
    ]
    if session_id is not None:
        out.append((SESSION_HEADER.encode(), session_id.encode("ascii")))
    return out


class UpstreamClient:
    """The one HTTP client every relay shares, open for the duration of the app's lifespan.

    Connecting and waiting for a pool slot are short; a read may wait as long as a stream may stay
    silent (the wait for an answer's headers is bounded separately, by the response timeout).
    """

    def __init__(self, connect_timeout: float, idle_timeout: float) -> None:
        self.timeout = httpx.Timeout(
            connect=connect_timeout, read=idle_timeout, write=connect_timeout, pool=connect_timeout
        )
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("the gateway is not running: run the app's lifespan")
        return self._client

    @asynccontextmanager
    async def lifespan(self, _app: object = None) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
            self._client = client
            try:
                yield
            finally:
                self._client = None


class Forwarder:
    """ASGI app relaying to one upstream; runs behind ``BearerAuthMiddleware``."""

    def __init__(
        self,
        upstream: Upstream,
        *,
        http: UpstreamClient,
        sessions: BoundSessions,
        identity_key: str,
        issuer: str,
        response_timeout: float,
        max_body_size: int,
    ) -> None:
        self.upstream = upstream
        self.http = http
        self.sessions = sessions
        self.identity_key = identity_key
        self.issuer = issuer
        self.response_timeout = response_timeout
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token: AccessToken = scope["user"].access_token
        subject = token.subject or ""
        headers = Headers(scope=scope)
        outgoing = forwarded_headers(headers)
        client_session = headers.get(SESSION_HEADER)
        if client_session is not None:
            upstream_session = self.sessions.unwrap(client_session, subject)
            if upstream_session is None:
                logger.info("session id refused", extra={"subject": subject})
                await send_json(send, 404, rpc_error(INVALID_REQUEST, "Session not found"))
                return
            outgoing[SESSION_HEADER] = upstream_session
        outgoing[IDENTITY_HEADER] = sign_identity(
            token, key=self.identity_key, issuer=self.issuer, resource=self.upstream.resource
        )
        try:
            body = await read_body(receive, self.max_body_size)
        except BodyTooLarge:
            await send_json(send, 413, rpc_error(INVALID_REQUEST, "Request body too large"))
            return
        query = scope.get("query_string", b"").decode("latin-1")
        client = self.http.client
        request = client.build_request(
            scope["method"],
            self.upstream.url + (f"?{query}" if query else ""),
            headers=outgoing,
            content=body,
        )
        try:
            with anyio.fail_after(self.response_timeout):
                response = await client.send(request, stream=True)
        except (TimeoutError, httpx.TimeoutException):
            logger.warning("upstream timed out", extra={"upstream": self.upstream.resource})
            await send_json(send, 504, rpc_error(UPSTREAM_UNAVAILABLE, "Upstream timed out"))
            return
        except httpx.HTTPError as exc:
            logger.warning(
                "upstream unreachable",
                extra={"upstream": self.upstream.resource, "error": type(exc).__name__},
            )
            await send_json(send, 502, rpc_error(INTERNAL_ERROR, "Upstream unavailable"))
            return
        try:
            upstream_session = response.headers.get(SESSION_HEADER)
            if upstream_session is not None and not VISIBLE_ASCII.match(upstream_session):
                # Streamable HTTP: a session id is visible ASCII. Anything else is a broken
                # upstream, not something to sign and hand to the client.
                logger.warning(
                    "upstream session id malformed", extra={"upstream": self.upstream.resource}
                )
                await send_json(send, 502, rpc_error(INTERNAL_ERROR, "Upstream unavailable"))
                return
            session = (
                None if upstream_session is None else self.sessions.wrap(upstream_session, subject)
            )
            await self._relay(response, session, receive, send)
        finally:
            await response.aclose()

    async def _relay(
        self, response: httpx.Response, session: str | None, receive: Receive, send: Send
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": relayed_headers(response.headers.raw, session),
            }
        )
        async with anyio.create_task_group() as group:

            async def stop_on_disconnect() -> None:
                # A client that goes away (an abandoned GET stream) ends the upstream request.
                message: Message = await receive()
                while message["type"] != "http.disconnect":
                    message = await receive()
                group.cancel_scope.cancel()

            group.start_soon(stop_on_disconnect)
            try:
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except httpx.HTTPError as exc:
                # Headers are sent: the only honest signal left is to end the stream.
                logger.warning(
                    "upstream stream ended",
                    extra={"upstream": self.upstream.resource, "error": type(exc).__name__},
                )
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            group.cancel_scope.cancel()
