"""Client ID Metadata Document fetches as an attacker would aim them (MCP security best practices,
"Server-Side Request Forgery"; draft-ietf-oauth-client-id-metadata-document §6 "Security
Considerations").

Nothing here connects anywhere but loopback: the address forms are checked by the address check
itself and through a resolver stub, with a transport that fails the test if it is ever reached.
"""

from __future__ import annotations

import gzip
import http.server
import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authproxy.cimd import (
    DENIED_IPV4,
    DENIED_IPV6,
    MetadataDocumentError,
    MetadataDocuments,
    embedded_ipv4,
    fetchable,
)
from authproxy.settings import Settings
from support.oauth import authorize_url, pkce
from support.stack import Stack, local_stack

REDIRECT = "http://localhost:7777/callback"


def facade_settings(allow_loopback: bool) -> Settings:
    return Settings.from_env(
        {
            "ISSUER": "https://mcp.example.com",
            "USER_POOL_ID": "us-east-1_abc",
            "COGNITO_DOMAIN": "https://auth.example.com",
            "AUTHPROXY_SECRET_KEY": "k" * 40,
            "AUTHPROXY_RESOURCES": '[{"resource": "https://mcp.example.com/mcp"}]',
            "AUTHPROXY_CIMD_ALLOW_LOOPBACK": "true" if allow_loopback else "false",
        }
    )


def never_connects(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"the fetch connected to {request.url}")


def resolving_to(*addresses: str) -> object:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


# Embedded IPv4 forms of the cloud instance metadata address and private ranges.
EMBEDDED_FORMS = {
    "ipv4-mapped": "::ffff:169.254.169.254",
    "ipv4-mapped-private": "::ffff:10.0.0.1",
    "ipv4-compatible": "::169.254.169.254",
    "ipv4-compatible-loopback": "::127.0.0.1",
    "nat64-well-known": "64:ff9b::169.254.169.254",
    "nat64-well-known-loopback": "64:ff9b::7f00:1",
    "nat64-local-use": "64:ff9b:1:a9fe:a9:fe00::",
    "6to4-private": "2002:a00:1::1",
    "6to4-metadata": "2002:a9fe:a9fe::1",
    "teredo-private-client": "2001:0:808:808:0:0:f5ff:fffe",  # client 10.0.0.1 (inverted)
    "teredo-private-server": "2001:0:a00:1:0:0:f7f7:f7f7",  # server 10.0.0.1, client 8.8.8.8
}
OTHER_FORMS = {
    "ipv4-loopback": "127.0.0.1",
    "ipv4-unspecified": str(IPv4Address(0)),
    "ipv4-cgnat": "100.64.0.1",
    "ipv4-metadata": "169.254.169.254",
    "ipv4-benchmarking": "198.18.0.1",
    "ipv4-multicast": "224.0.0.1",
    "ipv4-broadcast": "255.255.255.255",
    "ipv6-loopback": "::1",
    "ipv6-unspecified": "::",
    "ipv6-unique-local-metadata": "fd00:ec2::254",
    "ipv6-link-local": "fe80::1",
    "ipv6-discard": "100::1",
    "ipv6-documentation": "2001:db8::1",
    "ipv6-benchmarking": "2001:2::1",
    "ipv6-multicast": "ff02::1",
    "ipv6-unassigned": "4000::1",
}
DENIED_FORMS = {**EMBEDDED_FORMS, **OTHER_FORMS}


@pytest.mark.parametrize("address", DENIED_FORMS.values(), ids=DENIED_FORMS.keys())
def test_mcp_ssrf_special_purpose_addresses_are_refused(address: str) -> None:
    assert not fetchable(ip_address(address))


@pytest.mark.parametrize("address", EMBEDDED_FORMS.values(), ids=EMBEDDED_FORMS.keys())
def test_mcp_ssrf_embedded_loopback_is_refused_even_where_loopback_is_allowed(address: str) -> None:
    # Local testing admits 127.0.0.1 and ::1 as themselves; never a form that hides one.
    assert not fetchable(ip_address(address), allow_loopback=True)


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"],
)
def test_public_addresses_are_fetchable(address: str) -> None:
    assert fetchable(ip_address(address))


@pytest.mark.parametrize("address", DENIED_FORMS.values(), ids=DENIED_FORMS.keys())
async def test_mcp_ssrf_a_name_resolving_to_a_special_purpose_address_is_never_fetched(
    address: str,
) -> None:
    documents = MetadataDocuments(
        facade_settings(allow_loopback=False),
        transport=httpx.MockTransport(never_connects),
        resolve=resolving_to(address),  # type: ignore[arg-type]
    )
    with pytest.raises(MetadataDocumentError, match="non-public address"):
        await documents.fetch("https://client.example/oauth/client.json")


async def test_mcp_ssrf_one_bad_address_among_good_ones_refuses_the_name() -> None:
    documents = MetadataDocuments(
        facade_settings(allow_loopback=False),
        transport=httpx.MockTransport(never_connects),
        resolve=resolving_to("8.8.8.8", "64:ff9b::a9fe:a9fe"),  # type: ignore[arg-type]
    )
    with pytest.raises(MetadataDocumentError, match="non-public address"):
        await documents.fetch("https://client.example/oauth/client.json")


# Properties of the address check.

ipv4 = st.integers(0, 2**32 - 1).map(IPv4Address)
ipv6 = st.integers(0, 2**128 - 1).map(IPv6Address)
suffix80 = st.integers(0, 2**80 - 1)


def embeddings(inner: IPv4Address, low: int) -> list[IPv6Address]:
    """Every IPv6 form that reaches ``inner``; ``low`` fills the bits the form leaves free."""
    v4 = int(inner)
    return [
        IPv6Address(0xFFFF << 32 | v4),  # IPv4-mapped
        IPv6Address(v4),  # IPv4-compatible
        IPv6Address(0x64FF9B << 96 | v4),  # NAT64, well-known prefix
        IPv6Address(0x2002 << 112 | v4 << 80 | low),  # 6to4
        IPv6Address(0x20010000 << 96 | v4 << 64 | (low & 0xFFFFFFFF)),  # Teredo server
        IPv6Address(0x20010000 << 96 | (low & 0xFFFFFFFF) << 64 | (v4 ^ 0xFFFFFFFF)),  # client
    ]


@settings(deadline=None)
@given(ipv4, suffix80)
def test_an_embedded_ipv4_address_is_judged_as_itself(inner: IPv4Address, low: int) -> None:
    for outer in embeddings(inner, low):
        if outer not in (IPv6Address("::"), IPv6Address("::1")):  # themselves, not compatible
            assert inner in embedded_ipv4(outer)
        if not fetchable(inner):
            assert not fetchable(outer), outer


@settings(deadline=None)
@given(ipv4)
def test_every_ipv4_address_python_calls_non_global_is_refused(address: IPv4Address) -> None:
    if not address.is_global:
        assert not fetchable(address)
    assert fetchable(address) == (not any(address in network for network in DENIED_IPV4))


@settings(deadline=None)
@given(ipv6)
def test_every_plain_ipv6_address_python_calls_non_global_is_refused(address: IPv6Address) -> None:
    if not embedded_ipv4(address) and not address.is_global:
        assert not fetchable(address)
    if any(address in network for network in DENIED_IPV6) and not embedded_ipv4(address):
        assert not fetchable(address)


# The fetch itself, against real loopback servers.


@dataclass
class Served:
    url: str = ""
    requests: list[dict[str, str]] = field(default_factory=list)


def document_for(url: str) -> bytes:
    return json.dumps(
        {"client_id": url, "client_name": "Slow Client", "redirect_uris": [REDIRECT]}
    ).encode()


def loopback_server(respond: object) -> Iterator[Served]:
    """A real HTTP server on 127.0.0.1 whose GET handler is ``respond(handler, served)``."""
    served = Served()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            served.requests.append({k.lower(): v for k, v in self.headers.items()})
            respond(self, served)  # type: ignore[operator]

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    served.url = f"http://127.0.0.1:{server.server_port}/oauth/client.json"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


def trickle(handler: http.server.BaseHTTPRequestHandler, served: Served) -> None:
    """A valid document behind 2000 spaces, one byte every 50 ms (100 s in all), each read well
    inside any per-read timeout; stops as soon as the client hangs up."""
    body = b" " * 2000 + document_for(served.url)
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    for byte in body:
        try:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
        except OSError:
            return
        time.sleep(0.05)


def compressed(handler: http.server.BaseHTTPRequestHandler, served: Served) -> None:
    """Gzip whatever was asked for: a small document that decompresses to a large one."""
    body = gzip.compress(document_for(served.url)[:-1] + b" " * 4_000_000 + b"}")
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Encoding", "gzip")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def trickling() -> Iterator[Served]:
    yield from loopback_server(trickle)


@pytest.fixture
def compressing() -> Iterator[Served]:
    yield from loopback_server(compressed)


async def test_mcp_ssrf_a_trickling_server_is_cut_off_at_the_deadline(trickling: Served) -> None:
    """One deadline for the whole fetch: before, the timeout applied to each read, and a server
    sending a byte at a time held the request (and /authorize) for as long as it liked."""
    documents = MetadataDocuments(facade_settings(allow_loopback=True), deadline=0.5)
    with pytest.raises(MetadataDocumentError, match=r"not fetched within 0\.5 seconds"):
        await documents.fetch(trickling.url)
    assert len(trickling.requests) == 1


async def test_mcp_ssrf_documents_are_asked_for_and_read_uncompressed(
    compressing: Served,
) -> None:
    """The size limit applies to the bytes on the wire: a compressed answer is refused, never
    decompressed (before, ~4 KB of gzip became 4 MB in memory before the limit applied)."""
    documents = MetadataDocuments(facade_settings(allow_loopback=True))
    with pytest.raises(MetadataDocumentError, match="compressed"):
        await documents.fetch(compressing.url)
    (request,) = compressing.requests
    assert request["accept-encoding"] == "identity"


# A revoked metadata-document client stays revoked.


@pytest.fixture
def document_server() -> Iterator[Served]:
    def serve(handler: http.server.BaseHTTPRequestHandler, served: Served) -> None:
        body = document_for(served.url)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Cache-Control", "no-store")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    yield from loopback_server(serve)


def test_mcp_ssrf_a_revoked_metadata_document_client_stays_revoked(
    tmp_path: Path, document_server: Served
) -> None:
    """Before, revoking kept the registration's expiry for unused registrations; once it passed,
    the row read as absent and the next /authorize registered the URL afresh, active."""
    with local_stack(tmp_path, env={"AUTHPROXY_CIMD_ALLOW_LOOPBACK": "true"}) as stack:
        url = authorize_url(stack.issuer, document_server.url, REDIRECT, pkce()[1])
        assert httpx.get(url, timeout=30).status_code == 200
        revoke = subprocess.run(
            [sys.executable, "-m", "authproxy.cli", "clients", "revoke", document_server.url],
            env=stack.shell_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert revoke.returncode == 0, revoke.stderr
        age_every_expiry(stack)
        again = httpx.get(url, timeout=30)
        assert again.status_code == 400
        assert "revoked" in again.text


def age_every_expiry(stack: Stack) -> None:
    """As if every registration that can expire had sat unused past its expiry."""
    path = stack["AUTHPROXY_STORE"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE registrations SET data = json_set(data, '$.expires_at', 1) "
            "WHERE json_extract(data, '$.expires_at') IS NOT NULL"
        )
