"""The façade's routing table and wiring. Nothing else happens here.

Follow a request: this table → the endpoint module named in it → :mod:`.clients` (registrations)
or :mod:`.cognito_oauth` (Cognito's endpoints).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpcore
import httpx
from mangum import Mangum
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route

from servicekit import aws, logs
from servicekit.keys import KeyRing, key_ring, refresh_after_restore

from . import authorize, error_handlers, flight, metadata, registration, token
from .cimd import MetadataDocuments, Resolver, system_resolver
from .clients import Registrar
from .cognito_admin import CognitoAdmin
from .cognito_oauth import CognitoOAuth
from .errors import OAuthError
from .sealing import Sealer, SecretBox
from .settings import MIN_SECRET_LENGTH, Settings
from .state import AppState
from .store import Store, StoreUnavailable, open_store


def load_secret_key(settings: Settings) -> KeyRing:
    """The sealing keys (design D3, key rotation): ``AUTHPROXY_SECRET_KEY``, or the versions of
    the ``AUTHPROXY_SECRET_ARN`` secret, read again every few minutes."""
    return key_ring(
        settings.secret_keys,
        settings.secret_arn,
        variable="AUTHPROXY_SECRET_ARN",
        min_length=MIN_SECRET_LENGTH,
    )


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    admin: CognitoAdmin | None = None,
    upstream_network: httpcore.AsyncNetworkBackend | None = None,
    cimd_transport: httpx.AsyncBaseTransport | None = None,
    cimd_resolver: Resolver = system_resolver,
) -> Starlette:
    """Build the façade for one deployment. Tests pass their own store, admin, network (to
    Cognito's OAuth endpoints) or transport (to metadata documents), and a resolver that sends
    real client-id hosts (``claude.ai``) to loopback fixture hosts; no setting reaches those two,
    so a deployment always resolves and connects for real. On Lambda with SnapStart the keys are
    read again right after each restore, so a key rotated in Secrets Manager takes effect without
    publishing a new version."""
    logs.configure("authproxy", settings.log_level)
    keys = load_secret_key(settings)
    refresh_after_restore(keys)
    store = store or open_store(settings.store_url, region=settings.store_region)
    admin = admin or CognitoAdmin(
        settings.user_pool_id, settings.region, endpoint_url=settings.cognito_endpoint
    )
    upstream = CognitoOAuth(
        settings.cognito_domain, settings.upstream_timeout, network=upstream_network
    )
    state = AppState(
        settings=settings,
        registrar=Registrar(settings, store, admin, SecretBox(keys)),
        sealer=Sealer(keys),
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
            Middleware(
                logs.RequestLogMiddleware,
                logger="authproxy.access",
                describe=flight.access_fields,
            ),
            # Browser-based MCP clients read metadata and call /register and /token from their
            # own origin; no cookies are involved there, so any origin may.
            Middleware(
                CORSMiddleware,
                allow_origins=["*"],
                allow_methods=["GET", "POST", "PUT", "DELETE"],
                allow_headers=["authorization", "content-type", "mcp-protocol-version"],
                max_age=3600,
            ),
            Middleware(error_handlers.FailurePages),
        ],
        exception_handlers={
            OAuthError: error_handlers.oauth_error,
            StoreUnavailable: error_handlers.store_unavailable,
            HTTPException: error_handlers.http_error,
        },
        lifespan=lifespan,
    )
    app.state.authproxy = state
    return app


def create_lambda_handler(settings: Settings) -> Mangum:
    """The façade behind Mangum. Its lifespan is off: nothing needs startup or shutdown, and the
    HTTP client to Cognito lives as long as the execution environment. The AWS clients are made
    on first use, so a cold start answering metadata does not load them; under SnapStart they are
    made before the snapshot, so no restored environment pays for them on a request."""
    app = create_app(settings)
    state: AppState = app.state.authproxy
    aws.before_snapshot(state.registrar.store.connect, state.registrar.admin.connect)
    return Mangum(app, lifespan="off")
