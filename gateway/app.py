"""The gateway as one ASGI application: routing and wiring only.

Routes, per upstream, on the origin of its resource URI:

- ``POST|GET|DELETE /mcp/<name>`` — bearer authentication for that resource (audience and
  scopes bound to it: a token for another upstream is refused), then the relay to the upstream;
- ``GET /.well-known/oauth-protected-resource/mcp/<name>`` — its RFC 9728 metadata.

Browsers are held to the allowed origins (a DNS-rebinding page gets ``403``). The lifespan opens
the one HTTP client every relay shares.
"""

from __future__ import annotations

from mcp.types import INVALID_REQUEST
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.forward import Forwarder, UpstreamClient, rpc_error
from gateway.identity import upstream_key
from gateway.sessions import BoundSessions
from gateway.settings import Settings
from resourcekit import access
from resourcekit.jsonrpc import send_json
from resourcekit.jwks import key_source
from resourcekit.metadata import (
    metadata_endpoint,
    metadata_path,
    metadata_url,
    protected_resource_metadata,
)
from resourcekit.middleware import CORS_REQUEST_HEADERS, BearerAuthMiddleware
from resourcekit.verifier import CognitoTokenVerifier
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
            await send_json(send, 403, rpc_error(INVALID_REQUEST, "Origin not allowed"))
            return
        await self.app(scope, receive, send)


def create_app(settings: Settings) -> Starlette:
    """Build the gateway for ``settings``."""
    logs.configure("gateway", settings.log_level)
    logs.configure("resourcekit", settings.log_level)
    keys = key_source(settings.jwks_file, settings.jwks_url)  # one JWKS cache for every upstream
    http = UpstreamClient(settings.connect_timeout, settings.idle_timeout)
    routes = []
    for upstream in settings.upstreams:
        verifier = CognitoTokenVerifier(
            issuer=settings.cognito_issuer,
            resource=upstream.resource,
            scopes=upstream.scopes,
            keys=keys,
            allowed_client_ids=settings.allowed_client_ids,
        )
        relay = Forwarder(
            upstream,
            http=http,
            sessions=BoundSessions(settings.secret, upstream.resource),
            identity_key=upstream_key(settings.secret, upstream.resource),
            issuer=settings.issuer,
            response_timeout=settings.response_timeout,
            max_body_size=settings.max_body_size,
        )
        endpoint = BearerAuthMiddleware(
            relay,
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
            Middleware(
                logs.RequestLogMiddleware, logger="gateway.access", describe=access.access_fields
            )
        ],
        lifespan=http.lifespan,
    )
