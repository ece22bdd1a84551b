"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; MCP 2025-11-25
"Client ID Metadata Documents"): a ``client_id`` that is an https URL names its own metadata.

The façade fetches the document the first time the client appears at ``/authorize``, checks
it, and keeps it as a registration whose ``client_id`` is the URL, pooled onto one backing Cognito
client per URL. The fetch is guarded against server-side request forgery: https only, no redirects,
addresses that resolve to private, loopback or link-local ranges are refused, the body is capped,
and errors are never cached. When a fetch fails but the document was fetched before, the stored
copy keeps the client working (some hosts challenge datacenter addresses).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from .client_metadata import validate_client_metadata
from .redirects import LOOPBACK_HOSTS
from .settings import Settings

log = logging.getLogger(__name__)

MAX_DOCUMENT = 5 * 1024
FETCH_TIMEOUT = 5.0
MIN_CACHE, DEFAULT_CACHE, MAX_CACHE = 60, 300, 24 * 3600
_MAX_AGE = re.compile(r"max-age=(\d+)")


#: Host and port to the addresses a name resolves to. Only tests pass another one than
#: :func:`resolve_system`: to reach fixture hosts under real client ids (``create_app``).
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve_system(host: str, port: int) -> list[str]:
    """The system resolver's addresses for ``host``."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class MetadataDocumentError(Exception):
    """The URL or the document cannot identify a client; the message says why."""


def is_metadata_url(client_id: str, allow_loopback: bool = False) -> bool:
    """A client_id the façade treats as a metadata document URL: https (or, where allowed for
    local testing, http on loopback) with a path. Façade-issued ids never look like this."""
    try:
        parts = urlsplit(client_id)
    except ValueError:
        return False
    if parts.scheme == "http" and not (allow_loopback and _is_loopback_name(parts.hostname)):
        return False
    return parts.scheme in ("https", "http") and parts.path not in ("", "/")


def check_url(url: str, allow_loopback: bool) -> None:
    """The I-D's rules for the URL itself."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises for a port out of range)
    except ValueError:
        raise MetadataDocumentError("the client_id URL is not a valid URL") from None
    loopback_http = allow_loopback and parts.scheme == "http" and _is_loopback_name(parts.hostname)
    if parts.scheme != "https" and not loopback_http:
        raise MetadataDocumentError("the client_id URL must use https")
    if not parts.hostname or parts.username or parts.password:
        raise MetadataDocumentError("the client_id URL must have a host and no user information")
    if parts.fragment or parts.path in ("", "/"):
        raise MetadataDocumentError("the client_id URL must have a path and no fragment")
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        raise MetadataDocumentError("the client_id URL must not contain dot segments")


def _is_loopback_name(host: str | None) -> bool:
    return (host or "").lower() in LOOPBACK_HOSTS


async def _resolve_public(host: str, port: int, allow_loopback: bool, resolve: Resolver) -> str:
    """The address to fetch from, once every address ``host`` resolves to is one a server-side
    fetch may reach (not private, loopback, link-local or reserved)."""
    try:
        addresses = [ipaddress.ip_address(a) for a in await resolve(host, port)]
    except (socket.gaierror, UnicodeError):
        raise MetadataDocumentError(f"cannot resolve {host}") from None
    for address in addresses:
        if not (address.is_global or (address.is_loopback and allow_loopback)):
            raise MetadataDocumentError(f"{host} resolves to a non-public address")
    if not addresses:
        raise MetadataDocumentError(f"cannot resolve {host}")
    return str(addresses[0])


def _pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """The request that reaches exactly ``address``: the URL with the address for its host, the
    name in ``Host`` and, for TLS, in SNI and the certificate check. Resolving once and connecting
    to what was checked closes the DNS-rebinding gap between the check and the connection."""
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    extensions = {"sni_hostname": parts.hostname or ""} if parts.scheme == "https" else {}
    headers = {"Accept": "application/json", "Host": parts.netloc}
    return urlunsplit(parts._replace(netloc=netloc)), headers, extensions


def _cache_seconds(response: httpx.Response) -> int:
    control = response.headers.get("cache-control", "")
    if "no-store" in control or "no-cache" in control:
        return 0
    found = _MAX_AGE.search(control)
    seconds = int(found.group(1)) if found else DEFAULT_CACHE
    return max(MIN_CACHE, min(seconds, MAX_CACHE))


def parse_document(url: str, raw: bytes, settings: Settings) -> dict[str, Any]:
    """Check the document as the I-D and MCP require and return client metadata to register."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MetadataDocumentError("the document is not JSON") from None
    if not isinstance(document, dict):
        raise MetadataDocumentError("the document is not a JSON object")
    if document.get("client_id") != url:
        raise MetadataDocumentError("the document's client_id differs from its URL")
    if not isinstance(document.get("client_name"), str) or not document["client_name"]:
        raise MetadataDocumentError("the document has no client_name")
    method = document.get("token_endpoint_auth_method", "none")
    if method != "none":
        raise MetadataDocumentError(f"token_endpoint_auth_method {method!r} is not supported")
    body = {k: v for k, v in document.items() if k != "client_id"}
    try:
        return validate_client_metadata({**body, "token_endpoint_auth_method": "none"}, settings)
    except Exception as exc:
        raise MetadataDocumentError(f"the document's metadata is not acceptable: {exc}") from None


@dataclass
class _Cached:
    metadata: dict[str, Any]
    expires: float


class MetadataDocuments:
    """Fetches and caches client metadata documents for one deployment."""

    def __init__(
        self,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = resolve_system,
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._resolve = resolver
        self._cache: dict[str, _Cached] = {}

    async def fetch(self, url: str) -> dict[str, Any]:
        """The client metadata named by ``url``, from cache or freshly fetched."""
        cached = self._cache.get(url)
        if cached and cached.expires > time.monotonic():
            return cached.metadata
        allow_loopback = self.settings.cimd_allow_loopback
        check_url(url, allow_loopback)
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await _resolve_public(parts.hostname or "", port, allow_loopback, self._resolve)
        target, headers, extensions = _pinned(url, address)
        # No proxies from the environment: they would connect wherever they like.
        async with httpx.AsyncClient(
            timeout=FETCH_TIMEOUT,
            follow_redirects=False,
            transport=self._transport,
            trust_env=False,
        ) as http:
            try:
                async with http.stream(
                    "GET", target, headers=headers, extensions=extensions
                ) as response:
                    if response.status_code != 200:
                        raise MetadataDocumentError(
                            f"fetching the document answered {response.status_code}"
                        )
                    raw = b""
                    async for chunk in response.aiter_bytes():
                        raw += chunk
                        if len(raw) > MAX_DOCUMENT:
                            raise MetadataDocumentError(
                                f"the document is larger than {MAX_DOCUMENT} bytes"
                            )
            except httpx.HTTPError as exc:
                raise MetadataDocumentError(
                    f"the document could not be fetched ({type(exc).__name__})"
                ) from None
        metadata = parse_document(url, raw, self.settings)
        seconds = _cache_seconds(response)
        if seconds:
            self._cache[url] = _Cached(metadata, time.monotonic() + seconds)
        return metadata
