"""Request framing at the served stack (RFC 9112 §6.1, §6.3, §5.2; RFC 9110 §8.6): the façade and
the MCP server run under uvicorn with httptools' parser, and a message whose length two parsers
could read differently (a front proxy and this server) is refused with 400 and its connection
closed, so nothing after it is read as a second, smuggled request.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from support.stack import Stack

# Each body, read by its Content-Length, is an empty chunked body followed by a second request;
# read as chunked, it is the empty body and then that request.
SMUGGLED = b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {host}\r\n\r\n"
FRAMINGS = {
    "content-length-and-chunked": (
        b"Content-Length: {length}\r\nTransfer-Encoding: chunked\r\n",
        SMUGGLED,
    ),
    "two-content-lengths": (b"Content-Length: 5\r\nContent-Length: {length}\r\n", SMUGGLED),
    "content-length-list": (b"Content-Length: {length}, {length}\r\n", SMUGGLED),
    "chunked-not-last": (b"Transfer-Encoding: chunked, identity\r\n", SMUGGLED),
    "unknown-coding": (b"Transfer-Encoding: xchunked\r\nContent-Length: {length}\r\n", SMUGGLED),
    "space-before-colon": (
        b"Transfer-Encoding : chunked\r\nContent-Length: {length}\r\n",
        SMUGGLED,
    ),
    "obs-fold": (b"X-Folded: one\r\n two\r\nContent-Length: {length}\r\n", SMUGGLED),
    "http-1.0-chunked": (b"Transfer-Encoding: chunked\r\nContent-Length: {length}\r\n", SMUGGLED),
}


def exchange(url: str, raw: bytes) -> bytes:
    """Send ``raw`` on a new connection; everything the server answers until it closes."""
    target = urlsplit(url)
    with socket.create_connection((target.hostname or "", target.port or 80), timeout=10) as sock:
        sock.sendall(raw)
        received = b""
        for _ in range(1000):  # bounded: the server answers and closes
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


@pytest.mark.parametrize("endpoint", ["token", "mcp"])
@pytest.mark.parametrize("framing", FRAMINGS)
def test_rfc9112_6_3_ambiguous_message_length_is_refused_and_nothing_is_smuggled(
    dev: Stack, framing: str, endpoint: str
) -> None:
    url = f"{dev.issuer}/token" if endpoint == "token" else dev.mcp_url
    target = urlsplit(url)
    fields, body_template = FRAMINGS[framing]
    body = body_template.replace(b"{host}", target.netloc.encode())
    version = b"HTTP/1.0" if framing == "http-1.0-chunked" else b"HTTP/1.1"
    head = (
        b"POST " + target.path.encode() + b" " + version + b"\r\n"
        b"Host: " + target.netloc.encode() + b"\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        + fields.replace(b"{length}", str(len(body)).encode())
        + b"\r\n"
    )
    answer = exchange(url, head + body)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert answer.count(b"HTTP/1.1 ") == 1, answer


@pytest.mark.parametrize("endpoint", ["token", "mcp"])
@pytest.mark.parametrize("hosts", [0, 2], ids=["no-host", "two-hosts"])
def test_rfc9112_3_2_a_request_without_exactly_one_host_is_refused(
    dev: Stack, endpoint: str, hosts: int
) -> None:
    """A second Host after the genuine one would be judged by a front proxy reading the last and
    by the MCP SDK's DNS-rebinding check reading the first; with none there is nothing to judge."""
    url = f"{dev.issuer}/token" if endpoint == "token" else dev.mcp_url
    target = urlsplit(url)
    body = b"{}"
    head = (
        b"POST "
        + target.path.encode()
        + b" HTTP/1.1\r\n"
        + b"".join(
            b"Host: " + name + b"\r\n" for name in [target.netloc.encode(), b"evil.example"][:hosts]
        )
        + b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n"
    )
    answer = exchange(url, head + body)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"exactly one Host header" in answer
    assert answer.count(b"HTTP/1.1 ") == 1, answer
