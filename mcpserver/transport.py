"""The MCP SDK's Streamable HTTP transport, stateless and restartable (design D10).

Every request is served on its own by the SDK's ``StreamableHTTPSessionManager`` in stateless
mode, so any instance answers any request and the handshake-era and 2026-07-28 paths both work.
Responses are JSON; only a request that asks for progress (``params._meta.progressToken``) and
accepts ``text/event-stream`` is answered as an SSE stream, the one way its progress
notifications can reach the client.

A session manager can be run only once (python-sdk #3121), while an ASGI host may run the
application's lifespan once per process (uvicorn) or once per invocation (Mangum on a warm
Lambda). :meth:`StatelessTransport.lifespan` therefore takes fresh managers every time; the
Lambda handler enters it once per execution environment (:mod:`mcpserver.aws_lambda`).

:meth:`StatelessTransport.prime` answers a few side-effect-free requests in-process, so the SDK's
lazily imported modules and lazily built validators exist before the first client's request (in
Lambda's init phase, which SnapStart snapshots).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import sniffio
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE, TransportSecuritySettings
from mcp.types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    INVALID_REQUEST,
    PROTOCOL_VERSION_META_KEY,
)
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from starlette.types import Message, Receive, Scope, Send

from mcpserver.jsonrpc import message_problem, send_rpc_error
from resourcekit.jsonrpc import buffer_body, send_json
from servicekit.headers import request_headers


def wants_progress(messages: list[Mapping[str, Any]]) -> bool:
    """Whether a request asks for progress notifications (MCP "Progress": ``_meta``)."""
    for message in messages:
        params = message.get("params")
        meta = params.get("_meta") if isinstance(params, Mapping) else None
        if isinstance(meta, Mapping) and meta.get("progressToken") is not None:
            return True
    return False


class StatelessTransport:
    """ASGI app for the MCP endpoint: ``POST`` goes to the SDK, ``GET`` and ``DELETE`` get 405.

    Stateless servers have no server-to-client stream to offer on ``GET`` and no session to end
    on ``DELETE``; the transport specification lets them answer 405 to both.
    """

    def __init__(
        self,
        server: MCPServer,
        security: TransportSecuritySettings,
        max_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE,
    ) -> None:
        self.server = server
        self.security = security
        self.max_body_size = max_body_size
        self._json: StreamableHTTPSessionManager | None = None
        self._sse: StreamableHTTPSessionManager | None = None

    def _session_manager(self, *, json_response: bool) -> StreamableHTTPSessionManager:
        # MCPServer hands out a new session manager only through streamable_http_app(); the
        # Starlette app it also builds is not used.
        self.server.streamable_http_app(
            stateless_http=True,
            json_response=json_response,
            transport_security=self.security,
            max_request_body_size=self.max_body_size,
        )
        return self.server.session_manager

    @asynccontextmanager
    async def lifespan(self, _app: object = None) -> AsyncIterator[None]:
        """Run fresh SDK session managers for the duration of one ASGI lifespan."""
        json_manager = self._session_manager(json_response=True)
        sse_manager = self._session_manager(json_response=False)
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(json_manager.run())
            await stack.enter_async_context(sse_manager.run())
            self._json, self._sse = json_manager, sse_manager
            try:
                yield
            finally:
                self._json = self._sse = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._json is None or self._sse is None:
            raise RuntimeError("the MCP transport is not running: run the app's lifespan")
        if scope["method"] != "POST":
            await send_json(
                send,
                405,
                {"error": "this stateless server offers no stream and no session to end"},
                {"allow": "POST"},
            )
            return
        buffered = await buffer_body(scope, receive, send, self.max_body_size)
        if buffered is None:
            return
        problem = message_problem(buffered.decoded, buffered.body)
        if problem is not None:
            await send_rpc_error(send, INVALID_REQUEST, f"Invalid Request: {problem}")
            return
        accepts_sse = "text/event-stream" in request_headers(scope).get("accept", "")
        manager = self._sse if accepts_sse and wants_progress(buffered.requests()) else self._json
        # anyio asks sniffio which async library runs at every checkpoint, cancel scope and stream
        # the SDK opens (about 30 per request); without an answer in its context variable, sniffio
        # looks up the current task each time. The answer cannot change within a request: it is
        # looked up once here, and the SDK's tasks for this request inherit it.
        library = sniffio.current_async_library_cvar.set(sniffio.current_async_library())
        try:
            await manager.handle_request(scope, buffered.receive, send)
        finally:
            sniffio.current_async_library_cvar.reset(library)

    async def prime(self, host: str, path: str) -> None:
        """Serve, in-process, what a first client sends on each wire revision this server speaks:
        ``initialize`` (handshake era), ``tools/list`` and a ``whoami`` call. The call is made for
        a placeholder principal that exists only here (``whoami`` only reads it back); nothing
        leaves the process, no tool with side effects runs, and the answers are discarded."""
        client = {"name": "prime", "version": "0"}
        served = AuthContextMiddleware(self)
        for version in HANDSHAKE_PROTOCOL_VERSIONS:
            initialize = {"protocolVersion": version, "capabilities": {}, "clientInfo": client}
            await served(*_request(host, path, version, "initialize", initialize))
            await served(*_request(host, path, version, "tools/list", {}))
            await served(*_request(host, path, version, "tools/call", {"name": "whoami"}))
        for version in MODERN_PROTOCOL_VERSIONS:
            meta = {
                PROTOCOL_VERSION_META_KEY: version,
                CLIENT_INFO_META_KEY: client,
                CLIENT_CAPABILITIES_META_KEY: {},
            }
            await served(*_request(host, path, version, "tools/list", {"_meta": meta}))
            call = {"name": "whoami", "_meta": meta}
            await served(*_request(host, path, version, "tools/call", call))


_PLACEHOLDER = AuthenticatedUser(
    AccessToken(token="", client_id="prime", scopes=[], subject="prime", claims={})
)


def _request(
    host: str, path: str, version: str, method: str, params: Mapping[str, Any]
) -> tuple[Scope, Receive, Send]:
    """An in-process Streamable HTTP POST of one JSON-RPC request, its answer discarded."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    headers = [
        (b"host", host.encode("latin-1")),
        (b"content-type", b"application/json"),
        (b"accept", b"application/json, text/event-stream"),
        (b"mcp-protocol-version", version.encode("ascii")),
    ]
    if version in MODERN_PROTOCOL_VERSIONS:
        headers += [(b"mcp-method", method.encode("ascii"))]
        if method == "tools/call":
            headers += [(b"mcp-name", str(params["name"]).encode("ascii"))]
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode("latin-1"),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": None,
        "server": None,
        "user": _PLACEHOLDER,
    }
    received = False

    async def receive() -> Message:
        nonlocal received
        if received:
            return {"type": "http.disconnect"}
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def discard(message: Message) -> None:
        return None

    return scope, receive, discard
