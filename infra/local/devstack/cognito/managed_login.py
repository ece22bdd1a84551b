"""The managed-login domain: Cognito's hosted endpoints as a Starlette application.

Routing and HTTP shapes only; the rules live in ``authorize`` (authorization request), ``grants``
(token and revocation endpoints) and ``userinfo``. The pages are plain HTML forms without
JavaScript, so a headless browser and an HTTP client can both sign in: ``GET /login`` sets an
``XSRF-TOKEN`` cookie and a matching hidden ``_csrf`` field, as Cognito's form does.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from devstack.cognito import userpools
from devstack.cognito.authorize import (
    AuthorizationRequest,
    AuthorizeError,
    ErrorPage,
    ErrorRedirect,
    parse_authorization_request,
)
from devstack.cognito.faults import parse_fault
from devstack.cognito.grants import OAuthError, form_parameters, revocation_endpoint, token_endpoint
from devstack.cognito.state import Session, StandInState
from devstack.cognito.tokens import SignIn, new_identifier
from devstack.cognito.userinfo import InvalidToken, userinfo

SESSION_COOKIE = "cognito"
CSRF_COOKIE = "XSRF-TOKEN"
FAULTS_PATH = "/_standin/faults"
_FORM_TYPE = "application/x-www-form-urlencoded"
# RFC 6749 §5.1: token responses must not be cached.
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _with_query(url: str, params: dict[str, str | None]) -> str:
    parts = urlsplit(url)
    extra = urlencode({name: value for name, value in params.items() if value is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>\n<body><main>\n{body}\n</main></body></html>\n"
    )
    # The sign-in pages must not be framed (clickjacking) nor cached.
    headers = {"X-Frame-Options": "DENY", "Cache-Control": "no-store"}
    return HTMLResponse(document, status_code=status, headers=headers)


def _refusal(error: AuthorizeError) -> Response:
    if isinstance(error, ErrorRedirect):
        location = _with_query(
            error.redirect_uri,
            {"error": error.error, "error_description": error.description, "state": error.state},
        )
        return RedirectResponse(location, status_code=302)
    # Cognito never redirects to an untrusted redirect URI: it shows its own error page.
    return RedirectResponse(f"/error?{urlencode({'error': error.error})}", status_code=302)


def _code_redirect(
    state: StandInState, request: AuthorizationRequest, session: Session
) -> Response:
    sign_in = SignIn(
        pool_id=request.pool.pool_id,
        issuer=state.issuer(request.pool.pool_id),
        client_id=request.client.client_id,
        username=session.username,
        scopes=request.scopes,
        auth_time=session.auth_time,
        origin_jti=new_identifier(),
        event_id=new_identifier(),
        audience=request.resource,
        nonce=request.nonce,
    )
    code = state.issue_code(sign_in, request.redirect_uri, request.code_challenge)
    location = _with_query(request.redirect_uri, {"code": code, "state": request.state})
    return RedirectResponse(location, status_code=302)


def _login_form(
    request: Request, authorization: AuthorizationRequest, csrf: str, username: str, error: str
) -> HTMLResponse:
    alert = f'<p role="alert">{html.escape(error)}</p>\n' if error else ""
    action = html.escape(f"/login?{request.url.query}", quote=True)
    body = (
        "<h1>Sign in</h1>\n"
        f"<p>to {html.escape(authorization.client.name or authorization.client.client_id)}</p>\n"
        f"{alert}"
        f'<form method="post" action="{action}">\n'
        f'<input type="hidden" name="_csrf" value="{html.escape(csrf, quote=True)}">\n'
        '<p><label for="username">Username</label>\n'
        '<input id="username" name="username" type="text" autocomplete="username" required'
        f' value="{html.escape(username, quote=True)}"></p>\n'
        '<p><label for="password">Password</label>\n'
        '<input id="password" name="password" type="password"'
        ' autocomplete="current-password" required></p>\n'
        '<p><button type="submit" name="signInSubmitButton">Sign in</button></p>\n'
        "</form>"
    )
    response = _page("Sign in", body, status=400 if error else 200)
    response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="lax")
    return response


class ManagedLogin:
    """The endpoints of one stand-in's managed-login domain."""

    def __init__(self, state: StandInState) -> None:
        self.state = state

    async def authorize(self, request: Request) -> Response:
        """``GET /oauth2/authorize``: validate, reuse a session, or go to the login page."""
        try:
            authorization = parse_authorization_request(
                request.query_params.multi_items(), self.state.options
            )
        except AuthorizeError as error:
            return _refusal(error)
        session = self.state.session(
            request.cookies.get(SESSION_COOKIE, ""), authorization.pool.pool_id
        )
        if session is not None and "login" not in authorization.prompt:
            return _code_redirect(self.state, authorization, session)
        if "none" in authorization.prompt:
            return _refusal(
                ErrorRedirect(
                    "login_required",
                    "no signed-in session",
                    authorization.redirect_uri,
                    authorization.state,
                )
            )
        # Cognito sends a request without identity_provider to /login with the same query.
        return RedirectResponse(f"/login?{request.url.query}", status_code=302)

    async def login(self, request: Request) -> Response:
        """``GET /login`` shows the form; ``POST /login`` checks it and redirects with a code."""
        try:
            authorization = parse_authorization_request(
                request.query_params.multi_items(), self.state.options
            )
        except AuthorizeError as error:
            return _refusal(error)
        if request.method == "GET":
            csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
            return _login_form(request, authorization, csrf, authorization.login_hint or "", "")
        form = await request.form()
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        csrf_cookie = request.cookies.get(CSRF_COOKIE, "")
        fresh_csrf = secrets.token_urlsafe(24)
        if not csrf_cookie or not secrets.compare_digest(csrf_cookie, str(form.get("_csrf", ""))):
            message = "Your sign-in page expired. Please try again."
            return _login_form(request, authorization, fresh_csrf, username, message)
        user = userpools.check_password(authorization.pool.pool_id, username, password)
        if user is None:
            message = "Incorrect username or password."
            return _login_form(request, authorization, csrf_cookie, username, message)
        session_id, session = self.state.open_session(authorization.pool.pool_id, user.username)
        response = _code_redirect(self.state, authorization, session)
        response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="lax")
        return response

    async def logout(self, request: Request) -> Response:
        """``GET /logout``: end the session, then go to ``logout_uri`` (or sign in again)."""
        client_id = request.query_params.get("client_id", "")
        client = userpools.app_client(client_id) if client_id else None
        logout_uri = request.query_params.get("logout_uri")
        if client is None:
            return _refusal(ErrorPage("invalid_request", "unknown client_id"))
        if logout_uri is not None and logout_uri in client.logout_urls:
            response: Response = RedirectResponse(logout_uri, status_code=302)
        elif logout_uri is None and "redirect_uri" in request.query_params:
            response = RedirectResponse(f"/login?{request.url.query}", status_code=302)
        else:
            return _refusal(ErrorPage("invalid_request", "logout_uri is not a sign-out URL"))
        self.state.close_session(request.cookies.get(SESSION_COOKIE, ""))
        response.delete_cookie(SESSION_COOKIE)
        return response

    async def error_page(self, request: Request) -> Response:
        """``GET /error``: Cognito's dead end for requests it will not redirect."""
        error = request.query_params.get("error", "")
        body = (
            "<h1>An error was encountered with the requested page.</h1>\n"
            f"<p><code>{html.escape(error)}</code></p>"
        )
        return _page("Error", body, status=400)

    async def _form(self, request: Request) -> dict[str, str]:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != _FORM_TYPE:
            raise OAuthError("invalid_request", f"the body must be {_FORM_TYPE}")
        form = await request.form()
        return form_parameters((name, str(value)) for name, value in form.multi_items())

    async def token(self, request: Request) -> Response:
        """``POST /oauth2/token``."""
        # Cognito's token endpoint allows any origin.
        cors = {"Access-Control-Allow-Origin": "*"}
        try:
            params = await self._form(request)
            body = token_endpoint(self.state, request.headers.get("authorization"), params)
        except OAuthError as error:
            return JSONResponse(error.body(), status_code=error.status, headers=_NO_STORE | cors)
        return JSONResponse(body, headers=_NO_STORE | cors)

    async def revoke(self, request: Request) -> Response:
        """``POST /oauth2/revoke``: 200 with an empty body, also for unknown tokens."""
        try:
            params = await self._form(request)
            revocation_endpoint(self.state, request.headers.get("authorization"), params)
        except OAuthError as error:
            return JSONResponse(error.body(), status_code=error.status)
        return Response(status_code=200)

    async def userinfo(self, request: Request) -> Response:
        """``GET|POST /oauth2/userInfo``."""
        try:
            claims = userinfo(self.state, request.headers.get("authorization"))
        except InvalidToken as error:
            challenge = f'error="invalid_token", error_description="{error}"'
            return JSONResponse(
                {"error": "invalid_token", "error_description": str(error)},
                status_code=401,
                headers={"WWW-Authenticate": challenge},
            )
        return JSONResponse(claims)

    async def faults(self, request: Request) -> Response:
        """``/_standin/faults``: POST adds a fault, DELETE clears them all, GET lists them."""
        registry = self.state.faults
        if request.method == "DELETE":
            registry.clear()
            return Response(status_code=204)
        if request.method == "GET":
            return JSONResponse([fault.as_dict() for fault in registry.active()])
        try:
            fault = parse_fault(json.loads(await request.body()))
        except ValueError as error:
            return JSONResponse(
                {"error": "invalid_request", "error_description": str(error)}, status_code=400
            )
        registry.add(fault)
        return JSONResponse(fault.as_dict(), status_code=201)


class FaultInjection:
    """ASGI middleware applying the registry's faults to managed-login paths."""

    def __init__(self, app: ASGIApp, state: StandInState) -> None:
        self.app = app
        self.state = state
        self._loop: asyncio.AbstractEventLoop | None = None
        self._released = asyncio.Event()

    def release_delays(self) -> None:
        """End every pending delay now (called from the stopping thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._released.set)

    async def _delay(self, seconds: float) -> None:
        # A delay ends early when the stand-in stops, so the request completes and the server
        # shuts down gracefully instead of cancelling it mid-flight.
        self._loop = asyncio.get_running_loop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._released.wait(), seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fault = None
        if scope["type"] == "http" and scope["path"] != FAULTS_PATH:
            fault = self.state.faults.take(path=scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.kind == "delay":
            await self._delay(fault.seconds)
            await self.app(scope, receive, send)
            return
        if fault.kind == "drop":
            # The status line goes out, then the connection closes: uvicorn ends a response that
            # fails after it has started by closing the connection.
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise ConnectionAbortedError("fault injection: connection dropped")
        response: Response
        if fault.kind == "throttle":
            response = JSONResponse({"error": "too_many_requests"}, status_code=429)
        else:
            response = JSONResponse({"error": "server_error"}, status_code=500)
        await response(scope, receive, send)


def managed_login_app(state: StandInState) -> FaultInjection:
    """The managed-login domain as an ASGI application (faults applied first)."""
    endpoints = ManagedLogin(state)
    routes: list[Any] = [
        Route("/oauth2/authorize", endpoints.authorize, methods=["GET"]),
        Route("/login", endpoints.login, methods=["GET", "POST"]),
        Route("/logout", endpoints.logout, methods=["GET"]),
        Route("/error", endpoints.error_page, methods=["GET"]),
        Route("/oauth2/token", endpoints.token, methods=["POST"]),
        Route("/oauth2/revoke", endpoints.revoke, methods=["POST"]),
        Route("/oauth2/userInfo", endpoints.userinfo, methods=["GET", "POST"]),
        Route(FAULTS_PATH, endpoints.faults, methods=["GET", "POST", "DELETE"]),
    ]
    return FaultInjection(Starlette(routes=routes), state)
