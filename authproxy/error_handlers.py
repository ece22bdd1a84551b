"""How refusals reach their reader: a page for a person, JSON for a program (design D6).

The façade's exception handlers and the middleware that turns an unforeseen failure into a page.
Which one a request gets is :func:`answers_with_page`; the pages themselves are in :mod:`.pages`.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit import logs

from .errors import OAuthError, temporarily_unavailable
from .pages import START_AGAIN, START_AGAIN_OR_REPORT, busy_page, error_page
from .state import app_state

log = logging.getLogger(__name__)

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


async def oauth_error(request: Request, exc: Exception) -> Response:
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


async def store_unavailable(request: Request, exc: Exception) -> Response:
    log.error("registration store unavailable", extra={"reason": str(exc)})
    return await oauth_error(
        request,
        temporarily_unavailable("the registration store is not answering; retry shortly"),
    )


async def http_error(request: Request, exc: Exception) -> Response:
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
