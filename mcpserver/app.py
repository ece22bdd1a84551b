"""The MCP resource server as one ASGI application: routing and wiring only.

Routes, all on the origin of ``MCP_URL``:

- ``POST|GET|DELETE <path of MCP_URL>`` — the MCP endpoint (Streamable HTTP), behind bearer
  authentication, then session binding, then the SDK's stateless transport;
- ``GET /.well-known/oauth-protected-resource<path>`` and the root form — RFC 9728 metadata.

The application answers only those paths (404 elsewhere), so a host can mount it at the root of
a shared origin or route exactly these paths to it. Its lifespan must run (uvicorn does; the Lambda
handler enters it once per execution environment; a composing host must enter it).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.auth.provider import TokenVerifier
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mcpserver.server import DESTRUCTIVE_TOOLS, build_server
from mcpserver.sessions import SessionBindingMiddleware, SessionIds
from mcpserver.settings import Settings
from mcpserver.transport import StatelessTransport
from resourcekit import access
from resourcekit.jwks import key_source
from resourcekit.metadata import (
    WELL_KNOWN,
    metadata_endpoint,
    metadata_path,
    metadata_url,
    protected_resource_metadata,
)
from resourcekit.middleware import CORS_REQUEST_HEADERS, BearerAuthMiddleware
from resourcekit.verifier import CognitoTokenVerifier
from servicekit import logs


def keep_from_collector() -> None:
    """Exempt what start-up built from the cyclic garbage collector's scans.

    Modules, the SDK's server and its tools' schemas live as long as the process, yet each full
    collection would walk all of them again (about a tenth of a served tool call's CPU). The young
    garbage is collected first, without the full collection that would slow the start.
    """
    gc.collect(1)
    gc.freeze()


def _access_logged(app: ASGIApp, logger: str) -> ASGIApp:
    return logs.RequestLogMiddleware(app, logger=logger, describe=access.access_fields)


class McpApp(Starlette):
    """The application's routes, with each ``POST`` to the MCP endpoint handed to it directly.

    The endpoint answers every outcome of a ``POST`` itself (its errors included, and the access
    log turns a bug into a logged 500), so Starlette's routing, exception and server-error layers
    would only pass it through (a few microseconds per tool call). Any other request, or one under
    a ``root_path``, goes through the routes as before.
    """

    def __init__(self, mcp_path: str, mcp_post: ASGIApp, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mcp_path = mcp_path
        self.mcp_post = mcp_post

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == self.mcp_path
            and not scope.get("root_path")
        ):
            scope["app"] = self
            await self.mcp_post(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings,
    *,
    verifier: TokenVerifier | None = None,
    transport: StatelessTransport | None = None,
    access_log: str = "mcpserver.access",
) -> Starlette:
    """Build the MCP resource server for ``settings``.

    ``verifier``, ``transport`` and ``access_log`` are for the init-phase rehearsal only
    (:mod:`mcpserver.rehearsal`): the same request path with a throwaway verifier, the running
    transport and a discarded log. Served applications take the defaults: the issuer's keys.
    """
    logs.configure("mcpserver", settings.log_level)
    logs.configure("resourcekit", settings.log_level)
    keys = None
    if verifier is None:
        keys = key_source(settings.jwks_file, settings.jwks_url)
        verifier = CognitoTokenVerifier(
            issuer=settings.cognito_issuer,
            resource=settings.mcp_url,
            scopes=settings.scopes,
            keys=keys,
            allowed_client_ids=settings.allowed_client_ids,
        )
    if transport is None:
        transport = StatelessTransport(
            build_server(settings),
            TransportSecuritySettings(
                enable_dns_rebinding_protection=True,
                allowed_hosts=list(settings.allowed_hosts),
                allowed_origins=list(settings.allowed_origins),
            ),
        )
    mcp_endpoint = BearerAuthMiddleware(
        SessionBindingMiddleware(transport, SessionIds(settings.session_keys, settings.mcp_url)),
        verifier,
        resource_metadata_url=metadata_url(settings.mcp_url),
        required_scopes=settings.required_scopes,
        tool_scopes={name: settings.destructive_scopes for name in DESTRUCTIVE_TOOLS},
    )
    metadata = metadata_endpoint(
        protected_resource_metadata(
            settings.mcp_url,
            authorization_servers=[settings.issuer],
            scopes=settings.supported_scopes,
            name=settings.resource_name,
        )
    )
    # Browser-based clients on the allowed origins (the Origin check refuses the rest) must be
    # able to send the MCP headers and read the challenge and the session id.
    mcp_endpoint_with_cors = CORSMiddleware(
        mcp_endpoint,
        allow_origins=list(settings.allowed_origins),
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=list(CORS_REQUEST_HEADERS),
        expose_headers=["www-authenticate", "mcp-session-id", "x-request-id"],
        max_age=3600,
    )

    @asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[None]:
        async with transport.lifespan(app):
            keep_from_collector()
            yield

    routes = [
        Route(settings.path, mcp_endpoint_with_cors, methods=["POST", "GET", "DELETE", "OPTIONS"])
    ]
    routes += [
        Route(path, metadata, methods=["GET", "OPTIONS"])
        for path in dict.fromkeys((metadata_path(settings.mcp_url), WELL_KNOWN))
    ]
    app = McpApp(
        settings.path,
        _access_logged(mcp_endpoint_with_cors, access_log),
        routes=routes,
        middleware=[Middleware(_access_logged, logger=access_log)],
        lifespan=lifespan,
    )
    # The Lambda handler rehearses the first requests in its init phase (mcpserver.rehearsal).
    app.state.transport = transport
    # The served verifier's key source (None in the rehearsal's copy), which the Lambda handler
    # loads in its init phase.
    app.state.keys = keys
    return app
