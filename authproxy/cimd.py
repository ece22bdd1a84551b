"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; MCP 2025-11-25
"Client ID Metadata Documents"): a ``client_id`` that is an https URL names its own metadata.

The façade fetches the document the first time the client appears at ``/authorize``, checks
it, and keeps it as a registration whose ``client_id`` is the URL, pooled onto one backing Cognito
client per URL. The fetch is guarded against server-side request forgery (MCP security best
practices, "Server-Side Request Forgery"): https only, no redirects, no proxies; every address the
host resolves to must be outside the special-purpose ranges (:func:`fetchable`), and the
connection goes to the address that was checked; the body is capped on the wire, uncompressed;
resolution, connection and reading share one deadline; errors are never cached. When a fetch fails
but the document was fetched before, the stored copy keeps the client working (some hosts
challenge datacenter addresses).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from . import bodies
from .client_metadata import validate_client_metadata
from .redirects import LOOPBACK_HOSTS
from .settings import Settings

log = logging.getLogger(__name__)

MAX_DOCUMENT = 5 * 1024
#: One deadline for resolving, connecting and reading: a server that trickles its answer byte by
#: byte must not hold /authorize longer than this.
FETCH_TIMEOUT = 5.0
MIN_CACHE, DEFAULT_CACHE, MAX_CACHE = 60, 300, 24 * 3600
_MAX_AGE = re.compile(r"max-age=(\d+)")


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


# Ranges a server-side fetch must never reach: the IANA IPv4 and IPv6 Special-Purpose Address
# Registries' entries that are not globally reachable (RFC 6890), plus multicast and reserved
# space. Explicit rather than ``ipaddress.is_global``, whose answer varies between Python releases
# and which knows nothing of IPv4 addresses embedded in IPv6 ones.
DENIED_IPV4 = tuple(
    IPv4Network(network)
    for network in (
        "0.0.0.0/8",  # "this network" (RFC 791)
        "10.0.0.0/8",  # private-use (RFC 1918)
        "100.64.0.0/10",  # shared address space, carrier-grade NAT (RFC 6598)
        "127.0.0.0/8",  # loopback (RFC 1122)
        "169.254.0.0/16",  # link-local (RFC 3927), cloud instance metadata among them
        "172.16.0.0/12",  # private-use (RFC 1918)
        "192.0.0.0/24",  # IETF protocol assignments (RFC 6890), DS-Lite, NAT64 discovery
        "192.0.2.0/24",  # documentation (RFC 5737)
        "192.88.99.0/24",  # deprecated 6to4 relay anycast (RFC 7526)
        "192.168.0.0/16",  # private-use (RFC 1918)
        "198.18.0.0/15",  # benchmarking (RFC 2544)
        "198.51.100.0/24",  # documentation (RFC 5737)
        "203.0.113.0/24",  # documentation (RFC 5737)
        "224.0.0.0/4",  # multicast (RFC 5771)
        "240.0.0.0/4",  # reserved (RFC 1112), limited broadcast (RFC 919) included
    )
)
DENIED_IPV6 = tuple(
    IPv6Network(network)
    for network in (
        "::/128",  # unspecified (RFC 4291)
        "::1/128",  # loopback (RFC 4291)
        "64:ff9b:1::/48",  # local-use IPv4/IPv6 translation (RFC 8215): where the IPv4 address
        # sits in it depends on the operator's prefix length (RFC 6052 §2.2), so none is assumed
        "100::/64",  # discard-only (RFC 6666)
        "100:0:0:1::/64",  # dummy prefix (RFC 9780)
        "2001::/23",  # IETF protocol assignments (RFC 2928); Teredo is unwrapped before this
        "2001:db8::/32",  # documentation (RFC 3849)
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # SRv6 SIDs (RFC 9602)
        "fc00::/7",  # unique local (RFC 4193), cloud instance metadata among them
        "fe80::/10",  # link-local (RFC 4291)
        "fec0::/10",  # deprecated site-local (RFC 3879)
        "ff00::/8",  # multicast (RFC 4291)
    )
)
#: RFC 4291 §2.4: the rest of the IPv6 space is unassigned, and reaches nothing public.
GLOBAL_UNICAST = IPv6Network("2000::/3")
_NAT64 = IPv6Network("64:ff9b::/96")  # well-known prefix (RFC 6052 §2.1)
_COMPATIBLE = IPv6Network("::/96")  # deprecated IPv4-compatible addresses (RFC 4291 §2.5.5.1)


def embedded_ipv4(address: IPv6Address) -> tuple[IPv4Address, ...]:
    """The IPv4 addresses a connection to ``address`` would reach through translation or a
    tunnel: IPv4-mapped and IPv4-compatible (RFC 4291 §2.5.5), NAT64 with the well-known prefix
    (RFC 6052 §2.2), 6to4 (RFC 3056 §2) and Teredo's server and client (RFC 4380 §4)."""
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    # :: and ::1 are themselves (unspecified, loopback), not IPv4-compatible forms.
    if (address in _COMPATIBLE and int(address) > 1) or address in _NAT64:
        return (IPv4Address(address.packed[12:]),)
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address.teredo is not None:
        return address.teredo
    return ()


def fetchable(address: IPv4Address | IPv6Address, allow_loopback: bool = False) -> bool:
    """Whether a server-side fetch may connect to ``address``: outside every denied range, and for
    an IPv6 address that embeds IPv4 ones, every embedded address fetchable too. ``allow_loopback``
    (local testing only) admits 127.0.0.0/8 and ::1 as themselves, never embedded."""
    if allow_loopback and address.is_loopback:
        return True
    if isinstance(address, IPv4Address):
        return not any(address in network for network in DENIED_IPV4)
    embedded = embedded_ipv4(address)
    if embedded:
        return all(fetchable(inner) for inner in embedded)
    return address in GLOBAL_UNICAST and not any(address in network for network in DENIED_IPV6)


#: Resolves a host and port to the addresses a connection could use.
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``getaddrinfo`` gives for ``host``."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def _resolve_public(host: str, port: int, allow_loopback: bool, resolve: Resolver) -> str:
    """The address to fetch from, once every address ``host`` resolves to is :func:`fetchable`."""
    try:
        addresses = [ipaddress.ip_address(found) for found in await resolve(host, port)]
    except (OSError, UnicodeError, ValueError):  # socket.gaierror is an OSError
        raise MetadataDocumentError(f"cannot resolve {host}") from None
    for address in addresses:
        if not fetchable(address, allow_loopback):
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
    # Uncompressed only: the size limit then bounds what is held, not a decompression bomb.
    headers = {"Accept": "application/json", "Accept-Encoding": "identity", "Host": parts.netloc}
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
        document = bodies.json_value(raw)
    except bodies.BadBody:
        raise MetadataDocumentError("the document is not JSON with well-formed strings") from None
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
        resolve: Resolver = system_resolver,
        deadline: float = FETCH_TIMEOUT,
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._resolve = resolve
        self._deadline = deadline
        self._cache: dict[str, _Cached] = {}

    async def fetch(self, url: str) -> dict[str, Any]:
        """The client metadata named by ``url``, from cache or freshly fetched."""
        cached = self._cache.get(url)
        if cached and cached.expires > time.monotonic():
            return cached.metadata
        check_url(url, self.settings.cimd_allow_loopback)
        try:
            async with asyncio.timeout(self._deadline):
                raw, seconds = await self._download(url)
        except TimeoutError:
            raise MetadataDocumentError(
                f"the document was not fetched within {self._deadline:g} seconds"
            ) from None
        metadata = parse_document(url, raw, self.settings)
        log.debug(
            "client metadata document fetched",
            extra={"client_id": url, "size": len(raw), "cache_seconds": seconds},
        )
        if seconds:
            self._cache[url] = _Cached(metadata, time.monotonic() + seconds)
        return metadata

    async def _download(self, url: str) -> tuple[bytes, int]:
        """The document's bytes as sent, at most :data:`MAX_DOCUMENT`, and how long to cache."""
        allow_loopback = self.settings.cimd_allow_loopback
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await _resolve_public(parts.hostname or "", port, allow_loopback, self._resolve)
        target, headers, extensions = _pinned(url, address)
        # No proxies from the environment: they would connect wherever they like.
        async with httpx.AsyncClient(
            timeout=self._deadline,
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
                    encoding = response.headers.get("content-encoding", "identity").lower()
                    if encoding != "identity":
                        raise MetadataDocumentError(
                            f"the document was sent compressed ({encoding}); identity was asked"
                        )
                    raw = b""  # identity: the bytes counted are the bytes on the wire
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
        return raw, _cache_seconds(response)
