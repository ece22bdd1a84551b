"""The adapter to Cognito's OAuth endpoints: what it takes from the environment, as an httpx
client would, and how it writes a request."""

import base64

import httpcore
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authproxy.cognito_oauth import CognitoOAuth, _Network, environment_proxy
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
