"""The adapter to Cognito's OAuth endpoints: what it takes from the environment, as an httpx
client would, and how it writes a request."""

import asyncio
import base64
import datetime
import ipaddress
import ssl
from pathlib import Path

import httpcore
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authproxy.cognito_oauth import (
    CognitoOAuth,
    UpstreamResponse,
    UpstreamUnavailable,
    _Network,
    environment_proxy,
)
from support.serving import bound_socket, serve


async def test_calls_to_cognito_go_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The façade reaches Cognito through ``HTTPS_PROXY``/``HTTP_PROXY`` as an httpx client
    would (a deployment whose egress goes through a proxy); the proxy here answers itself."""
    seen: list[tuple[str, str, str]] = []

    async def proxy(request: Request) -> JSONResponse:
        seen.append((request.headers["host"], request.url.path, request.headers["authorization"]))
        return JSONResponse({"access_token": "a", "token_type": "Bearer"})

    app = Starlette(routes=[Route("/{path:path}", proxy, methods=["POST"])])
    with serve(app, bound_socket()) as origin:
        monkeypatch.setenv("HTTP_PROXY", origin)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        upstream = CognitoOAuth("http://auth.cognito.example", 10)
        try:
            answer = await upstream.token({"grant_type": "refresh_token"}, "backing", "secret")
        finally:
            await upstream.aclose()
    assert answer.ok
    assert answer.body["access_token"] == "a"
    basic = base64.b64encode(b"backing:secret").decode()
    assert seen == [("auth.cognito.example", "/oauth2/token", f"Basic {basic}")]


def test_a_proxy_named_with_credentials_is_asked_with_them(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://egress:p%40ss@127.0.0.1:3128")
    proxy = environment_proxy("https://auth.example.com")
    assert proxy is not None
    assert (proxy.url.host, proxy.url.port) == (b"127.0.0.1", 3128)
    basic = base64.b64encode(b"egress:p@ss")
    assert (b"Proxy-Authorization", b"Basic " + basic) in proxy.headers
    monkeypatch.setenv("NO_PROXY", "auth.example.com")
    assert environment_proxy("https://auth.example.com") is None


class Recording(httpcore.AsyncNetworkStream):
    """A network stream (httpcore's interface) that records what is written to it."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self.written.append(buffer)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"

    async def aclose(self) -> None:
        self.closed = True


class OneConnection(httpcore.AsyncNetworkBackend):
    def __init__(self, stream: Recording) -> None:
        self.stream = stream

    async def connect_tcp(self, *args: object, **kwargs: object) -> httpcore.AsyncNetworkStream:
        return self.stream


async def test_a_request_to_cognito_is_one_write() -> None:
    """httpcore writes a request's head and body separately; each write would be a segment and
    a wake-up at Cognito's end. They leave together, when the answer is read."""
    stream = Recording()
    network = _Network(OneConnection(stream))
    connection = await network.connect_tcp("cognito.example", 80)
    await connection.write(b"POST /oauth2/token HTTP/1.1\r\n\r\n")
    await connection.write(b"grant_type=refresh_token")
    assert stream.written == []
    await connection.read(1024)
    assert stream.written == [b"POST /oauth2/token HTTP/1.1\r\n\r\ngrant_type=refresh_token"]
    upstream = CognitoOAuth("http://cognito.example", 10, network=OneConnection(Recording()))
    try:
        answer = await upstream.token({"grant_type": "refresh_token"}, "backing", "secret")
    finally:
        await upstream.aclose()
    assert answer.ok


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, signed by its own key (the trust anchor), and that key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cognito.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_cognito_over_tls_verified_against_ssl_cert_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cognito is HTTPS: the handshake runs on the connection that holds writes until a read,
    the certificate is verified (refused without a trust anchor for it; accepted with the one
    ``SSL_CERT_FILE`` names, as an httpx client would), and the request arrives whole."""
    cert_file, key_file = self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    received: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        received.append(head + await reader.readexactly(length))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" + b'{"access_token":"a"}')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    untrusting = CognitoOAuth(f"https://127.0.0.1:{port}", 10)
    upstream = CognitoOAuth(f"https://127.0.0.1:{port}", 10)
    try:
        with pytest.raises(UpstreamUnavailable, match="unreachable"):
            await untrusting.token({"grant_type": "refresh_token"}, "backing", "secret")
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
        response = await upstream.token({"grant_type": "refresh_token"}, "backing", "secret")
    finally:
        await untrusting.aclose()
        await upstream.aclose()
        server.close()
        await server.wait_closed()
    assert response.body == {"access_token": "a"}
    assert received[0].startswith(b"POST /oauth2/token HTTP/1.1\r\n")
    assert received[0].endswith(b"\r\n\r\ngrant_type=refresh_token")


async def test_concurrent_calls_to_cognito_are_not_queued_behind_ten_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sign-ins of many users at once each reach Cognito on a connection of their own, up to
    httpx's limit of 100 as before the pool was used directly (httpcore's own default, 10,
    queued the eleventh call until the pool's timeout answered it 503)."""
    callers = 20
    arrived = 0
    everyone = asyncio.Event()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal arrived
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        arrived += 1
        if arrived == callers:
            everyone.set()
        await everyone.wait()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    upstream = CognitoOAuth(f"http://127.0.0.1:{port}", 5)
    try:
        answers = await asyncio.gather(
            *(upstream.token({"grant_type": "refresh_token"}, "b", "s") for _ in range(callers)),
            return_exceptions=True,
        )
    finally:
        await upstream.aclose()
        server.close()
        await server.wait_closed()
    assert [a.ok if isinstance(a, UpstreamResponse) else a for a in answers] == [True] * callers


async def test_an_endless_answer_from_cognito_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cognito answers a few hundred bytes of JSON. Whatever answers in its place (a
    misconfigured domain, an interposed proxy) with an endless body is cut off at a bound and
    answered as an unavailable upstream, rather than held in memory until the function dies."""
    chunk = b"a" * 65536
    chunks_offered = 4096  # 256 MiB: far more than any answer is read of
    written = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal written
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(chunks_offered):
                writer.write(b"10000\r\n" + chunk + b"\r\n")
                await writer.drain()
                written += 1
        except ConnectionError:
            pass
        writer.close()

    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    upstream = CognitoOAuth(f"http://127.0.0.1:{port}", 10)
    try:
        with pytest.raises(UpstreamUnavailable, match="too large"):
            await upstream.token({"grant_type": "refresh_token"}, "b", "s")
    finally:
        await upstream.aclose()
        server.close()
        await server.wait_closed()
    assert written < chunks_offered // 4, written
