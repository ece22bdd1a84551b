"""Where the token signing keys come from: a JWK Set (RFC 7517 §5) fetched and cached, or a file.

Cognito signs access tokens with RSA keys published at ``<issuer>/.well-known/jwks.json`` and
rotates them rarely. :class:`RemoteJWKS` fetches that document once, refreshes it only when a
token names a ``kid`` it does not know (at most once per ``min_refresh_interval``, so a flood of
forged ``kid`` values cannot turn into a flood of fetches), and keeps serving the keys it has
when a refresh fails. :class:`StaticJWKS` serves keys from a file, for Lambdas without egress.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from resourcekit.access import METRICS

logger = logging.getLogger(__name__)


class KeySetUnavailable(Exception):
    """No signing keys could be obtained, so no token can be verified (a 503, not a 401)."""


class KeySource(Protocol):
    """Something that resolves a JWS ``kid`` (RFC 7515 §4.1.4) to an RSA public key."""

    async def get_key(self, kid: str) -> RSAKey | None:
        """The key named ``kid``, or ``None`` when the key set has no such key.

        Raises:
            KeySetUnavailable: when no key set has ever been obtained.
        """
        ...

    async def load(self) -> None:
        """Obtain the key set now, if it is not yet (an init phase a snapshot is taken after).
        A failure is logged and left for the first request to retry; it never raises."""
        ...

    async def reload(self) -> None:
        """Obtain the key set again now, forgetting the one held (right after a SnapStart
        restore: the snapshot's may hold a key the issuer has removed since). A failure leaves
        none, for the first request to fetch as a fresh process would; it never raises."""
        ...


def parse_key_set(document: Any) -> dict[str, RSAKey]:
    """The RSA signature keys of a JWK Set, by ``kid``; other keys are ignored (RFC 7517 §5)."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set: no 'keys' list")
    keys: dict[str, RSAKey] = {}
    for entry in document["keys"]:
        if not isinstance(entry, Mapping) or entry.get("kty") != "RSA" or "kid" not in entry:
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
            continue
        try:
            keys[str(entry["kid"])] = RSAKey.import_key(dict(entry))
        except (JoseError, ValueError, TypeError):
            logger.warning("skipping malformed JWK", extra={"kid": str(entry["kid"])})
    return keys


class StaticJWKS:
    """A fixed key set, e.g. Cognito's JWKS copied into the deployment package."""

    def __init__(self, keys: Mapping[str, RSAKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_file(cls, path: str) -> StaticJWKS:
        with open(path, encoding="utf-8") as handle:
            return cls(parse_key_set(json.load(handle)))

    async def get_key(self, kid: str) -> RSAKey | None:
        return self._keys.get(kid)

    async def load(self) -> None:
        return None

    async def reload(self) -> None:
        return None


FIRST_FETCH_RETRY = 5.0


class RemoteJWKS:
    """The issuer's JWK Set over HTTPS, cached in memory for the life of the process."""

    def __init__(
        self,
        url: str,
        *,
        min_refresh_interval: float = 60.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.min_refresh_interval = min_refresh_interval
        self.timeout = timeout
        self._clock = clock
        self._keys: dict[str, RSAKey] | None = None
        self._last_attempt: float | None = None
        self._lock = asyncio.Lock()

    async def get_key(self, kid: str) -> RSAKey | None:
        if self._keys is not None and kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            # Another request may have refreshed while this one waited for the lock.
            if self._keys is None or kid not in self._keys:
                await self._refresh_if_allowed()
        if self._keys is None:
            raise KeySetUnavailable(f"no key set could be fetched from {self.url}")
        return self._keys.get(kid)

    async def load(self) -> None:
        # Not counted as an attempt: a fetch that failed here is retried by the first request.
        async with self._lock:
            if self._keys is None:
                await self._fetch()

    async def reload(self) -> None:
        # Keys are otherwise fetched again only for an unknown kid, which whoever holds a
        # removed key never sends. Not counted as an attempt either.
        async with self._lock:
            self._keys = None
            await self._fetch()

    async def _refresh_if_allowed(self) -> None:
        now = self._clock()
        # Until a first key set arrives every request fails (503), so retry sooner than once a
        # minute; after that, stale keys serve while refreshes are rate-limited.
        interval = self.min_refresh_interval if self._keys is not None else FIRST_FETCH_RETRY
        if self._last_attempt is not None and now - self._last_attempt < interval:
            return
        self._last_attempt = now
        await self._fetch()

    async def _fetch(self) -> None:
        """Fetch the key set; on failure keep the keys already known (and log why)."""
        # Imported on the first fetch: a server with a key file (StaticJWKS) never needs httpx,
        # and its import is a tenth of the MCP server's cold start.
        import httpx

        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.get(self.url, headers={"Accept": "application/json"})
                response.raise_for_status()
                keys = parse_key_set(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            # Keep serving the keys already known: a JWKS outage must not log everyone out.
            logger.warning(
                "JWKS fetch failed", extra={"jwks_url": self.url, "error": type(exc).__name__}
            )
            METRICS.emit("JwksRefreshes", Outcome="failed")
            return
        logger.info("JWKS fetched", extra={"jwks_url": self.url, "kids": sorted(keys)})
        METRICS.emit("JwksRefreshes", Outcome="fetched")
        self._keys = keys


def key_source(jwks_file: str | None, jwks_url: str) -> KeySource:
    """A resource server's signing keys: a JWK Set file when one is configured (tests, air-gapped
    hosts), else the issuer's JWKS URL, fetched and cached."""
    if jwks_file:
        return StaticJWKS.from_file(jwks_file)
    return RemoteJWKS(jwks_url)
