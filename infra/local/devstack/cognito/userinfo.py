"""Cognito's ``/oauth2/userInfo``: the signed-in user's attributes for an access token.

OIDC Core §5.3 (UserInfo endpoint) and §5.4 (claims by scope); RFC 6750 §3 for the error. The
access token must be the stand-in's, unexpired, not revoked (RFC 7009 through a refresh token of
its sign-in) and carry ``openid``; ``aws.cognito.signin.user.admin`` releases every attribute.
"""

from __future__ import annotations

from typing import Any

from devstack.cognito import userpools
from devstack.cognito.state import StandInState
from devstack.cognito.tokens import read_access_token

_CLAIMS_BY_SCOPE = {
    "profile": frozenset(
        {
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        }
    ),
    "email": frozenset({"email", "email_verified"}),
    "phone": frozenset({"phone_number", "phone_number_verified"}),
    "address": frozenset({"address"}),
}
_ALL_ATTRIBUTES_SCOPE = "aws.cognito.signin.user.admin"


class InvalidToken(Exception):
    """The bearer token is missing, malformed, expired, revoked or lacks ``openid``."""


def _bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("a Bearer access token is required")
    return token.strip()


def userinfo(state: StandInState, authorization: str | None) -> dict[str, Any]:
    """The claims ``/oauth2/userInfo`` returns for this ``Authorization`` header."""
    claims = read_access_token(_bearer_token(authorization), state.now())
    if claims is None:
        raise InvalidToken("the access token is invalid or expired")
    scopes = set(str(claims.get("scope", "")).split())
    pool_id = str(claims.get("iss", "")).rsplit("/", 1)[-1]
    if (
        "openid" not in scopes
        or claims.get("iss") != state.issuer(pool_id)
        or state.is_revoked(str(claims.get("origin_jti")))
    ):
        raise InvalidToken("the access token is not valid for userInfo")
    user = userpools.pool_user(pool_id, str(claims.get("username")))
    if user is None or not user.enabled or user.sub != claims.get("sub"):
        raise InvalidToken("the user no longer exists or is disabled")
    released: set[str] = set()
    for scope in scopes:
        released |= _CLAIMS_BY_SCOPE.get(scope, frozenset())
    everything = _ALL_ATTRIBUTES_SCOPE in scopes
    attributes = {
        name: value
        for name, value in user.attributes.items()
        if name != "sub" and (everything or name in released)
    }
    return {"sub": user.sub, **attributes, "username": user.username}
