"""Dynamic client registration: RFC 7591 (``POST /register``) and RFC 7592 (``GET``, ``PUT`` and
``DELETE`` on the client configuration endpoint ``/register/<client_id>``). What metadata is
acceptable is :mod:`.client_metadata`'s business.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from servicekit.bearer import bearer_token

from . import bodies, flight
from .client_metadata import invalid_metadata, validate_client_metadata
from .clients import IssuedRegistration, matches
from .errors import NO_STORE, invalid_client
from .settings import Settings
from .state import app_state
from .store import Registration

MAX_BODY = 16 * 1024


def registration_response(
    settings: Settings, registration: Registration, issued: IssuedRegistration | None = None
) -> dict[str, Any]:
    """RFC 7591 §3.2.1 / RFC 7592 §3: the registered metadata plus the façade-issued values."""
    body: dict[str, Any] = {
        "client_id": registration.client_id,
        "client_id_issued_at": registration.created_at,
        **registration.metadata,
    }
    if registration.is_confidential:
        body["client_secret_expires_at"] = 0
        if issued and issued.client_secret:
            body["client_secret"] = issued.client_secret
    if issued and issued.registration_access_token:
        body["registration_access_token"] = issued.registration_access_token
    if registration.kind == "dcr":
        body["registration_client_uri"] = settings.endpoint(f"/register/{registration.client_id}")
    return body


async def _json_body(request: Request) -> object:
    try:
        return bodies.json_value(await bodies.read(request, MAX_BODY))
    except bodies.BadBody as exc:
        raise invalid_metadata(str(exc)) from None


async def register(request: Request) -> Response:
    """RFC 7591 §3.1: register a client; 201 with its credentials."""
    state = app_state(request)
    flight.note(request, step="register")
    metadata = validate_client_metadata(await _json_body(request), state.settings)
    issued = await run_in_threadpool(state.registrar.register, metadata)
    flight.note(request, client_id=issued.registration.client_id)
    return JSONResponse(
        registration_response(state.settings, issued.registration, issued),
        status_code=201,
        headers=NO_STORE,
    )


async def manage(request: Request) -> Response:
    """RFC 7592 §2: read, update or delete a registration with its registration access token."""
    state = app_state(request)
    client_id = request.path_params["client_id"]
    token = bearer_token(request.headers.get("authorization"))
    registration = await run_in_threadpool(
        state.registrar.authenticate_management, client_id, token
    )
    # A revoked registration stays as the operator left it: the client can no longer read,
    # change or delete it (the record is the operator's audit trail).
    if registration.status != "active":
        raise invalid_client("this client registration was revoked")
    if request.method == "DELETE":
        await run_in_threadpool(state.registrar.delete, registration)
        return Response(status_code=204, headers=NO_STORE)
    metadata = None
    if request.method == "PUT":
        body = await _json_body(request)
        if not isinstance(body, dict) or body.get("client_id") != client_id:
            raise invalid_metadata("the body must carry this registration's client_id")
        metadata = validate_client_metadata(body, state.settings)
        was_confidential = registration.is_confidential
        if (metadata["token_endpoint_auth_method"] != "none") != was_confidential:
            raise invalid_metadata("a client cannot change between public and confidential")
        if "client_secret" in body and not matches(
            body["client_secret"], registration.client_secret_hash
        ):
            raise invalid_metadata("client_secret does not match")
    issued = await run_in_threadpool(
        state.registrar.reissue_management_token, registration, metadata
    )
    return JSONResponse(
        registration_response(state.settings, issued.registration, issued), headers=NO_STORE
    )
