"""Dynamic client registration: RFC 7591 (``POST /register``) and RFC 7592 (``GET``, ``PUT`` and
``DELETE`` on the client configuration endpoint ``/register/<client_id>``).

Metadata is validated with Authlib's RFC 7591 claims model, with the redirect-URI rules of
:mod:`.redirects` in place of Authlib's (which would refuse RFC 8252 private-use schemes).
"""

from __future__ import annotations

import json
from typing import Any

from authlib.oauth2.rfc7591 import ClientMetadataClaims
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .clients import IssuedRegistration, matches
from .errors import NO_STORE, OAuthError, invalid_client
from .redirects import check_redirect_uri
from .settings import Settings
from .state import app_state
from .store import Registration

MAX_BODY = 16 * 1024
AUTH_METHODS = ("none", "client_secret_post", "client_secret_basic")
GRANT_TYPES = ("authorization_code", "refresh_token")
# Client metadata the façade keeps (RFC 7591 §2 plus OIDC Registration's application_type);
# jwks and jwks_uri are dropped because no JWT client authentication is offered.
KEPT_FIELDS = (
    "redirect_uris",
    "token_endpoint_auth_method",
    "grant_types",
    "response_types",
    "client_name",
    "client_uri",
    "logo_uri",
    "scope",
    "contacts",
    "tos_uri",
    "policy_uri",
    "software_id",
    "software_version",
    "application_type",
)
_STRING_FIELDS = (
    "client_name",
    "client_uri",
    "logo_uri",
    "scope",
    "tos_uri",
    "policy_uri",
    "software_id",
    "software_version",
)


def invalid_metadata(description: str) -> OAuthError:
    return OAuthError("invalid_client_metadata", description)


class _Claims(ClientMetadataClaims):
    """Authlib's RFC 7591 checks, with the redirect URIs left to :func:`check_redirect_uri`."""

    def validate_redirect_uris(self) -> None:
        return None


def validate_client_metadata(body: object, settings: Settings) -> dict[str, Any]:
    """RFC 7591 §2: check a registration request and return the metadata the façade registers.

    Values a client leaves out get their RFC 7591 defaults, except ``grant_types``, which defaults
    to both grants the façade offers so clients that omit it can still refresh.
    """
    if not isinstance(body, dict):
        raise invalid_metadata("the request body must be a JSON object")
    uris = body.get("redirect_uris")
    if not isinstance(uris, list) or not uris:
        raise OAuthError("invalid_redirect_uri", "redirect_uris must be a non-empty list")
    for uri in uris:
        check_redirect_uri(uri, settings.allowed_redirect_hosts)
    for name in _STRING_FIELDS:
        if name in body and body[name] is not None and not isinstance(body[name], str):
            raise invalid_metadata(f"{name} must be a string")
    metadata = {k: body[k] for k in KEPT_FIELDS if body.get(k) is not None}
    metadata.setdefault("token_endpoint_auth_method", "client_secret_basic")
    metadata.setdefault("grant_types", list(GRANT_TYPES))
    metadata.setdefault("response_types", ["code"])
    claims = _Claims(
        metadata,
        {},
        ClientMetadataClaims.get_claims_options(
            {
                "response_types_supported": ["code"],
                "grant_types_supported": list(GRANT_TYPES),
                "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            }
        ),
    )
    try:
        claims.validate()
    except JoseError as exc:
        field = getattr(exc, "claim", "") or "metadata"
        raise invalid_metadata(f"{field} is not acceptable") from None
    if metadata.get("application_type", "native") not in ("native", "web"):
        raise invalid_metadata("application_type must be native or web")
    if "contacts" in metadata and not all(isinstance(c, str) for c in metadata["contacts"]):
        raise invalid_metadata("contacts must be a list of strings")
    if len(metadata["redirect_uris"]) > 20:
        raise invalid_metadata("no more than 20 redirect_uris")
    return dict(claims)


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
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise invalid_metadata(f"request body larger than {MAX_BODY} bytes")
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise invalid_metadata("the request body is not JSON") from None


async def register(request: Request) -> Response:
    """RFC 7591 §3.1: register a client; 201 with its credentials."""
    state = app_state(request)
    metadata = validate_client_metadata(await _json_body(request), state.settings)
    issued = await run_in_threadpool(state.registrar.register, metadata)
    return JSONResponse(
        registration_response(state.settings, issued.registration, issued),
        status_code=201,
        headers=NO_STORE,
    )


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def manage(request: Request) -> Response:
    """RFC 7592 §2: read, update or delete a registration with its registration access token."""
    state = app_state(request)
    client_id = request.path_params["client_id"]
    registration = await run_in_threadpool(
        state.registrar.authenticate_management, client_id, _bearer(request)
    )
    if request.method == "DELETE":
        await run_in_threadpool(state.registrar.delete, registration)
        return Response(status_code=204, headers=NO_STORE)
    if registration.status != "active":
        raise invalid_client("this client registration was revoked")
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
        registration = await run_in_threadpool(state.registrar.update, registration, metadata)
    return JSONResponse(registration_response(state.settings, registration), headers=NO_STORE)
