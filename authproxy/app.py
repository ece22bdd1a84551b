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
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit import logs
from servicekit.env import read_secret

from . import authorize, metadata, registration, token
from .cimd import MetadataDocuments
from .clients import Registrar
from .cognito_admin import CognitoAdmin
from .cognito_oauth import CognitoOAuth
from .errors import OAuthError, temporarily_unavailable
from .pages import START_AGAIN, START_AGAIN_OR_REPORT, busy_page, error_page
from .sealing import Sealer, SecretBox
from .settings import MIN_SECRET_LENGTH, Settings
from .state import AppState, app_state
from .store import Store, StoreUnavailable, open_store

log = logging.getLogger(__name__)


def load_secret_key(settings: Settings) -> str:
    """The sealing key: from the environment, or Secrets Manager once per cold start."""
    if settings.secret_key:
        return settings.secret_key
    assert settings.secret_arn  # Settings.from_env requires one of the two
    return read_secret(settings.secret_arn, "AUTHPROXY_SECRET_ARN", min_length=MIN_SECRET_LENGTH)


# Where people arrive in a browser, sent by their application; every other endpoint is an API.
BROWSER_ENDPOINTS = ("/authorize", "/consent", "/callback")
API_ENDPOINTS = ("/register", "/token", "/revoke")


def answers_with_page(request: Request) -> bool:
    """Whether an error goes to a person as a page or to a program as JSON (RFC 6749 §4.1.2.1,
    §5.2): the browser endpoints always answer with a page, the API endpoints (metadata,
    registration, token, revocation) always with JSON, and any other address with a page when the
    request accepts ``text/html``, as a browser's navigation does."""
    prefix = app_state(request).settings.issuer_path
    path = request.url.path
    if path in {prefix + endpoint for endpoint in BROWSER_ENDPOINTS}:
        return True
    if path.startswith("/.well-known/") or any(
        path == prefix + endpoint or path.startswith(f"{prefix}{endpoint}/")
        for endpoint in API_ENDPOINTS
    ):
        return False
    return "text/html" in request.headers.get("accept", "")


async def _oauth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    if not answers_with_page(request):
        return exc.response()
    if exc.status == 503:
        return busy_page(int(exc.headers.get("Retry-After", "5")))
    reason = exc.description or exc.error.replace("_", " ")
    page = error_page(
        "Sign-in could not continue",
        f"{reason[:1].upper()}{reason[1:]}.",
        exc.status,
        next_step=START_AGAIN_OR_REPORT,
    )
    page.headers.update(exc.headers)
    return page


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    log.error("registration store unavailable", extra={"reason": str(exc)})
    return await _oauth_error(
        request,
        temporarily_unavailable("the registration store is not answering; retry shortly"),
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing's refusals, 404 (no such address) and 405 (method not allowed here), as a page
    that says what to do instead of Starlette's bare text, or as JSON for a program."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if not answers_with_page(request):
        description = (
            f"{request.method} is not allowed here"
            if exc.status_code == 405
            else f"nothing is served at {request.url.path[:200]}"
        )
        return OAuthError(
            "invalid_request", description, status=exc.status_code, headers=headers
        ).response()
    if exc.status_code == 405:
        page = error_page(
            "This page cannot be opened this way",
            "This address is a step of signing in that your application opens for you.",
            405,
            next_step=START_AGAIN,
        )
    else:
        resource = app_state(request).settings.default_resource
        page = error_page(
            "Page not found",
            "There is nothing at this address.",
            exc.status_code,
            next_step=(
                "Check the address. If you were signing in, start again from your application. "
                f"To connect an application to {resource.name}, add this address to it as an MCP "
                "server:"
            ),
            address=resource.uri,
        )
    page.headers.update(headers)
    return page


class FailurePages:
    """A failure nobody foresaw, on a request that gets pages, answers with a page instead of
    JSON. The exception goes on to :class:`servicekit.logs.RequestLogMiddleware`, which logs it
    with the request id and answers every other request with its JSON ``server_error``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            if scope["type"] == "http" and not started and answers_with_page(Request(scope)):
                page = error_page(
                    "Something went wrong",
                    "The server failed while handling this step of signing in "
                    f"(reference {logs.request_id.get()}).",
                    500,
                    next_step=(
                        "Start the sign-in again from your application. If this page comes back, "
                        "tell the people who run this server, quoting the reference above."
                    ),
                )
                await page(scope, receive, send)
            raise


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    admin: CognitoAdmin | None = None,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """Build the façade for one deployment. Tests pass their own store, admin or transport."""
    logs.configure("authproxy", settings.log_level, libraries=("mangum",))
    key = load_secret_key(settings)
    store = store or open_store(settings.store_url, region=settings.region)
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
        documents=MetadataDocuments(settings),
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
            Middleware(FailurePages),
        ],
        exception_handlers={
            OAuthError: _oauth_error,
            StoreUnavailable: _store_unavailable,
            HTTPException: _http_error,
        },
        lifespan=lifespan,
    )
    app.state.authproxy = state
    return app


def create_lambda_handler(settings: Settings) -> Mangum:
    """The façade behind Mangum. Its lifespan is off: nothing needs startup or shutdown, and the
    HTTP client to Cognito lives as long as the execution environment."""
    return Mangum(create_app(settings), lifespan="off")
