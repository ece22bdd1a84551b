"""Consent before the upstream redirect (design D6; MCP security best practices, "confused deputy").

Cognito's single-sign-on cookie would approve any registered client silently, and anyone can
register a client, so the façade asks the person first. Approvals are remembered per browser in a
signed cookie (``__Host-``, ``Secure``, ``HttpOnly``, ``SameSite=Lax``), each for one registration,
redirect URI and resource and the scopes approved: a client that changes its redirect URI (RFC 7592
update, a new metadata document) or asks for more is asked again. The form
is protected against cross-site submission by a nonce that must match in three places: a cookie set
with the page, the sealed transaction, and the form field.

The browser that passes consent (or skips it legitimately) is the only one that may finish the
sign-in (design D11): it holds a random secret in a cookie, and the sealed ``state`` sent to
Cognito carries only that secret's digest, so ``/callback`` can tell the browser apart from one an
attacker sent the Cognito URL to.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from .redirects import is_loopback, loopback_key
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


def transaction_cookie(settings: Settings) -> str:
    return _cookie_name(settings, "authproxy-txn")


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


def _digest(*parts: str, size: int) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:size]


# What a browser secret looks like (secrets.token_urlsafe(32)); anything else is replaced.
_BROWSER_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _approvals(request: Request, settings: Settings, sealer: Sealer) -> dict[str, list[str]]:
    raw = request.cookies.get(consent_cookie(settings))
    if not raw:
        return {}
    try:
        approvals = sealer.open(Purpose.CONSENT_COOKIE, raw).get("approvals", {})
    except EnvelopeError:
        return {}
    return approvals if isinstance(approvals, dict) else {}


@dataclass(frozen=True)
class Approval:
    """What a person approves: this client sending them to this redirect URI, for this resource,
    with these scopes."""

    client_id: str
    redirect_uri: str
    resource: str
    scopes: tuple[str, ...]

    @property
    def key(self) -> str:
        # Loopback redirects differ only by port from one run of a native client to the next
        # (RFC 8252 §7.3): one approval covers them all. Any other redirect URI is its own.
        uri = self.redirect_uri
        where = "|".join(loopback_key(uri)) if is_loopback(uri) else uri
        return _digest(self.client_id, where, self.resource, size=24)

    @property
    def scope_digests(self) -> set[str]:
        return {_digest(s, size=8) for s in self.scopes}


def is_approved(request: Request, settings: Settings, sealer: Sealer, approval: Approval) -> bool:
    """This browser approved this, or more scopes for the same client, redirect and resource. A
    new redirect URI or more scopes asks again."""
    approved = _approvals(request, settings, sealer).get(approval.key, [])
    return approval.scope_digests <= set(approved)


def remember(
    response: Response, request: Request, settings: Settings, sealer: Sealer, approval: Approval
) -> None:
    """Add the approval to this browser's (the newest kept, the oldest dropped)."""
    approvals = _approvals(request, settings, sealer)
    granted = set(approvals.pop(approval.key, [])) | approval.scope_digests
    approvals[approval.key] = sorted(granted)
    newest = dict(list(approvals.items())[-MAX_REMEMBERED:])
    _set_cookie(
        response,
        settings,
        consent_cookie(settings),
        sealer.seal(Purpose.CONSENT_COOKIE, {"approvals": newest}),
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


def browser_secret(request: Request, settings: Settings) -> str:
    """This browser's transaction secret: the one its cookie holds, else a new one. Reusing it
    lets one browser run several sign-ins at once (two MCP servers connecting together)."""
    held = request.cookies.get(transaction_cookie(settings), "")
    return held if _BROWSER_SECRET.match(held) else secrets.token_urlsafe(32)


def browser_digest(secret: str) -> str:
    """What the sealed ``state`` carries: the secret itself never travels through URLs."""
    return _digest("authproxy/browser", secret, size=64)


def bind_browser(response: Response, settings: Settings, secret: str) -> None:
    """Keep ``secret`` in the browser for as long as a ``state`` sealed with it may come back."""
    _set_cookie(response, settings, transaction_cookie(settings), secret, Purpose.STATE.max_age)


def is_bound_browser(request: Request, settings: Settings, digest: str) -> bool:
    """RFC 9700 §4.7.1: the authorization response arrived in the browser that started it."""
    held = request.cookies.get(transaction_cookie(settings), "")
    return bool(held and digest) and secrets.compare_digest(browser_digest(held), digest)
