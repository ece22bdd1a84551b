"""Client metadata (RFC 7591 §2): what a client may register, checked the same way whether it
arrives at the registration endpoint or in a Client ID Metadata Document.

Authlib's RFC 7591 claims model does the field checks, with the redirect-URI rules of
:mod:`.redirects` in place of Authlib's (which would refuse RFC 8252 private-use schemes).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc7591 import ClientMetadataClaims
from joserfc.errors import JoseError

from .errors import OAuthError
from .redirects import check_redirect_uri
from .settings import Settings

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
MAX_REDIRECT_URIS = 20
_LIST_FIELDS = ("grant_types", "response_types", "contacts")
_STRING_FIELDS = (
    "token_endpoint_auth_method",
    "application_type",
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
    if len(uris) > MAX_REDIRECT_URIS:
        raise invalid_metadata(f"no more than {MAX_REDIRECT_URIS} redirect_uris")
    for uri in uris:
        check_redirect_uri(uri, settings.allowed_redirect_hosts)
    # Authlib's claims model assumes the JSON types RFC 7591 §2 gives each field; check them first.
    for name in _STRING_FIELDS:
        if body.get(name) is not None and not isinstance(body[name], str):
            raise invalid_metadata(f"{name} must be a string")
    for name in _LIST_FIELDS:
        value = body.get(name)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            raise invalid_metadata(f"{name} must be a list of strings")
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
                "token_endpoint_auth_methods_supported": list(settings.client_auth_methods),
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
    if "authorization_code" not in metadata["grant_types"]:
        raise invalid_metadata("grant_types must include authorization_code")
    return dict(claims)
