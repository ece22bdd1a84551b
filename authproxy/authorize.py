"""The authorization endpoint and the façade's Cognito callback (design D1, D2, D6, D11).

``GET /authorize`` checks the request (RFC 6749 §4.1.1, PKCE per RFC 7636 with S256 only, RFC 8707
``resource``), asks for consent, and sends the browser to Cognito's managed login with the backing
client, the façade's own callback, a sealed ``state`` and the client's ``code_challenge``
untouched. ``GET /callback`` opens that state and hands the client a wrapped code on its own
redirect URI, with RFC 9207 ``iss``. The state is bound to the browser that passed consent and is
spent on first use (RFC 9700 §4.7, §4.5; MCP security best practices, "confused deputy").

Until the client and its redirect URI are known good, errors are an HTML page, never a redirect
(RFC 6749 §4.1.2.1; no open redirect). After that, errors go back to the client.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authlib.oauth2.rfc7636.challenge import CODE_CHALLENGE_PATTERN
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from . import bodies, consent, flight
from .cimd import MetadataDocumentError, is_metadata_url
from .errors import OAuthError
from .pages import (
    RECONNECT,
    START_AGAIN_OR_REPORT,
    ConsentView,
    Permission,
    busy_page,
    consent_page,
    error_page,
)
from .redirects import (
    ascii_uri,
    check_redirect_uri,
    display_host,
    is_loopback,
    is_trusted_redirect,
    match_redirect_uri,
    redirect_destination,
)
from .resources import OIDC_SCOPE_DESCRIPTIONS, find_resource, resolve_grant
from .sealing import EnvelopeError, Purpose
from .settings import ProtectedResource
from .state import AppState, app_state
from .store import Registration, StoreUnavailable
from .store.base import now

log = logging.getLogger(__name__)

CONSENT_FORM_LIMIT = 16 * 1024
CALLBACK_REFUSED = "Sign-in could not be completed"
# Next steps particular to this module's pages (the common ones are in .pages).
SAME_BROWSER = (
    "Start the sign-in again from your application and finish it in the browser window it opens, "
    "with cookies allowed for this site."
)
REREGISTER_OR_CLOSE = (
    "If you did not just start signing in from an application you use, close this window. "
    "Otherwise remove this server from your application and add it again, so that it registers "
    "the address it now uses; if this page comes back, tell the application's developer."
)
METADATA_UNUSABLE = (
    "Try again in a few minutes. If this page comes back, tell the application's developer "
    "what this page says: the application's description of itself cannot be used."
)

# Parameters the façade forwards to Cognito's authorization endpoint as they came.
PASSTHROUGH = ("identity_provider", "idp_identifier", "login_hint", "prompt", "lang", "nonce")
SINGLE_VALUED = (
    "client_id",
    "redirect_uri",
    "response_type",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
)


class PageError(Exception):
    """The request cannot be trusted to redirect anywhere: show a page instead, with what the
    person can do next."""

    def __init__(
        self,
        title: str,
        detail: str,
        status: int = 400,
        next_step: str = START_AGAIN_OR_REPORT,
        error: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.title = title
        self.detail = detail
        self.status = status
        self.next_step = next_step
        #: The OAuth error code a client that asks for JSON gets instead of the page.
        self.error = error

    def page(self) -> Response:
        return error_page(self.title, self.detail, self.status, next_step=self.next_step)


def revoked() -> PageError:
    """The client's registration was revoked: only registering again can help."""
    return PageError(
        "Application revoked",
        "This application's registration with this server has been revoked or removed.",
        next_step=RECONNECT,
        error="invalid_client",
    )


@dataclass(frozen=True)
class Transaction:
    """A checked authorization request, carried in the consent form and the Cognito ``state``."""

    client_id: str
    backing_client_id: str
    redirect_uri: str
    redirect_uri_given: bool
    resource: str
    scopes: tuple[str, ...]
    code_challenge: str
    state: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    #: The sign-in this transaction belongs to (design D12).
    flow_id: str = ""

    def payload(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def approval(self) -> consent.Approval:
        return consent.Approval(self.client_id, self.redirect_uri, self.resource, self.scopes)

    @classmethod
    def from_payload(cls, payload: dict[str, Any], purpose: Purpose) -> Transaction:
        try:
            return cls(**{**payload, "scopes": tuple(payload["scopes"])})
        except (KeyError, TypeError):
            raise EnvelopeError(purpose, expired=False) from None


def with_query(uri: str, params: dict[str, str | None]) -> str:
    """Add parameters to a redirect URI, keeping any query it was registered with (§3.1.2)."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def client_redirect(state: AppState, txn: Transaction, params: dict[str, str | None]) -> Response:
    """The authorization response on the client's redirect URI, with RFC 9207 ``iss``."""
    location = with_query(
        txn.redirect_uri, {**params, "state": txn.state, "iss": state.settings.issuer}
    )
    return RedirectResponse(location, status_code=302, headers={"Cache-Control": "no-store"})


def error_redirect(state: AppState, txn: Transaction, error: OAuthError) -> Response:
    return client_redirect(
        state, txn, {"error": error.error, "error_description": error.description or None}
    )


def upstream_redirect(request: Request, state: AppState, txn: Transaction) -> Response:
    """Send the browser to Cognito's managed login on the backing client's behalf.

    The sealed ``state`` names this browser (the digest of a secret in its cookie) and carries a
    fresh id that ``/callback`` spends, so the Cognito URL is worth nothing in another browser or
    a second time (design D11)."""
    secret = consent.browser_secret(request, state.settings)
    sealed = {
        "txn": txn.payload(),
        "browser": consent.browser_digest(secret),
        "id": secrets.token_urlsafe(16),
    }
    params = {
        "response_type": "code",
        "client_id": txn.backing_client_id,
        "redirect_uri": state.settings.callback_url,
        "scope": " ".join(txn.scopes),
        "state": state.sealer.seal(Purpose.STATE, sealed),
        "code_challenge": txn.code_challenge,
        "code_challenge_method": "S256",
        **txn.extra,
    }
    if state.settings.resource_binding:
        params["resource"] = txn.resource
    response = RedirectResponse(
        state.upstream.authorize_url(params), status_code=302, headers={"Cache-Control": "no-store"}
    )
    consent.bind_browser(response, state.settings, secret)
    return response


def _single(params: QueryParams, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise OAuthError("invalid_request", f"{name} must not be repeated")
    return values[0] if values else None


def _trusted_redirect(registration: Registration, params: QueryParams) -> tuple[str, bool]:
    """The redirect URI to answer on, once it is proven to belong to the client."""
    values = params.getlist("redirect_uri")
    if len(values) > 1:
        raise PageError("Invalid request", "redirect_uri was sent more than once.")
    if values:
        try:
            check_redirect_uri(values[0])
        except OAuthError:
            raise PageError("Invalid request", "The redirect_uri is not a valid address.") from None
        if not match_redirect_uri(registration.redirect_uris, values[0]):
            raise PageError(
                "Redirect URI mismatch",
                "The application asked to return to an address it did not register.",
                next_step=REREGISTER_OR_CLOSE,
            )
        return values[0], True
    registered = registration.redirect_uris
    if len(registered) == 1 and not is_loopback(registered[0]):
        return registered[0], False
    raise PageError(
        "Invalid request", "The application did not say where to return (redirect_uri)."
    )


async def _registration(state: AppState, client_id: str | None) -> Registration:
    if not client_id:
        raise PageError("Invalid request", "The request names no client (client_id).")
    if state.settings.cimd and is_metadata_url(client_id, state.settings.cimd_allow_loopback):
        registration = await _metadata_document_registration(state, client_id)
    else:
        registration = await run_in_threadpool(state.registrar.get, client_id)
    if registration is None:
        raise PageError(
            "Unknown application",
            "This application is not registered with this server: its registration may have "
            "expired or been removed.",
            next_step=RECONNECT,
            error="invalid_client",
        )
    if registration.status != "active":
        raise revoked()
    return registration


async def _metadata_document_registration(state: AppState, url: str) -> Registration | None:
    """A Client ID Metadata Document client: fetch (or reuse) its document, keep it registered."""
    try:
        metadata = await state.documents.fetch(url)
    except MetadataDocumentError as exc:
        stored = await run_in_threadpool(state.registrar.get, url)
        if stored is None:
            raise PageError(
                "Client metadata unusable", str(exc), next_step=METADATA_UNUSABLE
            ) from None
        log.warning(
            "client metadata document unavailable; using the stored copy",
            extra={"client_id": url, "reason": str(exc)},
        )
        return stored
    return await run_in_threadpool(state.registrar.metadata_document_registration, url, metadata)


def _check(
    params: QueryParams, registration: Registration, state: AppState, redirect_uri: str, given: bool
) -> Transaction:
    """RFC 6749 §4.1.1 with PKCE (RFC 7636 §4.3, S256 only) and RFC 8707 ``resource``."""
    for name in SINGLE_VALUED:
        _single(params, name)
    response_type = params.get("response_type")
    if not response_type:
        raise OAuthError("invalid_request", "response_type is required")
    if response_type != "code":
        raise OAuthError("unsupported_response_type", "only response_type=code is supported")
    if "authorization_code" not in registration.metadata.get("grant_types", []):
        raise OAuthError("unauthorized_client", "this client did not register authorization_code")
    challenge = params.get("code_challenge")
    if not challenge:
        raise OAuthError("invalid_request", "code_challenge is required (PKCE with S256)")
    if params.get("code_challenge_method") != "S256":
        raise OAuthError("invalid_request", "code_challenge_method must be S256")
    if not CODE_CHALLENGE_PATTERN.match(challenge):
        raise OAuthError("invalid_request", "code_challenge is malformed")
    grant = resolve_grant(state.settings.resources, params.getlist("resource"), params.get("scope"))
    return Transaction(
        client_id=registration.client_id,
        backing_client_id=registration.backing_client_id,
        redirect_uri=redirect_uri,
        redirect_uri_given=given,
        resource=grant.resource,
        scopes=grant.scopes,
        code_challenge=challenge,
        state=params.get("state"),
        extra={k: v for k in PASSTHROUGH if (v := params.get(k))},
    )


def _prefers_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


async def authorize(request: Request) -> Response:
    """GET /authorize."""
    state = app_state(request)
    flow_id = flight.new_flow_id()
    flight.note(request, step="authorize", flow_id=flow_id)
    try:
        params = _query(request)
        client_id = _single_or_page(params, "client_id")
        flight.note(request, client_id=client_id)
        registration = await _registration(state, client_id)
        redirect_uri, given = _trusted_redirect(registration, params)
    except PageError as exc:
        flight.sign_in_failed(request, "authorization_request", exc.error or "page")
        # A client checking its cached registration before opening the browser (mcp-remote does)
        # asks for JSON; invalid_client tells it to register again (RFC 6749 §5.2 codes).
        if exc.error and _prefers_json(request):
            return JSONResponse(
                {"error": exc.error, "error_description": exc.detail}, status_code=exc.status
            )
        return exc.page()
    partial = Transaction(
        client_id=registration.client_id,
        backing_client_id=registration.backing_client_id,
        redirect_uri=redirect_uri,
        redirect_uri_given=given,
        resource="",
        scopes=(),
        code_challenge="",
        state=params.get("state"),
    )
    try:
        txn = replace(_check(params, registration, state, redirect_uri, given), flow_id=flow_id)
    except OAuthError as exc:
        flight.sign_in_failed(request, "authorization_request", exc.error)
        return error_redirect(state, partial, exc)
    if _skip_consent(request, state, txn):
        flight.note(request, consent="skipped")
        flight.METRICS.emit("SignInsStarted")
        return upstream_redirect(request, state, txn)
    if "none" in txn.extra.get("prompt", "").split():
        # OpenID Connect Core §3.1.2.6: no page may be shown, and consent is missing.
        flight.sign_in_failed(request, "consent_required", "consent_required")
        return error_redirect(
            state, txn, OAuthError("consent_required", "this client is not yet approved")
        )
    flight.note(request, consent="shown")
    flight.METRICS.emit("SignInsStarted")
    return _consent_form(state, registration, txn)


def _query(request: Request) -> QueryParams:
    try:
        return bodies.query(request)
    except bodies.BadBody:
        raise PageError("Invalid request", "The request's parameters are not valid text.") from None


def _single_or_page(params: QueryParams, name: str) -> str | None:
    try:
        return _single(params, name)
    except OAuthError:
        raise PageError("Invalid request", f"{name} was sent more than once.") from None


def _skip_consent(request: Request, state: AppState, txn: Transaction) -> bool:
    """An https redirect to an operator-trusted host, or an approval this browser remembers."""
    if is_trusted_redirect(txn.redirect_uri, state.settings.trusted_redirect_hosts):
        return True
    return consent.is_approved(request, state.settings, state.sealer, txn.approval)


def _consent_form(state: AppState, registration: Registration, txn: Transaction) -> Response:
    nonce = consent.new_csrf_nonce()
    resource = find_resource(state.settings.resources, txn.resource)
    uris = registration.redirect_uris
    client_uri = registration.metadata.get("client_uri")
    view = ConsentView(
        client_name=registration.client_name,
        # A metadata-document client is who serves its client_id URL; its name is only a claim.
        client_host=(
            display_host(urlsplit(registration.client_id).hostname or "")
            if registration.kind == "cimd"
            else None
        ),
        client_id=registration.client_id,
        # Only a web address becomes a link: RFC 7591 accepts any scheme://authority, and a
        # javascript: "home page" must not be one click from running on this origin.
        client_uri=(
            ascii_uri(client_uri)
            if isinstance(client_uri, str)
            and urlsplit(client_uri).scheme.lower() in ("https", "http")
            else None
        ),
        redirect_host=redirect_destination(txn.redirect_uri),
        redirect_uri=ascii_uri(txn.redirect_uri),
        resource_name=resource.name if resource else txn.resource,
        resource=txn.resource,
        permissions=_permissions(resource, txn.scopes),
        loopback_only=all(is_loopback(u) for u in uris),
        form_token=nonce,
        transaction=state.sealer.seal(Purpose.CONSENT_FORM, {"txn": txn.payload(), "csrf": nonce}),
        action=state.settings.endpoint("/consent"),
    )
    response = consent_page(view)
    consent.set_csrf_cookie(response, state.settings, nonce)
    return response


def _permissions(
    resource: ProtectedResource | None, scopes: tuple[str, ...]
) -> tuple[Permission, ...]:
    """Each scope the token will carry, with what it lets the application do in words."""
    names = dict(zip(resource.cognito_scopes, resource.scopes, strict=True)) if resource else {}
    return tuple(
        Permission(
            resource.describe(names[scope])
            if resource and scope in names
            else OIDC_SCOPE_DESCRIPTIONS.get(scope, scope),
            scope,
        )
        for scope in scopes
    )


async def decide(request: Request) -> Response:
    """POST /consent: the person approved or denied; continue to Cognito or tell the client."""
    state = app_state(request)
    flight.note(request, step="consent")
    try:
        form = bodies.form_fields(await bodies.read(request, CONSENT_FORM_LIMIT))
        sealed = state.sealer.open(Purpose.CONSENT_FORM, form.get("transaction", ""))
        txn = Transaction.from_payload(sealed["txn"], Purpose.CONSENT_FORM)
    except (bodies.BadBody, EnvelopeError, KeyError, TypeError):
        flight.sign_in_failed(request, "consent_expired", "page")
        return error_page("This page has expired", "The approval form is no longer valid.")
    flight.note(request, flow_id=txn.flow_id or None, client_id=txn.client_id)
    if not consent.csrf_ok(
        request, state.settings, str(sealed.get("csrf", "")), form.get("csrf_token", "")
    ):
        flight.sign_in_failed(request, "consent_refused", "page")
        return error_page(
            "Request refused",
            "The approval did not come from this browser's page.",
            status=403,
            next_step=SAME_BROWSER,
        )
    registration = await run_in_threadpool(state.registrar.active, txn.client_id)
    if registration is None:
        flight.sign_in_failed(request, "revoked", "page")
        return revoked().page()
    if form.get("decision") != "approve":
        flight.note(request, error="access_denied")
        flight.METRICS.emit("SignInsDenied")
        response = error_redirect(
            state, txn, OAuthError("access_denied", "the user denied the request")
        )
    else:
        response = upstream_redirect(request, state, txn)
        consent.remember(response, request, state.settings, state.sealer, txn.approval)
    consent.clear_csrf_cookie(response, state.settings)
    return response


async def callback(request: Request) -> Response:
    """GET /callback: Cognito's authorization response, relayed to the client (RFC 9207 ``iss``).

    Cognito's code goes back wrapped with what it was issued for, so ``/token`` can check the
    client, redirect URI and resource that Cognito itself cannot.
    """
    state = app_state(request)
    flight.note(request, step="callback")
    try:
        params = _query(request)
    except PageError as exc:
        flight.sign_in_failed(request, "callback_request", "page")
        return error_page(exc.title, exc.detail, exc.status)
    try:
        txn, browser, txn_id = _open_state(state, params.get("state", ""))
    except EnvelopeError as exc:
        flight.sign_in_failed(request, "state_expired" if exc.expired else "state_invalid", "page")
        detail = (
            "The sign-in took too long."
            if exc.expired
            else "The sign-in response could not be verified."
        )
        return error_page(CALLBACK_REFUSED, detail)
    flight.note(request, flow_id=txn.flow_id or None, client_id=txn.client_id)
    refused = await _refusal(request, state, browser, txn_id)
    if refused is not None:
        return refused
    if params.get("error"):
        if params["error"] == "access_denied":
            flight.note(request, error="access_denied")
            flight.METRICS.emit("SignInsDenied")
        else:
            flight.sign_in_failed(request, "upstream_error", params["error"])
        return client_redirect(
            state,
            txn,
            {"error": params["error"], "error_description": params.get("error_description")},
        )
    code = params.get("code")
    if not code:
        flight.sign_in_failed(request, "no_code", "server_error")
        return error_redirect(
            state, txn, OAuthError("server_error", "the identity provider returned no code")
        )
    wrapped = state.sealer.seal(
        Purpose.CODE,
        {
            "code": code,
            "client_id": txn.client_id,
            "backing_client_id": txn.backing_client_id,
            "redirect_uri": txn.redirect_uri,
            "redirect_uri_given": txn.redirect_uri_given,
            "resource": txn.resource,
            "scopes": list(txn.scopes),
            # /token checks the verifier against it first, to say when PKCE is what failed.
            "code_challenge": txn.code_challenge,
            "flow_id": txn.flow_id,
        },
    )
    flight.METRICS.emit("SignInsCompleted")
    return client_redirect(state, txn, {"code": wrapped})


def _open_state(state: AppState, sealed: str) -> tuple[Transaction, str, str]:
    """The transaction, the browser digest and the id that ``state`` was sealed with."""
    opened = state.sealer.open(Purpose.STATE, sealed)
    browser, txn_id = opened.get("browser"), opened.get("id")
    if not (isinstance(browser, str) and isinstance(txn_id, str) and txn_id):
        raise EnvelopeError(Purpose.STATE, expired=False)
    return Transaction.from_payload(opened.get("txn"), Purpose.STATE), browser, txn_id


async def _refusal(request: Request, state: AppState, browser: str, txn_id: str) -> Response | None:
    """Refuse the authorization response unless it reached the browser the transaction was bound
    to (RFC 9700 §4.7.1, §4.5.3; the MCP confused deputy) and is its first use. A page, never a
    redirect: the response is not the client's to receive. None when it may go on."""
    if not consent.is_bound_browser(request, state.settings, browser):
        log.warning("authorization response refused: another browser", extra={"txn": txn_id})
        flight.sign_in_failed(request, "another_browser", "page")
        return error_page(
            CALLBACK_REFUSED,
            "This sign-in was started in another browser.",
            status=403,
            next_step=SAME_BROWSER,
        )
    try:
        first = await run_in_threadpool(
            state.registrar.store.spend_once, f"state#{txn_id}", now() + Purpose.STATE.max_age
        )
    except StoreUnavailable as exc:
        log.error("registration store unavailable", extra={"reason": str(exc)})
        flight.sign_in_failed(request, "store_unavailable", "page")
        return busy_page()
    if not first:
        log.warning("authorization response refused: replayed", extra={"txn": txn_id})
        flight.sign_in_failed(request, "replayed", "page")
        return error_page(
            CALLBACK_REFUSED,
            "This sign-in response was already used.",
        )
    return None
