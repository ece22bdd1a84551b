"""The token verifier of a resource server that trusts Cognito access tokens (design D5).

:class:`CognitoTokenVerifier` is an ``mcp`` SDK ``TokenVerifier`` for Cognito access tokens: RS256
signature against the issuer's JWKS, ``iss``, ``exp``/``nbf``/``iat`` with a small leeway,
``token_use=access``, an optional client-id allow-list, and audience binding: ``aud`` equals the
resource's canonical URI, or a scope is ``<resource>/<name>``.

A token that passed is remembered, by the SHA-256 digest of its text, until it expires: a client
sends the same token on every call until it refreshes it, and re-checking an RSA signature costs
more than the rest of the request's own work. A remembered token is accepted again only while the
key that signed it is still the one its key source serves under that ``kid``, so a key withdrawn
from the issuer's JWKS ends every token it signed as soon as the key set is refreshed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry
from mcp.server.auth.provider import AccessToken, TokenVerifier

from resourcekit.jwks import KeySource

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"
# The one algorithm accepted, as joserfc's registry (made once, not per token).
_REGISTRY = JWSRegistry(algorithms=[ALGORITHM])
# Verified tokens remembered at once (least recently used first out): a few MB at most, far more
# tokens than one instance sees in an hour.
VERIFIED_CACHE_SIZE = 1024


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


@dataclass(frozen=True)
class _Verified:
    """A token that passed every check, and what must still hold for it to pass again."""

    access_token: AccessToken
    kid: str
    key: RSAKey
    expires_at: int


def token_digest(token: str) -> bytes:
    """The cache key of a token: its SHA-256 digest, so no cache holds a token as its key."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class CognitoTokenVerifier(TokenVerifier):
    """Verifies Cognito access tokens (JWT, RFC 9068-like) issued for one MCP resource.

    ``scopes`` are the scope *names* of the resource's Cognito resource server (``read``,
    ``write``); ``keys`` resolves signing keys (:class:`~resourcekit.jwks.RemoteJWKS` for the
    issuer's JWKS, :class:`~resourcekit.jwks.StaticJWKS` for a file).
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
        cache_size: int = VERIFIED_CACHE_SIZE,
    ) -> None:
        self.issuer = issuer
        self.resource = resource
        self.scopes = tuple(scopes)
        self.keys = keys
        self.allowed_client_ids = frozenset(allowed_client_ids) if allowed_client_ids else None
        self.leeway = leeway
        self._clock = clock
        self.cache_size = cache_size
        # Verified tokens by digest, least recently used first (bounded by ``cache_size``).
        self.remembered: OrderedDict[bytes, _Verified] = OrderedDict()
        self._claims_registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self._clock()),
            leeway=leeway,
            iss={"essential": True, "value": issuer},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            client_id={"essential": True},
            # An ID token (token_use=id) is for the client, never for a resource server.
            token_use={"essential": True},
        )

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
        digest = token_digest(token)
        remembered = await self._remembered(digest)
        if remembered is not None:
            return remembered
        claims, kid, key = await self._verified_claims(token)
        self._check_claims(claims)
        granted = str(claims.get("scope", "")).split()
        access_token = AccessToken(
            token=token,
            client_id=str(claims["client_id"]),
            scopes=granted,
            expires_at=int(claims["exp"]),
            resource=self.resource,
            subject=str(claims["sub"]),
            claims=dict(claims),
        )
        self._remember(digest, _Verified(access_token, kid, key, int(claims["exp"])))
        return access_token

    async def _remembered(self, digest: bytes) -> AccessToken | None:
        """The token verified earlier under ``digest``, if it would still pass every check.

        The claims cannot have changed (the digest covers the whole signed token); what can is
        the time, judged as :meth:`_check_claims` judges ``exp`` (RFC 7519 §4.1.4, same leeway),
        and the key set, asked again for the ``kid`` (RFC 7515 §4.1.4): the key must be the very
        one that verified the signature.
        """
        entry = self.remembered.get(digest)
        if entry is None:
            return None
        if entry.expires_at < int(self._clock()) - self.leeway:
            del self.remembered[digest]
            return None
        if await self.keys.get_key(entry.kid) is not entry.key:
            self.remembered.pop(digest, None)
            return None
        self.remembered.move_to_end(digest)
        return entry.access_token

    def _remember(self, digest: bytes, entry: _Verified) -> None:
        self.remembered[digest] = entry
        self.remembered.move_to_end(digest)
        while len(self.remembered) > self.cache_size:
            self.remembered.popitem(last=False)

    async def _verified_claims(self, token: str) -> tuple[Mapping[str, Any], str, RSAKey]:
        """RFC 7515 §5.2: pick the key by ``kid`` and check the RS256 signature; the claims, the
        ``kid`` and the key that verified them."""
        try:
            signed = jws.extract_compact(token.encode("ascii"))
            header = signed.headers()
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
        # The token is parsed once: its signature checked on the parts extracted above, then its
        # payload read as the JWT claims set (RFC 7519 §7.2 steps 7-10).
        try:
            verified = jws.validate_compact(signed, key, registry=_REGISTRY)
        except (JoseError, ValueError) as exc:
            raise InvalidToken(f"signature invalid ({type(exc).__name__})") from None
        if not verified:
            raise InvalidToken("signature invalid (BadSignatureError)")
        try:
            claims = json.loads(signed.payload)
        except ValueError:
            raise InvalidToken("payload invalid (not JSON)") from None
        if not isinstance(claims, dict):
            raise InvalidToken("payload invalid (not a JSON object)")
        return claims, kid, key

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        """RFC 7519 §4.1 registered claims plus Cognito's ``token_use`` and ``client_id``."""
        try:
            self._claims_registry.validate(dict(claims))
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
