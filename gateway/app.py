"""The gateway as one ASGI application: routing and wiring only.

Routes, per upstream, on the origin of its resource URI:

- ``POST|GET|DELETE /mcp/<name>`` — bearer authentication for that resource (audience and
  scopes bound to it: a token for another upstream is refused), then the relay to the upstream;
- ``GET /.well-known/oauth-protected-resource/mcp/<name>`` — its RFC 9728 metadata.

Browsers are held to the allowed origins (a DNS-rebinding page gets ``403``). The lifespan owns
the one HTTP client every relay shares.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.forward import Forwarder, rpc_error
from gateway.identity import upstream_key
from gateway.sessions import BoundSessions
from gateway.settings import Settings, Upstream
from resourcekit import (
    BearerAuthMiddleware,
    CognitoTokenVerifier,
    KeySource,
    RemoteJWKS,
    StaticJWKS,
    metadata_endpoint,
    metadata_path,
    metadata_url,
    protected_resource_metadata,
)
from resourcekit.jsonrpc import send_json
from resourcekit.middleware import CORS_REQUEST_HEADERS
from servicekit import logs


class OriginCheck:
    """Refuses browser requests from other origins (Streamable HTTP, "Security Warning": servers
    MUST validate ``Origin``); requests without one, from non-browser clients, pass."""

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = frozenset(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = Headers(scope=scope).get("origin")
        if origin is not None and origin not in self.allowed:
            await send_json(send, 403, rpc_error(-32600, "Origin not allowed"))
            return
        await self.app(scope, receive, send)


class Relays:
    """The shared HTTP client, opened and closed with the application's lifespan."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def lifespan(self, _app: object = None) -> AsyncIterator[None]:
        # Connect and pool waits are short; a read may wait as long as a stream may stay silent
        # (the wait for an answer's headers is bounded separately, by the response timeout).
        timeout = httpx.Timeout(
            connect=self.settings.connect_timeout,
            read=self.settings.idle_timeout,
            write=self.settings.connect_timeout,
            pool=self.settings.connect_timeout,
        )
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            self.client = client
            try:
                yield
            finally:
                self.client = None

    def forwarder(self, upstream: Upstream) -> ASGIApp:
        async def relay(scope: Scope, receive: Receive, send: Send) -> None:
            if self.client is None:
                raise RuntimeError("the gateway is not running: run the app's lifespan")
            await Forwarder(
                upstream,
                client=self.client,
                sessions=BoundSessions(self.settings.secret, upstream.resource),
                identity_key=upstream_key(self.settings.secret, upstream.resource),
                issuer=self.settings.issuer,
                response_timeout=self.settings.response_timeout,
                max_body_size=self.settings.max_body_size,
            )(scope, receive, send)

        return relay


def key_source(settings: Settings) -> KeySource:
    """The signing keys: a file when ``GATEWAY_JWKS_FILE`` is set, else the issuer's JWKS URL."""
    if settings.jwks_file:
        return StaticJWKS.from_file(settings.jwks_file)
    return RemoteJWKS(settings.jwks_url)


def subject_of(scope: Scope) -> dict[str, Any]:
    """The authenticated subject, for the access log (set by the bearer middleware)."""
    token = getattr(scope.get("user"), "access_token", None)
    return {"subject": getattr(token, "subject", None)}


def create_app(settings: Settings) -> Starlette:
    """Build the gateway for ``settings``."""
    logs.configure("gateway", settings.log_level, libraries=("httpx", "mangum"))
    logs.configure("resourcekit", settings.log_level)
    keys = key_source(settings)  # one JWKS cache for every upstream
    relays = Relays(settings)
    routes = []
    for upstream in settings.upstreams:
        verifier = CognitoTokenVerifier(
            issuer=settings.cognito_issuer,
            resource=upstream.resource,
            scopes=upstream.scopes,
            keys=keys,
            allowed_client_ids=settings.allowed_client_ids,
        )
        endpoint = BearerAuthMiddleware(
            relays.forwarder(upstream),
            verifier,
            resource_metadata_url=metadata_url(upstream.resource),
            required_scopes=upstream.required_scopes,
            tool_scopes=upstream.cognito_tool_scopes,
            max_body_size=settings.max_body_size,
        )
        endpoint_with_cors = CORSMiddleware(
            OriginCheck(endpoint, settings.allowed_origins),
            allow_origins=list(settings.allowed_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=list(CORS_REQUEST_HEADERS),
            expose_headers=["www-authenticate", "mcp-session-id", "x-request-id"],
            max_age=3600,
        )
        metadata = metadata_endpoint(
            protected_resource_metadata(
                upstream.resource,
                authorization_servers=[settings.issuer],
                scopes=upstream.supported_scopes,
                name=upstream.name,
            )
        )
        routes += [
            Route(upstream.path, endpoint_with_cors, methods=["POST", "GET", "DELETE", "OPTIONS"]),
            Route(metadata_path(upstream.resource), metadata, methods=["GET", "OPTIONS"]),
        ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(logs.RequestLogMiddleware, logger="gateway.access", describe=subject_of)
        ],
        lifespan=relays.lifespan,
    )
