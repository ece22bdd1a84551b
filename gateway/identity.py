"""The caller's identity as the upstream receives it: a signed header, never the bearer token.

The gateway verifies the Cognito access token itself and does not pass it on (MCP security best
practices, "Token Passthrough"). Instead every forwarded request carries

    X-Authproxy-Identity: <JWS, RFC 7515 compact serialization, HS256>

whose payload (RFC 7519 claims) is ``iss`` (the gateway's issuer), ``aud`` (the upstream's
resource URI at the gateway, ``<origin>/mcp/<name>``), ``sub`` and ``client_id`` and ``scope``
(from the verified token), ``username`` when Cognito set one, ``iat`` and ``exp`` (one minute
later). It is signed with the upstream's own key, :func:`upstream_key`: ``hex(HMAC-SHA256(
GATEWAY_SECRET, resource))``, which ``authproxy-gateway identity-key NAME`` prints. Each upstream
gets only its key, so one upstream cannot mint identities for another.

To verify, in any language: check the signature with HS256 and that key, ``aud`` equals your
resource URI, ``exp`` is in the future (allow a few seconds of skew); refuse a request without
the header. In Python, :func:`verify_identity` does exactly that; in Node, ``jose``'s
``jwtVerify(value, new TextEncoder().encode(key), {algorithms: ["HS256"], audience})``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from mcp.server.auth.provider import AccessToken

IDENTITY_HEADER = "x-authproxy-identity"
ALGORITHM = "HS256"
LIFETIME = 60


class InvalidIdentity(Exception):
    """The identity header is missing, forged, expired or meant for another upstream."""


def upstream_key(secret: str, resource: str) -> str:
    """The key one upstream verifies its identity headers with (RFC 2104 HMAC as a KDF)."""
    return hmac.new(secret.encode(), f"identity|{resource}".encode(), hashlib.sha256).hexdigest()


def sign_identity(
    token: AccessToken,
    *,
    key: str,
    issuer: str,
    resource: str,
    clock: Callable[[], float] = time.time,
) -> str:
    """The header value for a request made with the verified ``token``."""
    now = int(clock())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": resource,
        "sub": token.subject,
        "client_id": token.client_id,
        "scope": " ".join(token.scopes),
        "iat": now,
        "exp": now + LIFETIME,
    }
    username = (token.claims or {}).get("username")
    if isinstance(username, str):
        claims["username"] = username
    return jwt.encode({"alg": ALGORITHM, "typ": "JWT"}, claims, OctKey.import_key(key))


def verify_identity(
    value: str | None,
    *,
    key: str,
    audience: str,
    leeway: int = 5,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The claims of an ``X-Authproxy-Identity`` header, for an upstream written in Python.

    Raises:
        InvalidIdentity: with the reason (for logs).
    """
    if not value:
        raise InvalidIdentity("no identity header")
    try:
        claims = jwt.decode(value, OctKey.import_key(key), algorithms=[ALGORITHM]).claims
        jwt.JWTClaimsRegistry(
            now=lambda: int(clock()),
            leeway=leeway,
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            sub={"essential": True},
        ).validate(claims)
    except (JoseError, ValueError) as exc:
        raise InvalidIdentity(f"identity refused ({type(exc).__name__})") from None
    return dict(claims)
