"""resourcekit: what makes an HTTP service an OAuth 2.0 protected resource for Cognito tokens.

The token verifier (:class:`CognitoTokenVerifier`), the RFC 6750 challenges with RFC 9728 hints
(:class:`BearerAuthMiddleware`), the RFC 9728 metadata document
(:func:`protected_resource_metadata`) and the JWKS cache (:class:`RemoteJWKS`). The MCP server,
the gateway and any other Python server import it; the façade uses its metadata builder for the
resources it fronts.
"""

from resourcekit.jwks import KeySetUnavailable, KeySource, RemoteJWKS, StaticJWKS
from resourcekit.metadata import (
    metadata_endpoint,
    metadata_path,
    metadata_url,
    protected_resource_metadata,
)
from resourcekit.middleware import BearerAuthMiddleware
from resourcekit.verifier import CognitoTokenVerifier, InvalidToken, is_bound_to_resource

__all__ = [
    "BearerAuthMiddleware",
    "CognitoTokenVerifier",
    "InvalidToken",
    "KeySetUnavailable",
    "KeySource",
    "RemoteJWKS",
    "StaticJWKS",
    "is_bound_to_resource",
    "metadata_endpoint",
    "metadata_path",
    "metadata_url",
    "protected_resource_metadata",
]
