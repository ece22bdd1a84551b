"""OAuth 2.0 Protected Resource Metadata (RFC 9728) for the MCP endpoint.

The document tells a client which authorization server issues tokens for this resource. It is
served at the path-suffixed well-known URI (RFC 9728 §3.1) and at the root form, because some
clients (Claude.ai) probe the root and give up on a 404 there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

WELL_KNOWN = "/.well-known/oauth-protected-resource"


def metadata_path(resource: str) -> str:
    """RFC 9728 §3.1: the well-known segment goes between the host and the resource's path."""
    path = urlsplit(resource).path.rstrip("/")
    return f"{WELL_KNOWN}{path}"


def metadata_url(resource: str) -> str:
    """The absolute URL of the metadata, as ``resource_metadata`` in a challenge (RFC 9728 §5.1)."""
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}{metadata_path(resource)}"


def protected_resource_metadata(
    resource: str, authorization_servers: Sequence[str], scopes: Sequence[str], name: str
) -> dict[str, Any]:
    """RFC 9728 §2: the metadata document.

    ``scopes_supported`` lists full Cognito scope strings and never ``offline_access``, which
    Cognito rejects and which clients would otherwise append to their requests.
    """
    return {
        "resource": resource,
        "authorization_servers": list(authorization_servers),
        "scopes_supported": list(scopes),
        "bearer_methods_supported": ["header"],
        "resource_name": name,
    }


def metadata_endpoint(document: dict[str, Any]) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint serving ``document`` to ``GET`` and to CORS preflight requests.

    Browser-based clients fetch the metadata cross-origin, hence the permissive CORS headers; the
    document is public by design.
    """

    async def endpoint(request: Request) -> Response:
        cors = {"Access-Control-Allow-Origin": "*"}
        if request.method == "OPTIONS":
            return Response(
                status_code=204,
                headers={
                    **cors,
                    "Access-Control-Allow-Methods": "GET, OPTIONS",
                    "Access-Control-Allow-Headers": "mcp-protocol-version",
                },
            )
        return JSONResponse(document, headers={**cors, "Cache-Control": "public, max-age=3600"})

    return endpoint
