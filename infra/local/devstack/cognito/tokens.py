"""Cognito-shaped JWTs: access and ID tokens signed RS256 with moto's key, and their JWKS.

Claim sets follow Cognito's developer guide ("Understanding the access token", "… the ID token");
JWT mechanics are RFC 7519 via joserfc.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from devstack.cognito.userpools import AppClient, PoolUser, signing_key

_ALGORITHM = "RS256"
# Cognito renders these user attributes as JSON booleans in ID tokens.
_BOOLEAN_ATTRIBUTES = frozenset({"email_verified", "phone_number_verified"})


@dataclass(frozen=True)
class SignIn:
    """One sign-in of a user to an app client; every token of its refresh family carries it."""

    pool_id: str
    issuer: str
    client_id: str
    username: str
    scopes: tuple[str, ...]
    auth_time: int
    origin_jti: str
    event_id: str
    #: the bound resource (Cognito resource binding), which becomes the access token's ``aud``
    audience: str | None = None
    nonce: str | None = None


def new_identifier() -> str:
    """A fresh ``jti`` / ``origin_jti`` / ``event_id`` value (Cognito uses UUIDs)."""
    return str(uuid.uuid4())


def _sign(claims: Mapping[str, Any]) -> str:
    key = signing_key()
    header = {"alg": _ALGORITHM, "kid": key.kid}
    return jwt.encode(header, dict(claims), key)


def mint_access_token(sign_in: SignIn, user: PoolUser, now: int, lifetime: int) -> str:
    """An access token with Cognito's claim set (``version`` 2, no ``aud`` unless bound)."""
    claims: dict[str, Any] = {
        "sub": user.sub,
        "iss": sign_in.issuer,
        "version": 2,
        "client_id": sign_in.client_id,
        "origin_jti": sign_in.origin_jti,
        "event_id": sign_in.event_id,
        "token_use": "access",
        "scope": " ".join(sign_in.scopes),
        "auth_time": sign_in.auth_time,
        "exp": now + lifetime,
        "iat": now,
        "jti": new_identifier(),
        "username": user.username,
    }
    if user.groups:
        claims["cognito:groups"] = list(user.groups)
    if sign_in.audience is not None:
        claims["aud"] = sign_in.audience
    return _sign(claims)


def _at_hash(access_token: str) -> str:
    # OIDC Core §3.1.3.6: left half of the hash of the ASCII access token, base64url.
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def readable_attributes(user: PoolUser, client: AppClient) -> dict[str, Any]:
    """The user's attributes the app client may read, typed as Cognito renders them."""
    readable = client.read_attributes
    attributes: dict[str, Any] = {}
    for name, value in user.attributes.items():
        if name == "sub" or (readable is not None and name not in readable):
            continue
        attributes[name] = value == "true" if name in _BOOLEAN_ATTRIBUTES else value
    return attributes


def mint_id_token(
    sign_in: SignIn,
    user: PoolUser,
    client: AppClient,
    now: int,
    lifetime: int,
    access_token: str,
) -> str:
    """An OIDC ID token (``aud`` = client id) with the user's readable attributes."""
    claims: dict[str, Any] = {
        "at_hash": _at_hash(access_token),
        "sub": user.sub,
        **readable_attributes(user, client),
        "iss": sign_in.issuer,
        "cognito:username": user.username,
        "origin_jti": sign_in.origin_jti,
        "aud": sign_in.client_id,
        "event_id": sign_in.event_id,
        "token_use": "id",
        "auth_time": sign_in.auth_time,
        "exp": now + lifetime,
        "iat": now,
        "jti": new_identifier(),
    }
    if user.groups:
        claims["cognito:groups"] = list(user.groups)
    if sign_in.nonce is not None:
        claims["nonce"] = sign_in.nonce
    return _sign(claims)


def read_access_token(token: str, now: int) -> dict[str, Any] | None:
    """The claims of an unexpired access token signed by the stand-in, else ``None``."""
    try:
        claims = jwt.decode(token, signing_key(), algorithms=[_ALGORITHM]).claims
    except (JoseError, ValueError):
        return None
    if claims.get("token_use") != "access" or not isinstance(claims.get("exp"), int):
        return None
    return claims if claims["exp"] > now else None


def is_jwt(token: str) -> bool:
    """Whether a token is one of the stand-in's JWTs (access or ID), expired or not."""
    try:
        jwt.decode(token, signing_key(), algorithms=[_ALGORITHM])
    except (JoseError, ValueError):
        return False
    return True


def public_jwks() -> dict[str, Any]:
    """The JSON Web Key Set (RFC 7517 §5) the pool's issuer serves."""
    public = signing_key().as_dict(private=False)
    return {"keys": [{"alg": _ALGORITHM, "use": "sig", **public}]}
