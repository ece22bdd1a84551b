"""From a client's ``resource`` and ``scope`` to the Cognito scopes that bind its token (design D5).

RFC 8707 §2: the ``resource`` parameter names the protected resource; an unknown one is
``invalid_target``. MCP clients ask for scopes they read from our metadata (``<resource>/read``),
short names (``read``), or names of their own (Claude sends ``claudeai``, mcp-remote ``user``).
Cognito rejects scopes a client was not given, so the façade translates: known names become the
resource's Cognito scopes, OpenID Connect scopes pass, ``offline_access`` is dropped (Cognito has no
such scope; refresh tokens come with every code grant), anything else is ignored, and the
resource's default scopes are always included. A token minted this way always carries a scope
prefixed by the resource URI, which is what the MCP server checks when Cognito sets no ``aud``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import OAuthError
from .settings import ProtectedResource

# OpenID Connect Core §5.4 scopes, described for the consent page as they appear in the pool.
OIDC_SCOPE_DESCRIPTIONS = {
    "openid": "Know which account you sign in with",
    "email": "See your email address",
    "profile": "See your name and other profile details",
}
OIDC_SCOPES = tuple(OIDC_SCOPE_DESCRIPTIONS)
DROPPED_SCOPES = frozenset({"offline_access"})


@dataclass(frozen=True)
class Grant:
    """The resource a token is for and the Cognito scopes asked of Cognito."""

    resource: str
    scopes: tuple[str, ...]

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)


def find_resource(resources: Sequence[ProtectedResource], uri: str) -> ProtectedResource | None:
    wanted = uri.rstrip("/")
    return next((r for r in resources if r.uri == wanted), None)


def resolve_grant(
    resources: Sequence[ProtectedResource],
    resource: Sequence[str],
    scope: str | None,
) -> Grant:
    """Map the request's ``resource`` values and ``scope`` onto one resource's Cognito scopes."""
    if len(resource) > 1:
        raise OAuthError("invalid_target", "this server issues tokens for one resource at a time")
    if resource:
        target = find_resource(resources, resource[0])
        if target is None:
            raise OAuthError("invalid_target", f"unknown resource {resource[0][:200]!r}")
    else:
        target = resources[0]

    others = {s for r in resources if r is not target for s in r.cognito_scopes}
    granted: list[str] = []
    for name in (scope or "").split():
        if name in DROPPED_SCOPES:
            continue
        if name in others:
            raise OAuthError("invalid_scope", f"{name} belongs to another resource")
        if name in OIDC_SCOPES or name in target.cognito_scopes:
            full = name
        elif name in target.scopes:
            full = target.cognito_scope(name)
        else:
            continue
        if full not in granted:
            granted.append(full)
    # The defaults are the floor: the MCP server wants its first scope on every call, so a token
    # asked for ``write`` alone would be refused everywhere.
    granted.extend(s for s in target.default_cognito_scopes if s not in granted)
    return Grant(resource=target.uri, scopes=tuple(granted))


def scopes_supported(resources: Sequence[ProtectedResource]) -> list[str]:
    """What RFC 8414 ``scopes_supported`` advertises: never ``offline_access`` (mcp-remote would
    then ask for it and Cognito would refuse)."""
    return [*OIDC_SCOPES, *(s for r in resources for s in r.cognito_scopes)]
