"""Consent before the upstream redirect (design D6; MCP security best practices, "confused deputy").

Cognito's single-sign-on cookie would approve any registered client silently, and anyone can
register a client, so the façade asks the person first. Approvals are remembered per browser and
registration in a signed cookie (``__Host-``, ``Secure``, ``HttpOnly``, ``SameSite=Lax``). The form
is protected against cross-site submission by a nonce that must match in three places: a cookie set
with the page, the sealed transaction, and the form field.
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import Response

from .sealing import EnvelopeError, Purpose, Sealer
from .settings import Settings

MAX_REMEMBERED = 50


def _cookie_name(settings: Settings, name: str) -> str:
    # Browsers accept the __Host- prefix only with Secure, which needs https; the local stack is
    # plain http on loopback, where the prefix is left off and everything else stays the same.
    return f"__Host-{name}" if settings.secure_cookies else name


def consent_cookie(settings: Settings) -> str:
    return _cookie_name(settings, "authproxy-consent")


def csrf_cookie(settings: Settings) -> str:
    return _cookie_name(settings, "authproxy-csrf")


def approved_clients(request: Request, settings: Settings, sealer: Sealer) -> list[str]:
    raw = request.cookies.get(consent_cookie(settings))
    if not raw:
        return []
    try:
        clients = sealer.open(Purpose.CONSENT_COOKIE, raw).get("clients", [])
    except EnvelopeError:
        return []
    return [c for c in clients if isinstance(c, str)]


def is_approved(request: Request, settings: Settings, sealer: Sealer, client_id: str) -> bool:
    return client_id in approved_clients(request, settings, sealer)


def _set_cookie(
    response: Response, settings: Settings, name: str, value: str, max_age: int, path: str = "/"
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def remember(
    response: Response, request: Request, settings: Settings, sealer: Sealer, client_id: str
) -> None:
    """Add the registration to this browser's approvals (newest kept, oldest dropped)."""
    clients = [c for c in approved_clients(request, settings, sealer) if c != client_id]
    clients = [*clients, client_id][-MAX_REMEMBERED:]
    _set_cookie(
        response,
        settings,
        consent_cookie(settings),
        sealer.seal(Purpose.CONSENT_COOKIE, {"clients": clients}),
        Purpose.CONSENT_COOKIE.max_age,
    )


def new_csrf_nonce() -> str:
    return secrets.token_urlsafe(24)


def set_csrf_cookie(response: Response, settings: Settings, nonce: str) -> None:
    _set_cookie(response, settings, csrf_cookie(settings), nonce, Purpose.CONSENT_FORM.max_age)


def clear_csrf_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        csrf_cookie(settings),
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def csrf_ok(request: Request, settings: Settings, sealed_nonce: str, form_nonce: str) -> bool:
    """The form was posted by the page we served to this browser, from our own origin."""
    cookie = request.cookies.get(csrf_cookie(settings), "")
    if not (cookie and form_nonce and sealed_nonce):
        return False
    if not (
        secrets.compare_digest(cookie, sealed_nonce) and secrets.compare_digest(form_nonce, cookie)
    ):
        return False
    if request.headers.get("sec-fetch-site") == "cross-site":
        return False
    origin = request.headers.get("origin")
    issuer_origin = "/".join(settings.issuer.split("/")[:3])
    return origin in (None, "null", issuer_origin)
