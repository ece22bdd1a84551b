"""The adapter to Cognito's managed-login OAuth endpoints (httpx): ``/oauth2/authorize``,
``/oauth2/token`` and ``/oauth2/revoke`` on the pool's domain.

Cognito's answers are relayed, not reinterpreted: a JSON error from Cognito reaches the client with
its code. What the client cannot act on — a timeout, a refused connection, throttling, a 5xx — is
:class:`UpstreamUnavailable`, which the endpoints turn into 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from servicekit.metrics import Metrics

log = logging.getLogger(__name__)
_METRICS = Metrics("authproxy")

RETRY_AFTER_THROTTLED = 5
RETRY_AFTER_UNAVAILABLE = 2
TOKEN_PATH, REVOKE_PATH = "/oauth2/token", "/oauth2/revoke"


class UpstreamUnavailable(Exception):
    """Cognito did not answer usefully in time; the request may be retried."""

    def __init__(self, reason: str, retry_after: int, *, throttled: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.throttled = throttled


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status == 200


def environment_proxy(url: httpx.URL) -> httpx.Proxy | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``, unless ``NO_PROXY`` exempts its host), as an httpx client would choose it."""
    if urllib.request.proxy_bypass(url.host):
        return None
    proxies = urllib.request.getproxies()
    chosen = proxies.get(url.scheme) or proxies.get("all")
    return httpx.Proxy(chosen) if chosen else None


class CognitoOAuth:
    """One user pool domain's OAuth endpoints, over one pooled HTTP transport per event loop.

    Requests go to the transport itself, not through an ``httpx.AsyncClient``: the client's
    per-request work (merging defaults, the auth flow, redirect handling, a cookie jar shared by
    every user's calls) costs about 0.1 ms of each ``/token`` call and none of it applies to three
    fixed POSTs that follow no redirect. What the client would take from the environment, the
    transport takes too: proxies (:func:`environment_proxy`) and ``SSL_CERT_FILE``/``DIR``."""

    def __init__(
        self, domain: str, timeout: float, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.domain = domain.rstrip("/")
        # Parsed once: httpx parses a URL given as text on every request.
        self._urls = {path: httpx.URL(f"{self.domain}{path}") for path in (TOKEN_PATH, REVOKE_PATH)}
        self._timeout = httpx.Timeout(timeout).as_dict()
        self._given = transport
        self._transport: httpx.AsyncBaseTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def authorize_url(self, params: dict[str, str]) -> str:
        """Cognito's authorization endpoint with the given query (RFC 6749 §4.1.1)."""
        return f"{self.domain}/oauth2/authorize?{urlencode(params)}"

    def _pool(self) -> httpx.AsyncBaseTransport:
        # Lambda keeps one loop per process, uvicorn one per server; tests may bring several.
        loop = asyncio.get_running_loop()
        if self._transport is None or self._loop is not loop:
            self._transport = self._given or httpx.AsyncHTTPTransport(
                proxy=environment_proxy(httpx.URL(self.domain))
            )
            self._loop = loop
        return self._transport

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()
            self._transport = None

    async def _post(
        self, path: str, form: dict[str, str], client_id: str, client_secret: str
    ) -> UpstreamResponse:
        operation = path.rsplit("/", 1)[-1]
        started = time.perf_counter()
        try:
            return await self._exchange(path, form, client_id, client_secret)
        except UpstreamUnavailable as exc:
            if exc.throttled:
                _METRICS.emit("CognitoThrottles", Operation=operation)
            raise
        finally:
            _METRICS.timed(operation, started)

    async def _exchange(
        self, path: str, form: dict[str, str], client_id: str, client_secret: str
    ) -> UpstreamResponse:
        credentials = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        request = httpx.Request(
            "POST",
            self._urls[path],
            headers={
                "Authorization": f"Basic {credentials}",
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "authproxy",
            },
            content=urlencode(form),
            extensions={"timeout": self._timeout},
        )
        try:
            response = await self._pool().handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            raise UpstreamUnavailable(
                f"Cognito {path} timed out", RETRY_AFTER_UNAVAILABLE
            ) from None
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(
                f"Cognito {path} unreachable ({type(exc).__name__})", RETRY_AFTER_UNAVAILABLE
            ) from None
        if response.status_code == 429:
            raise UpstreamUnavailable(
                f"Cognito {path} throttled", RETRY_AFTER_THROTTLED, throttled=True
            )
        if response.status_code >= 500:
            raise UpstreamUnavailable(
                f"Cognito {path} answered {response.status_code}", RETRY_AFTER_UNAVAILABLE
            )
        if not response.content:
            return UpstreamResponse(response.status_code, {})
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            log.warning(
                "unexpected answer from Cognito",
                extra={"path": path, "status": response.status_code},
            )
            raise UpstreamUnavailable(
                f"Cognito {path} answered {response.status_code} without JSON",
                RETRY_AFTER_UNAVAILABLE,
            )
        return UpstreamResponse(response.status_code, body)

    async def token(
        self, form: dict[str, str], client_id: str, client_secret: str
    ) -> UpstreamResponse:
        """POST /oauth2/token with the backing client's credentials (``client_secret_basic``)."""
        return await self._post(TOKEN_PATH, form, client_id, client_secret)

    async def revoke(self, token: str, client_id: str, client_secret: str) -> UpstreamResponse:
        """POST /oauth2/revoke (RFC 7009) for a refresh token of the backing client."""
        return await self._post(REVOKE_PATH, {"token": token}, client_id, client_secret)
