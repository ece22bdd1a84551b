"""Bearer-token protection for any Python MCP server that trusts Cognito access tokens.

Two public pieces, usable without the rest of this package:

- :class:`CognitoTokenVerifier` — an ``mcp`` SDK ``TokenVerifier`` for Cognito access tokens:
  RS256 signature against the issuer's JWKS, ``iss``, ``exp``/``nbf``/``iat`` with a small leeway,
  ``token_use=access``, an optional client-id allow-list, and audience binding (design D5):
  ``aud`` equals the resource's canonical URI, or a scope is ``<resource>/<name>``.
- :class:`BearerAuthMiddleware` — ASGI middleware that answers RFC 6750 challenges carrying the
  RFC 9728 ``resource_metadata`` URL and the ``scope`` a client should ask for, refuses calls to
  tools whose scopes the token lacks with ``403 insufficient_scope`` (step-up authorization), and
  hands the verified token to the SDK (``scope["user"]`` and ``get_access_token()``).

See "Protect another MCP server with the verifier" in the README for a complete example.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from starlette.authentication import AuthCredentials
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from mcpserver.jsonrpc import buffer_body, called_tools, requests_in, send_json
from mcpserver.jwks import KeySetUnavailable, KeySource

__all__ = [
    "BearerAuthMiddleware",
    "CognitoTokenVerifier",
    "InvalidToken",
    "KeySetUnavailable",
    "is_bound_to_resource",
]

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"

# Deliberately vague about why a token was refused: the reason goes to the log, not to a prober.
_DESCRIPTIONS = {
    None: "An access token is required",
    "invalid_token": "The access token is invalid, expired or not issued for this resource",
    "insufficient_scope": "The request needs the scopes listed in this challenge",
}


class InvalidToken(Exception):
    """A bearer token failed verification; the message says why (for logs, never for clients)."""


def is_bound_to_resource(claims: Mapping[str, Any], resource: str, scopes: Collection[str]) -> bool:
    """Whether a token was issued for ``resource`` (RFC 8707 audience, design D5).

    Cognito sets ``aud`` only when resource binding was used, and then it decides: a token whose
    audience names other resources is not for this one (RFC 9068 §4), whatever its scopes say.
    Without ``aud`` the binding is carried by the resource server's scopes, which Cognito spells
    ``<resource>/<name>``.
    """
    if "aud" in claims:
        audience = claims["aud"]
        audiences = [audience] if isinstance(audience, str) else audience
        return isinstance(audiences, list) and resource in audiences
    granted = str(claims.get("scope", "")).split()
    return any(f"{resource}/{name}" in granted for name in scopes)


class CognitoTokenVerifier(TokenVerifier):
    """Verifies Cognito access tokens (JWT, RFC 9068-like) issued for one MCP resource.

    ``scopes`` are the scope *names* of the resource's Cognito resource server (``read``,
    ``write``); ``keys`` resolves signing keys (:class:`~mcpserver.jwks.RemoteJWKS` for the
    issuer's JWKS, :class:`~mcpserver.jwks.StaticJWKS` for a file).
    """

    def __init__(
        self,
        *,
        issuer: str,
        resource: str,
        scopes: Collection[str],
        keys: KeySource,
        allowed_client_ids: Collection[str] | None = None,
        leeway: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.resource = resource
        self.scopes = tuple(scopes)
        self.keys = keys
        self.allowed_client_ids = frozenset(allowed_client_ids) if allowed_client_ids else None
        self.leeway = leeway
        self._clock = clock

    async def verify_token(self, token: str) -> AccessToken | None:
        """The SDK ``TokenVerifier`` method: the verified token, or ``None`` if it is refused.

        Raises:
            KeySetUnavailable: no signing keys could be fetched; the token was not judged.
        """
        try:
            return await self.verify(token)
        except InvalidToken as exc:
            logger.info("bearer token refused", extra={"reason": str(exc)})
            return None

    async def verify(self, token: str) -> AccessToken:
        """Verify ``token`` and return it as an SDK ``AccessToken``; raise :class:`InvalidToken`."""
        claims = await self._verified_claims(token)
        self._check_claims(claims)
        granted = str(claims.get("scope", "")).split()
        return AccessToken(
            token=token,
            client_id=str(claims["client_id"]),
            scopes=granted,
            expires_at=int(claims["exp"]),
            resource=self.resource,
            subject=str(claims["sub"]),
            claims=dict(claims),
        )

    async def _verified_claims(self, token: str) -> Mapping[str, Any]:
        """RFC 7515 §5.2: pick the key by ``kid`` and check the RS256 signature."""
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError, UnicodeError) as exc:
            raise InvalidToken(f"not a compact JWS ({type(exc).__name__})") from None
        # Pinning the algorithm before any key is touched refuses "alg": "none" and HS256 tokens
        # "signed" with the public key (RFC 8725 §2.1, §3.1).
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(f"algorithm {header.get('alg')!r} is not {ALGORITHM}")
        # Cognito never marks anything critical, and this verifier understands no extension, so
        # any "crit" is refused; joserfc passes the empty list RFC 7515 §4.1.11 forbids.
        if "crit" in header:
            raise InvalidToken("a 'crit' header names extensions this verifier does not support")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("no 'kid' in the JWS header")
        key = await self.keys.get_key(kid)
        if key is None:
            raise InvalidToken(f"unknown signing key {kid!r}")
        try:
            return jwt.decode(token, key, algorithms=[ALGORITHM]).claims
        except (JoseError, ValueError) as exc:
            raise InvalidToken(f"signature or payload invalid ({type(exc).__name__})") from None

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        """RFC 7519 §4.1 registered claims plus Cognito's ``token_use`` and ``client_id``."""
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self._clock()),
            leeway=self.leeway,
            iss={"essential": True, "value": self.issuer},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            client_id={"essential": True},
            # An ID token (token_use=id) is for the client, never for a resource server.
            token_use={"essential": True},
        )
        try:
            registry.validate(dict(claims))
        except JoseError as exc:
            raise InvalidToken(f"claims invalid ({exc})") from None
        # The registry accepts a list that contains the expected value; Cognito writes strings.
        if claims["token_use"] != "access":
            raise InvalidToken("claims invalid (token_use is not 'access')")
        if not isinstance(claims["client_id"], str) or not isinstance(claims.get("scope", ""), str):
            raise InvalidToken("claims invalid (client_id and scope must be strings)")
        if (
            self.allowed_client_ids is not None
            and claims["client_id"] not in self.allowed_client_ids
        ):
            raise InvalidToken("client_id is not allowed")
        if not is_bound_to_resource(claims, self.resource, self.scopes):
            raise InvalidToken(f"not issued for {self.resource}")


class BearerAuthMiddleware:
    """Requires a valid bearer token (RFC 6750 §2.1) on every request to the wrapped ASGI app.

    - no token: ``401`` and ``WWW-Authenticate: Bearer resource_metadata="…", scope="…"``
      (RFC 6750 §3, RFC 9728 §5.1), which starts a client's authorization flow;
    - a refused token: the same with ``error="invalid_token"``;
    - a token without the scopes the request needs (``required_scopes``, plus ``tool_scopes`` of
      each tool a ``tools/call`` names): ``403`` with ``error="insufficient_scope"`` and every
      scope the request needs, so the client can re-authorize for all of them at once;
    - the verifier cannot fetch signing keys: ``503`` with ``Retry-After``.

    On success the SDK sees the token as ``scope["user"]`` (an ``AuthenticatedUser``, which
    also binds SDK sessions and request state to the token's principal) and through
    ``mcp.server.auth.middleware.auth_context.get_access_token()``.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        *,
        resource_metadata_url: str,
        required_scopes: Sequence[str] = (),
        tool_scopes: Mapping[str, Sequence[str]] | None = None,
        max_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE,
    ) -> None:
        self.app = AuthContextMiddleware(app)
        self.verifier = verifier
        self.resource_metadata_url = resource_metadata_url
        self.required_scopes = tuple(required_scopes)
        self.tool_scopes = dict(tool_scopes or {})
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        needed = list(self.required_scopes)
        if self.tool_scopes and scope["method"] == "POST":
            buffered = await buffer_body(receive, send, self.max_body_size)
            if buffered is None:
                return
            body, receive = buffered
            for tool in called_tools(requests_in(body)):
                needed.extend(s for s in self.tool_scopes.get(tool, ()) if s not in needed)

        token = _bearer_token(Headers(scope=scope))
        if token is None:
            await self._challenge(send, 401, needed)
            return
        try:
            access_token = await self.verifier.verify_token(token)
        except KeySetUnavailable:
            logger.error("token signing keys unavailable")
            await send_json(send, 503, {"error": "temporarily_unavailable"}, {"retry-after": "30"})
            return
        if access_token is None:
            await self._challenge(send, 401, needed, "invalid_token")
            return
        missing = [s for s in needed if s not in access_token.scopes]
        if missing:
            logger.info(
                "insufficient scope",
                extra={"subject": access_token.subject, "missing_scopes": missing},
            )
            await self._challenge(send, 403, needed, "insufficient_scope")
            return
        scope["user"] = AuthenticatedUser(access_token)
        scope["auth"] = AuthCredentials(access_token.scopes)
        await self.app(scope, receive, send)

    async def _challenge(
        self, send: Send, status: int, scopes: Sequence[str], error: str | None = None
    ) -> None:
        """RFC 6750 §3: a ``Bearer`` challenge; no ``error`` when no token was sent (§3.1)."""
        description = _DESCRIPTIONS[error]
        params = [f'error="{error}"', f'error_description="{description}"'] if error else []
        params.append(f'resource_metadata="{self.resource_metadata_url}"')
        if scopes:
            params.append(f'scope="{" ".join(scopes)}"')
        body = (
            {"error": error, "error_description": description}
            if error
            else {"error_description": description}
        )
        await send_json(send, status, body, {"www-authenticate": "Bearer " + ", ".join(params)})


def _bearer_token(headers: Headers) -> str | None:
    """The token of an ``Authorization: Bearer`` header (RFC 6750 §2.1), scheme case-insensitive."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token
