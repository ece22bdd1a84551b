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

The Lambda handler rehearses the first requests of every revision in its init phase
(:mod:`mcpserver.rehearsal`), so the SDK's lazily imported modules and validators exist before the
first client's request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import sniffio
from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE, TransportSecuritySettings
from mcp.types import INVALID_REQUEST
from starlette.types import Receive, Scope, Send

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
