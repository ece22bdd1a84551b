"""Discovery documents: RFC 8414 authorization-server metadata (also served as OpenID Connect
Discovery 1.0) and RFC 9728 protected-resource metadata for the MCP servers the façade fronts.

Cognito's own discovery lacks ``code_challenge_methods_supported`` and lives on another host, which
is why MCP clients refuse it; this document says ``S256`` and points every endpoint at the façade.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc8414 import get_well_known_url
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from resourcekit.metadata import protected_resource_metadata

from .client_metadata import GRANT_TYPES
from .resources import scopes_supported
from .settings import Settings
from .state import app_state

CACHE = {"Cache-Control": "public, max-age=300"}


def authorization_server_metadata(settings: Settings) -> dict[str, Any]:
    """RFC 8414 §2, with RFC 9207 §3 and the fields OpenID Connect Discovery requires."""
    return {
        "issuer": settings.issuer,
        "authorization_endpoint": settings.endpoint("/authorize"),
        "token_endpoint": settings.endpoint("/token"),
        "registration_endpoint": settings.endpoint("/register"),
        "revocation_endpoint": settings.endpoint("/revoke"),
        "jwks_uri": settings.jwks_url,
        "scopes_supported": scopes_supported(settings.resources),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "token_endpoint_auth_methods_supported": list(settings.client_auth_methods),
        "revocation_endpoint_auth_methods_supported": list(settings.client_auth_methods),
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": settings.cimd,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


async def _as_metadata(request: Request) -> Response:
    return JSONResponse(authorization_server_metadata(app_state(request).settings), headers=CACHE)


def routes(settings: Settings) -> list[Route]:
    """Every well-known URL a client may probe (MCP 2025-11-25 discovery order), including the
    path-suffixed forms for an issuer with a path and the per-resource PRM paths."""
    paths = {
        get_well_known_url(settings.issuer, suffix="oauth-authorization-server"),
        get_well_known_url(settings.issuer, suffix="openid-configuration"),
        f"{settings.issuer_path}/.well-known/openid-configuration",
    }
    # Clients written to the 2025-03-26 revision derive the metadata URL from the MCP URL,
    # path included; answering there too costs nothing and the issuer inside stays exact.
    for resource in settings.resources:
        suffix = urlsplit(resource.uri).path.rstrip("/")
        paths |= {
            f"/.well-known/oauth-authorization-server{suffix}",
            f"/.well-known/openid-configuration{suffix}",
        }
    found: list[Route] = [Route(p, _as_metadata, methods=["GET"]) for p in sorted(paths)]
    prm = {"/.well-known/oauth-protected-resource": settings.default_resource}
    for resource in settings.resources:
        suffix = urlsplit(resource.uri).path.rstrip("/")
        prm.setdefault(f"/.well-known/oauth-protected-resource{suffix}", resource)
    for path, resource in prm.items():
        # RFC 9728 §2 for a resource whose server cannot publish its own: the same document
        # the resource servers build.
        document = protected_resource_metadata(
            resource.uri, [settings.issuer], resource.cognito_scopes, resource.name
        )

        async def _prm(request: Request, document: dict[str, Any] = document) -> Response:
            return JSONResponse(document, headers=CACHE)

        found.append(Route(path, _prm, methods=["GET"]))
    return found
