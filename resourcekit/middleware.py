"""The challenge side of a resource server: RFC 6750 bearer authentication with RFC 9728 hints.

:class:`BearerAuthMiddleware` wraps any ASGI app (an MCP SDK app, the gateway's forwarder). It
answers RFC 6750 challenges carrying the RFC 9728 ``resource_metadata`` URL and the ``scope`` a
client should ask for, refuses calls to tools whose scopes the token lacks with ``403
insufficient_scope`` (step-up authorization), and hands the verified token on
(``scope["user"]`` and ``get_access_token()``).

A request without a token is refused cheaply: the body is read only when a tool's scopes must be
named in the challenge and no ``Mcp-Name`` header names the tool, and then at most
:data:`CHALLENGE_BODY_LIMIT` bytes of it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import TokenVerifier
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from starlette.authentication import AuthCredentials
from starlette.types import ASGIApp, Receive, Scope, Send

from resourcekit import access
from resourcekit.jsonrpc import buffer_body, called_tools, header_tool, requests_in, send_json
from resourcekit.jwks import KeySetUnavailable
from servicekit.bearer import bearer_token
from servicekit.bodies import BodyTooLarge, read_body
from servicekit.headers import request_headers

logger = logging.getLogger(__name__)

# The most of an unauthenticated body ever read: enough for any tools/call a client sends before
# it has a token, far below the 4 MB an authenticated request may carry (ISSUE 8 item 10).
CHALLENGE_BODY_LIMIT = 64 * 1024

# What a browser-based MCP client sends cross-origin (for CORS preflight answers).
CORS_REQUEST_HEADERS = (
    "authorization",
    "content-type",
    "last-event-id",
    "mcp-method",
    "mcp-name",
    "mcp-protocol-version",
    "mcp-session-id",
)

# Deliberately vague about why a token was refused: the reason goes to the log, not to a prober.
_DESCRIPTIONS = {
    None: "An access token is required",
    "invalid_token": "The access token is invalid, expired or not issued for this resource",
    "insufficient_scope": "The request needs the scopes listed in this challenge",
}


class BearerAuthMiddleware:
    """Requires a valid bearer token (RFC 6750 §2.1) on every request to the wrapped ASGI app.

    - no token: ``401`` and ``WWW-Authenticate: Bearer resource_metadata="…", scope="…"``
      (RFC 6750 §3, RFC 9728 §5.1), which starts a client's authorization flow;
    - a refused token: the same with ``error="invalid_token"``;
    - a token without the scopes the request needs (``required_scopes``, plus ``tool_scopes`` of
      each tool a ``tools/call`` names in its body or its ``Mcp-Name`` header): ``403`` with
      ``error="insufficient_scope"`` and every scope the request needs, so the client can
      re-authorize for all of them at once;
    - the verifier cannot fetch signing keys: ``503`` with ``Retry-After``.

    On success the SDK sees the token as ``scope["user"]`` (an ``AuthenticatedUser``, which
    also binds SDK sessions and request state to the token's principal) and through
    ``mcp.server.auth.middleware.auth_context.get_access_token()``.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        *,
        resource_metadata_url: str,
        required_scopes: Sequence[str] = (),
        tool_scopes: Mapping[str, Sequence[str]] | None = None,
        max_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE,
    ) -> None:
        self.app = AuthContextMiddleware(app)
        self.verifier = verifier
        self.resource_metadata_url = resource_metadata_url
        self.required_scopes = tuple(required_scopes)
        self.tool_scopes = dict(tool_scopes or {})
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = request_headers(scope)
        token = bearer_token(headers.get("authorization"))
        access.note(scope, rpc_method=headers.get("mcp-method"))
        if token is None:
            access.refused(scope, 401, "no_token")
            await self._challenge(send, 401, await self._challenge_scopes(scope, receive, headers))
            return
        try:
            access_token = await self.verifier.verify_token(token)
        except KeySetUnavailable:
            logger.error("token signing keys unavailable")
            access.refused(scope, 503, "keys_unavailable")
            await send_json(send, 503, {"error": "temporarily_unavailable"}, {"retry-after": "30"})
            return
        if access_token is None:
            access.refused(scope, 401, "invalid_token")
            await self._challenge(send, 401, self._needed(header_tool(headers)), "invalid_token")
            return
        tools = header_tool(headers)
        if self.tool_scopes and scope["method"] == "POST":
            buffered = await buffer_body(scope, receive, send, self.max_body_size)
            if buffered is None:
                return
            receive = buffered.receive
            messages = buffered.requests()
            # The body decides too: a header naming a harmless tool must not hide the one called.
            tools += called_tools(messages)
            methods = [m for m in (message.get("method") for message in messages) if m]
            access.note(scope, rpc_method=" ".join(map(str, methods)) or None)
        access.note(
            scope, tool=" ".join(dict.fromkeys(tools)) or None
        )  # header and body may both name it
        needed = self._needed(tools)
        missing = [s for s in needed if s not in access_token.scopes]
        if missing:
            logger.info(
                "insufficient scope",
                extra={"subject": access_token.subject, "missing_scopes": missing},
            )
            access.refused(scope, 403, "insufficient_scope")
            await self._challenge(send, 403, needed, "insufficient_scope")
            return
        scope["user"] = AuthenticatedUser(access_token)
        scope["auth"] = AuthCredentials(access_token.scopes)
        await self.app(scope, receive, send)

    def _needed(self, tools: Sequence[str]) -> list[str]:
        """The scopes a request needs: ``required_scopes`` and those of every tool it calls."""
        needed = list(self.required_scopes)
        for tool in tools:
            needed.extend(s for s in self.tool_scopes.get(tool, ()) if s not in needed)
        return needed

    async def _challenge_scopes(
        self, scope: Scope, receive: Receive, headers: Mapping[str, str]
    ) -> list[str]:
        """The scopes a 401 names (MCP authorization, "Scope Selection Strategy"), at small cost.

        The ``Mcp-Name`` header names the tool when the client sends it; otherwise a body of at
        most :data:`CHALLENGE_BODY_LIMIT` bytes is read for it, and a larger one is not read on.
        """
        tools = header_tool(headers)
        if not tools and self.tool_scopes and scope["method"] == "POST":
            try:
                tools = called_tools(requests_in(await read_body(receive, CHALLENGE_BODY_LIMIT)))
            except BodyTooLarge:
                tools = []
        return self._needed(tools)

    async def _challenge(
        self, send: Send, status: int, scopes: Sequence[str], error: str | None = None
    ) -> None:
        """RFC 6750 §3: a ``Bearer`` challenge; no ``error`` when no token was sent (§3.1)."""
        description = _DESCRIPTIONS[error]
        params = [f'error="{error}"', f'error_description="{description}"'] if error else []
        params.append(f'resource_metadata="{self.resource_metadata_url}"')
        if scopes:
            params.append(f'scope="{" ".join(scopes)}"')
        body = (
            {"error": error, "error_description": description}
            if error
            else {"error_description": description}
        )
        await send_json(send, status, body, {"www-authenticate": "Bearer " + ", ".join(params)})
