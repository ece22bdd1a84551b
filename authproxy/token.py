"""The token endpoint (RFC 6749 §3.2, §4.1.3, §6) and token revocation (RFC 7009), forwarded to
Cognito with the backing client's credentials (design D2).

The client authenticates to the façade with what it registered (RFC 6749 §2.3.1). The façade checks
what Cognito cannot — the wrapped code's client, redirect URI and resource, whether the registration
is still active — then sends Cognito its own code, the client's ``code_verifier`` (Cognito verifies
PKCE) and the façade's callback. Access and ID tokens come back untouched; the refresh token is
wrapped so it stays bound to the registration that obtained it.
"""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import unquote_plus

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import bodies, flight
from .cognito_oauth import UpstreamResponse, UpstreamUnavailable
from .errors import (
    NO_STORE,
    OAuthError,
    invalid_client,
    invalid_grant,
    invalid_request,
    temporarily_unavailable,
)
from .sealing import EnvelopeError, Purpose
from .state import AppState, app_state
from .store import Registration

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
#: RFC 6749 §5.2's error codes, RFC 8707's and the two this server answers when it cannot serve.
TOKEN_ERRORS = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_target",
        "temporarily_unavailable",
        "server_error",
    }
)


async def read_params(request: Request) -> dict[str, str]:
    """The request parameters, form-encoded (RFC 6749 §3.2) or, for lenient clients, JSON."""
    try:
        raw = await bodies.read(request, MAX_BODY)
        if bodies.content_type(request) != "application/json":
            return bodies.form_fields(raw)
        body = bodies.json_value(raw or b"{}")
    except bodies.BadBody as exc:
        raise invalid_request(str(exc)) from None
    if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
        raise invalid_request("the request body must be a JSON object of strings")
    return body


def client_credentials(request: Request, params: dict[str, str]) -> tuple[str, str | None]:
    """RFC 6749 §2.3.1: HTTP Basic or body parameters, never both, by a method the server offers.

    OAuth 2.1 §2.4.1: a client issued a secret may use Basic or the body, whichever it registered;
    the registrar then checks the secret, and refuses a confidential client that sent none."""
    client_id, secret, method = presented_credentials(request, params)
    if method not in app_state(request).settings.client_auth_methods:
        raise invalid_client(f"{method} client authentication is not offered here")
    return client_id, secret


def presented_credentials(request: Request, params: dict[str, str]) -> tuple[str, str | None, str]:
    """The client id, secret and the authentication method the request used."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        if "client_secret" in params:
            raise invalid_request("use one client authentication method, not two")
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except ValueError:
            # binascii.Error, UnicodeDecodeError, and b64decode's refusal of a header byte beyond
            # ASCII (a plain ValueError, which once escaped as a 500) are all ValueErrors.
            raise invalid_client("malformed Basic credentials") from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise invalid_client("malformed Basic credentials")
        client_id, secret = unquote_plus(user), unquote_plus(password)
        if params.get("client_id", client_id) != client_id:
            raise invalid_client("client_id does not match credentials")
        return client_id, secret, "client_secret_basic"
    client_id = params.get("client_id", "")
    if not client_id:
        raise invalid_client("client authentication is required")
    secret = params.get("client_secret")
    return client_id, secret, "none" if secret is None else "client_secret_post"


def _token_response(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers=NO_STORE)


async def _authenticate(state: AppState, client_id: str, secret: str | None) -> Registration:
    """RFC 6749 §2.3 against the registration as stored now (read on every request, so a
    revocation takes effect at once): on the event loop when the store's reads are local lookups
    (SQLite), else in a worker thread (DynamoDB answers over the network)."""
    if state.registrar.store.local_reads:
        return state.registrar.authenticate(client_id, secret)
    return await run_in_threadpool(state.registrar.authenticate, client_id, secret)


async def _backing_credentials(state: AppState, backing_client_id: str) -> tuple[str, str]:
    """The backing client's credentials: from memory on the event loop (a thread-pool hop costs
    far more than the lookup), else read from the store or Cognito in a worker thread."""
    cached = state.registrar.cached_backing_credentials(backing_client_id)
    if cached is not None:
        return cached
    return await run_in_threadpool(state.registrar.backing_credentials, backing_client_id)


async def _forward(
    state: AppState, registration: Registration, backing_client_id: str, form: dict[str, str]
) -> UpstreamResponse:
    """Redeem the grant at Cognito. The registration's use is recorded first: once Cognito has
    answered, its code or refresh token is spent, so nothing after that may fail the request and
    throw the tokens away. A store failure here is a 503 the client can retry with the grant it
    still holds; a grant Cognito then refuses was still this registration's (sealed for it)."""
    if state.registrar.touch_due(registration):
        await run_in_threadpool(state.registrar.touch, registration)
    client_id, secret = await _backing_credentials(state, backing_client_id)
    try:
        upstream = await state.upstream.token({**form, "client_id": client_id}, client_id, secret)
    except UpstreamUnavailable as exc:
        log.warning("Cognito token endpoint unavailable", extra={"reason": exc.reason})
        raise temporarily_unavailable(
            "the identity provider is not answering; retry shortly", exc.retry_after
        ) from None
    if not upstream.ok:
        _raise_upstream_error(upstream)
    return upstream


def _raise_upstream_error(upstream: UpstreamResponse) -> None:
    error = str(upstream.body.get("error") or "invalid_request")
    if error == "invalid_client":
        # Our own credentials were refused: the client can do nothing about it.
        log.error("Cognito refused the backing client credentials")
        raise OAuthError("server_error", "the identity provider refused this server", status=502)
    raise OAuthError(error, str(upstream.body.get("error_description") or ""), status=400)


def _relay(
    request: Request,
    grant_type: str,
    registration: Registration,
    upstream: UpstreamResponse,
    envelope: dict[str, Any],
) -> JSONResponse:
    """Cognito's tokens, with the refresh token wrapped and the granted scope stated (§5.1).
    A client that did not register the refresh_token grant gets no refresh token (§1.5)."""
    state = app_state(request)
    body = dict(upstream.body)
    flight.note(request, **flight.token_facts(body.get("access_token")))
    flight.METRICS.emit("TokensIssued", GrantType=grant_type)
    refresh_token = body.pop("refresh_token", None)
    if refresh_token and "refresh_token" in registration.metadata.get("grant_types", []):
        body["refresh_token"] = state.sealer.seal(
            Purpose.REFRESH, {**envelope, "refresh_token": refresh_token}
        )
    body.setdefault("token_type", "Bearer")
    body["scope"] = " ".join(envelope["scopes"])
    return _token_response(body)


def _open(state: AppState, purpose: Purpose, value: str | None, what: str) -> dict[str, Any]:
    if not value:
        raise invalid_request(f"{what} is required")
    try:
        return state.sealer.open(purpose, value)
    except EnvelopeError as exc:
        raise invalid_grant(f"{what} is {'expired' if exc.expired else 'invalid'}") from None


def _check_resource(params: dict[str, str], granted: str) -> None:
    """RFC 8707 §2.2: a ``resource`` at the token endpoint must be one the grant was for."""
    wanted = params.get("resource")
    if wanted is not None and wanted.rstrip("/") != granted:
        raise OAuthError("invalid_target", "resource differs from the one authorized")


async def _authorization_code(
    request: Request, registration: Registration, params: dict[str, str]
) -> JSONResponse:
    """RFC 6749 §4.1.3 with RFC 7636 §4.5."""
    state = app_state(request)
    code = _open(state, Purpose.CODE, params.get("code"), "code")
    flight.note(request, flow_id=code.get("flow_id") or None)
    if code.get("client_id") != registration.client_id:
        raise invalid_grant("code was issued to another client")
    redirect_uri = params.get("redirect_uri")
    must_match = code.get("redirect_uri_given") or redirect_uri is not None
    if must_match and redirect_uri != code.get("redirect_uri"):
        raise invalid_grant("redirect_uri differs from the authorization request")
    _check_resource(params, code["resource"])
    verifier = params.get("code_verifier")
    if not verifier:
        raise invalid_request("code_verifier is required (PKCE)")
    if not CODE_VERIFIER_PATTERN.match(verifier):
        raise invalid_grant("code_verifier is malformed")
    # Cognito verifies PKCE too (design D2); checking first names the cause when it fails.
    challenge = code.get("code_challenge")
    if challenge and create_s256_code_challenge(verifier) != challenge:
        raise invalid_grant("code_verifier does not match the code_challenge (PKCE)")
    upstream = await _forward(
        state,
        registration,
        code["backing_client_id"],
        {
            "grant_type": "authorization_code",
            "code": code["code"],
            "redirect_uri": state.settings.callback_url,
            "code_verifier": verifier,
        },
    )
    envelope = {
        "client_id": registration.client_id,
        "backing_client_id": code["backing_client_id"],
        "resource": code["resource"],
        "scopes": code["scopes"],
        "flow_id": code.get("flow_id", ""),
        # The registration instance: a metadata-document client deleted by an operator is
        # registered afresh under the same client id, and must not inherit these tokens.
        "registered_at": registration.created_at,
    }
    return _relay(request, "authorization_code", registration, upstream, envelope)


async def _refresh_token(
    request: Request, registration: Registration, params: dict[str, str]
) -> JSONResponse:
    """RFC 6749 §6. Cognito keeps the original scopes; narrowing is not offered."""
    state = app_state(request)
    envelope = _open(state, Purpose.REFRESH, params.get("refresh_token"), "refresh_token")
    flight.note(request, flow_id=envelope.get("flow_id") or None)
    if envelope.get("client_id") != registration.client_id:
        raise invalid_grant("refresh_token was issued to another client")
    if envelope.get("registered_at", registration.created_at) != registration.created_at:
        raise invalid_grant("refresh_token was issued to an earlier registration of this client")
    _check_resource(params, envelope["resource"])
    refresh_token = envelope.pop("refresh_token")
    upstream = await _forward(
        state,
        registration,
        envelope["backing_client_id"],
        {"grant_type": "refresh_token", "refresh_token": refresh_token},
    )
    return _relay(request, "refresh_token", registration, upstream, envelope)


GRANTS = {"authorization_code": _authorization_code, "refresh_token": _refresh_token}


async def token(request: Request) -> Response:
    """POST /token. Noted for the flight recorder (its step is the grant) and counted."""
    flight.note(request, step="token")
    try:
        response = await _token(request)
    except OAuthError as exc:
        flight.note(request, error=exc.error, error_description=exc.description or None)
        # A metric dimension must stay a small, fixed vocabulary (whatever Cognito says).
        flight.METRICS.emit(
            "TokenErrors", Error=exc.error if exc.error in TOKEN_ERRORS else "other"
        )
        raise
    return response


async def _token(request: Request) -> Response:
    state = app_state(request)
    params = await read_params(request)
    client_id, secret = client_credentials(request, params)
    grant_type = params.get("grant_type")
    flight.note(
        request, step="refresh" if grant_type == "refresh_token" else None, client_id=client_id
    )
    if not grant_type:
        raise invalid_request("grant_type is required")
    handler = GRANTS.get(grant_type)
    if handler is None:
        raise OAuthError("unsupported_grant_type", f"{grant_type[:60]!r} is not supported")
    registration = await _authenticate(state, client_id, secret)
    if grant_type not in registration.metadata.get("grant_types", []):
        raise OAuthError("unauthorized_client", f"this client did not register {grant_type}")
    return await handler(request, registration, params)


async def revoke(request: Request) -> Response:
    """POST /revoke (RFC 7009 §2). Refresh tokens are revoked at Cognito, which also ends the
    access tokens issued from them for Cognito's own APIs; anything else is answered 200 as
    §2.2 asks for tokens the server does not know."""
    state = app_state(request)
    flight.note(request, step="revoke")
    params = await read_params(request)
    client_id, secret = client_credentials(request, params)
    flight.note(request, client_id=client_id)
    registration = await _authenticate(state, client_id, secret)
    value = params.get("token")
    if not value:
        raise invalid_request("token is required")
    try:
        envelope = state.sealer.open(Purpose.REFRESH, value)
    except EnvelopeError:
        return Response(status_code=200, headers=NO_STORE)
    flight.note(request, flow_id=envelope.get("flow_id") or None)
    if envelope.get("client_id") != registration.client_id:
        raise invalid_grant("token was issued to another client")
    backing_id, backing_secret = await _backing_credentials(state, envelope["backing_client_id"])
    try:
        upstream = await state.upstream.revoke(
            envelope["refresh_token"], backing_id, backing_secret
        )
    except UpstreamUnavailable as exc:
        raise temporarily_unavailable(
            "the identity provider is not answering", exc.retry_after
        ) from None
    if not upstream.ok and upstream.body.get("error") != "unsupported_token_type":
        _raise_upstream_error(upstream)
    return Response(status_code=200, headers=NO_STORE)
