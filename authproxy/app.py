"""The façade's routing table and wiring. Nothing else happens here.

Follow a request: this table → the endpoint module named in it → :mod:`.clients` (registrations)
or :mod:`.cognito_oauth` (Cognito's endpoints).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from mangum import Mangum
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekit import logs
from servicekit.env import read_secret

from . import authorize, metadata, registration, token
from .cimd import MetadataDocuments, Resolver, resolve_system
from .clients import Registrar
from .cognito_admin import CognitoAdmin
from .cognito_oauth import CognitoOAuth
from .errors import OAuthError, temporarily_unavailable
from .sealing import Sealer, SecretBox
from .settings import MIN_SECRET_LENGTH, Settings
from .state import AppState
from .store import Store, StoreUnavailable, open_store

log = logging.getLogger(__name__)


def load_secret_key(settings: Settings) -> str:
    """The sealing key: from the environment, or Secrets Manager once per cold start."""
    if settings.secret_key:
        return settings.secret_key
    assert settings.secret_arn  # Settings.from_env requires one of the two
    return read_secret(settings.secret_arn, "AUTHPROXY_SECRET_ARN", min_length=MIN_SECRET_LENGTH)


async def _oauth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    return exc.response()


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    log.error("registration store unavailable", extra={"reason": str(exc)})
    return temporarily_unavailable(
        "the registration store is not answering; retry shortly"
    ).response()


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    admin: CognitoAdmin | None = None,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
    cimd_transport: httpx.AsyncBaseTransport | None = None,
    cimd_resolver: Resolver = resolve_system,
) -> Starlette:
    """Build the façade for one deployment. Tests pass their own store, admin or transports, and
    a resolver that sends real client-id hosts (``claude.ai``) to loopback fixture hosts; no
    setting reaches those two, so a deployment always resolves and connects for real."""
    logs.configure("authproxy", settings.log_level, libraries=("mangum",))
    key = load_secret_key(settings)
    store = store or open_store(settings.store_url, region=settings.store_region)
    admin = admin or CognitoAdmin(
        settings.user_pool_id, settings.region, endpoint_url=settings.cognito_endpoint
    )
    upstream = CognitoOAuth(
        settings.cognito_domain, settings.upstream_timeout, transport=upstream_transport
    )
    state = AppState(
        settings=settings,
        registrar=Registrar(settings, store, admin, SecretBox(key)),
        sealer=Sealer(key),
        upstream=upstream,
        documents=MetadataDocuments(settings, cimd_transport, cimd_resolver),
    )
    p = settings.issuer_path
    routes = [
        *metadata.routes(settings),
        Route(f"{p}/register", registration.register, methods=["POST"]),
        Route(f"{p}/register/{{client_id}}", registration.manage, methods=["GET", "PUT", "DELETE"]),
        Route(f"{p}/authorize", authorize.authorize, methods=["GET"]),
        Route(f"{p}/consent", authorize.decide, methods=["POST"]),
        Route(f"{p}/callback", authorize.callback, methods=["GET"]),
        Route(f"{p}/token", token.token, methods=["POST"]),
        Route(f"{p}/revoke", token.revoke, methods=["POST"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await upstream.aclose()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(logs.RequestLogMiddleware, logger="authproxy.access"),
            # Browser-based MCP clients read metadata and call /register and /token from their
            # own origin; no cookies are involved there, so any origin may.
            Middleware(
                CORSMiddleware,
                allow_origins=["*"],
                allow_methods=["GET", "POST", "PUT", "DELETE"],
                allow_headers=["authorization", "content-type", "mcp-protocol-version"],
                max_age=3600,
            ),
        ],
        exception_handlers={
            OAuthError: _oauth_error,
            StoreUnavailable: _store_unavailable,
        },
        lifespan=lifespan,
    )
    app.state.authproxy = state
    return app


def create_lambda_handler(settings: Settings) -> Mangum:
    """The façade behind Mangum. Its lifespan is off: nothing needs startup or shutdown, and the
    HTTP client to Cognito lives as long as the execution environment."""
    return Mangum(create_app(settings), lifespan="off")
