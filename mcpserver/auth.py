"""The import path earlier README versions showed for protecting a Python MCP server.

The resource-server core moved to :mod:`resourcekit`, which the MCP server, the gateway and other
servers share; these names stay importable from here so existing servers keep working.
"""

from resourcekit.jwks import KeySetUnavailable
from resourcekit.middleware import BearerAuthMiddleware
from resourcekit.verifier import CognitoTokenVerifier, InvalidToken, is_bound_to_resource

__all__ = [
    "BearerAuthMiddleware",
    "CognitoTokenVerifier",
    "InvalidToken",
    "KeySetUnavailable",
    "is_bound_to_resource",
]
