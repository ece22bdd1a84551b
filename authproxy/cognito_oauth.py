"""The adapter to Cognito's managed-login OAuth endpoints (httpcore, under httpx):
``/oauth2/authorize``, ``/oauth2/token`` and ``/oauth2/revoke`` on the pool's domain.

Cognito's answers are relayed, not reinterpreted: a JSON error from Cognito reaches the client with
its code. What the client cannot act on — a timeout, a refused connection, throttling, a 5xx — is
:class:`UpstreamUnavailable`, which the endpoints turn into 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import httpcore
import httpx

from servicekit.metrics import Metrics

log = logging.getLogger(__name__)
_METRICS = Metrics("authproxy")

RETRY_AFTER_THROTTLED = 5
RETRY_AFTER_UNAVAILABLE = 2
TOKEN_PATH, REVOKE_PATH = "/oauth2/token", "/oauth2/revoke"
#: Bytes of an answer from Cognito read at most, as a body is held in memory whole before it is
#: parsed: its answers are JSON with three tokens at most, a few kB (an ID token carrying 50 custom
#: attributes of 2048 characters each would still be under 200 kB).
MAX_ANSWER = 1024 * 1024
#: What httpcore raises when Cognito cannot be reached or its answer not read (besides timeouts).
UNREACHABLE = (
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.ProxyError,
    httpcore.UnsupportedProtocol,
)


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


def environment_proxy(url: str) -> httpcore.Proxy | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``, unless ``NO_PROXY`` exempts its host), as an httpx client would choose it;
    credentials in the proxy's URL become its ``Proxy-Authorization``."""
    target = urlsplit(url)
    if urllib.request.proxy_bypass(target.hostname or ""):
        return None
    proxies = urllib.request.getproxies()
    chosen = proxies.get(target.scheme) or proxies.get("all")
    if not chosen:
        return None
    proxy = urlsplit(chosen if "://" in chosen else f"http://{chosen}")
    auth = (unquote(proxy.username), unquote(proxy.password or "")) if proxy.username else None
    return httpcore.Proxy(proxy._replace(netloc=proxy.netloc.rpartition("@")[2]).geturl(), auth)


class _WritesAtRead(httpcore.AsyncNetworkStream):
    """A connection whose writes leave with the next read: httpcore writes a request's head and
    its form body separately, and each write is a segment and a system call here and a wake-up
    at the other end. Nothing is written without a read following it (the answer), and the TLS
    handshake starts with nothing held. Timeouts are arguments: httpcore's interface (ASYNC109)."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._held: list[bytes] = []

    async def _flush(self, timeout: float | None) -> None:  # noqa: ASYNC109
        if self._held:
            data = b"".join(self._held)
            self._held.clear()
            await self._stream.write(data, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self._held.append(buffer)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        await self._flush(timeout)
        return await self._stream.read(max_bytes, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        await self._flush(timeout)
        return _WritesAtRead(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Network(httpcore.AsyncNetworkBackend):
    """httpcore's asyncio backend (anyio), its connections writing at read
    (:class:`_WritesAtRead`)."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _WritesAtRead(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


async def _bounded(response: httpcore.Response, path: str) -> bytes:
    """The body of Cognito's answer, read until :data:`MAX_ANSWER` bytes at most (then the
    connection is closed with the answer unread)."""
    content = bytearray()
    async for chunk in response.aiter_stream():
        content += chunk
        if len(content) > MAX_ANSWER:
            raise UpstreamUnavailable(
                f"Cognito {path} answer too large (over {MAX_ANSWER} bytes)",
                RETRY_AFTER_UNAVAILABLE,
            )
    return bytes(content)


class CognitoOAuth:
    """One user pool domain's OAuth endpoints, over one HTTP connection pool per event loop.

    Requests go to httpcore's pool, under httpx: an ``httpx.AsyncClient``'s per-request work
    (merging defaults, the auth flow, redirect handling, a cookie jar shared by every user's
    calls, wrapping the request and answer once more) costs about 0.15 ms of each ``/token`` call
    and none of it applies to two fixed POSTs that follow no redirect. What the client took from
    the environment, the pool takes too: proxies (:func:`environment_proxy`) and
    ``SSL_CERT_FILE``/``SSL_CERT_DIR`` (``httpx.create_ssl_context``). Tests may bring their own
    ``network`` (an ``httpcore.AsyncNetworkBackend``)."""

    def __init__(
        self, domain: str, timeout: float, network: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.domain = domain.rstrip("/")
        # Parsed once, not on every request.
        self._urls = {
            path: httpcore.URL(f"{self.domain}{path}") for path in (TOKEN_PATH, REVOKE_PATH)
        }
        self._host = urlsplit(self.domain).netloc.encode()
        self._timeout = dict.fromkeys(("connect", "read", "write", "pool"), timeout)
        self._network = network
        self._http: httpcore.AsyncConnectionPool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def authorize_url(self, params: dict[str, str]) -> str:
        """Cognito's authorization endpoint with the given query (RFC 6749 §4.1.1)."""
        return f"{self.domain}/oauth2/authorize?{urlencode(params)}"

    def _pool(self) -> httpcore.AsyncConnectionPool:
        # Lambda keeps one loop per process, uvicorn one per server; tests may bring several.
        loop = asyncio.get_running_loop()
        if self._http is None or self._loop is not loop:
            # httpx's limits, not httpcore's own defaults (10 connections, idle ones kept
            # forever): the eleventh concurrent call would wait for a connection until the pool
            # timeout, and a connection idle through a Lambda freeze (whose peer or a NAT may have
            # dropped it unannounced) would be reused, its answer awaited until the read timeout.
            limits = httpx.Limits()
            self._http = httpcore.AsyncConnectionPool(
                ssl_context=httpx.create_ssl_context(),
                proxy=environment_proxy(self.domain),
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=_Network(self._network or httpcore.AnyIOBackend()),
            )
            self._loop = loop
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

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
        credentials = base64.b64encode(f"{client_id}:{client_secret}".encode())
        body = urlencode(form).encode()
        try:
            async with self._pool().stream(
                "POST",
                self._urls[path],
                headers=[
                    (b"Host", self._host),
                    (b"Authorization", b"Basic " + credentials),
                    (b"Content-Type", b"application/x-www-form-urlencoded"),
                    (b"Content-Length", str(len(body)).encode()),
                    (b"User-Agent", b"authproxy"),
                ],
                content=body,
                extensions={"timeout": self._timeout},
            ) as response:
                content = await _bounded(response, path)
        except httpcore.TimeoutException:
            raise UpstreamUnavailable(
                f"Cognito {path} timed out", RETRY_AFTER_UNAVAILABLE
            ) from None
        except UNREACHABLE as exc:
            raise UpstreamUnavailable(
                f"Cognito {path} unreachable ({type(exc).__name__})", RETRY_AFTER_UNAVAILABLE
            ) from None
        if response.status == 429:
            raise UpstreamUnavailable(
                f"Cognito {path} throttled", RETRY_AFTER_THROTTLED, throttled=True
            )
        if response.status >= 500:
            raise UpstreamUnavailable(
                f"Cognito {path} answered {response.status}", RETRY_AFTER_UNAVAILABLE
            )
        if not content:
            return UpstreamResponse(response.status, {})
        try:
            answer = json.loads(content)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            log.warning(
                "unexpected answer from Cognito",
                extra={"path": path, "status": response.status},
            )
            raise UpstreamUnavailable(
                f"Cognito {path} answered {response.status} without JSON",
                RETRY_AFTER_UNAVAILABLE,
            )
        return UpstreamResponse(response.status, answer)

    async def token(
        self, form: dict[str, str], client_id: str, client_secret: str
    ) -> UpstreamResponse:
        """POST /oauth2/token with the backing client's credentials (``client_secret_basic``)."""
        return await self._post(TOKEN_PATH, form, client_id, client_secret)

    async def revoke(self, token: str, client_id: str, client_secret: str) -> UpstreamResponse:
        """POST /oauth2/revoke (RFC 7009) for a refresh token of the backing client."""
        return await self._post(REVOKE_PATH, {"token": token}, client_id, client_secret)
