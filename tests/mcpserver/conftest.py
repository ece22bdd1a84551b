"""Fixtures for the MCP server tests: a signing key, a JWKS endpoint, tokens, a running server.

Everything runs on 127.0.0.1: the JWKS endpoint and the MCP server are real uvicorn servers in
background threads, and tokens are minted here the way Cognito mints access tokens.
"""

from __future__ import annotations

import contextlib
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from mcpserver.app import create_app
from mcpserver.settings import Settings
from support.serving import bound_socket, origin_of, serve

POOL_ID = "us-east-1_TestPool1"
SUBJECT = "7f1e9c2a-0000-4000-8000-00000000d3e0"
USERNAME = "demo"
CLIENT_ID = "4p1fakeclientid0000000000"
SESSION_SECRET = "s" * 40


@dataclass
class JWKSServer:
    """A stand-in for the issuer's ``/.well-known/jwks.json``: its keys, its failures, its hits."""

    keys: list[RSAKey]
    failing: bool = False
    fetches: int = 0
    url: str = ""
    issuer: str = ""

    async def jwks(self, request: Request) -> Response:
        self.fetches += 1
        if self.failing:
            return Response("unavailable", status_code=503)
        return JSONResponse({"keys": [key.as_dict(private=False) for key in self.keys]})


@dataclass
class Tokens:
    """Mints Cognito-shaped access tokens (claims as in the Cognito developer guide)."""

    key: RSAKey
    issuer: str
    resource: str

    def claims(self, scopes: tuple[str, ...] = ("read",), **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": SUBJECT,
            "cognito:groups": ["operators"],
            "iss": self.issuer,
            "version": 2,
            "client_id": CLIENT_ID,
            "origin_jti": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
            "token_use": "access",
            "scope": " ".join(f"{self.resource}/{name}" for name in scopes),
            "auth_time": now,
            "exp": now + 3600,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "username": USERNAME,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def access(self, scopes: tuple[str, ...] = ("read",), **overrides: Any) -> str:
        header = {"alg": "RS256", "kid": self.key.kid}
        return jwt.encode(header, self.claims(scopes, **overrides), self.key)


def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@pytest.fixture(scope="session")
def signing_key() -> RSAKey:
    return rsa_key("test-key-1")


@pytest.fixture
def new_key() -> Callable[[str], RSAKey]:
    """Makes RS256 signing keys with a given ``kid``."""
    return rsa_key


@pytest.fixture
def fresh_jwks() -> Iterator[JWKSServer]:
    """A JWKS endpoint of the test's own, holding key ``k1``, to rotate keys in or break."""
    state = JWKSServer(keys=[rsa_key("k1")])
    with serve(Starlette(routes=[Route("/jwks.json", state.jwks)]), bound_socket()) as base:
        state.url = f"{base}/jwks.json"
        yield state


@pytest.fixture
def serve_app() -> Callable[[ASGIApp, socket.socket], contextlib.AbstractContextManager[str]]:
    """Runs an ASGI app on a socket for the duration of a ``with`` block."""
    return serve


@pytest.fixture
def unused_origin() -> tuple[socket.socket, str]:
    """A socket to serve on and the ``http://127.0.0.1:<port>`` origin it will have."""
    sock = bound_socket()
    return sock, origin_of(sock)


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A URL on 127.0.0.1 where nothing listens: connections are refused."""
    with bound_socket() as sock:
        yield f"{origin_of(sock)}/jwks.json"


@pytest.fixture(scope="session")
def jwks_server(signing_key: RSAKey) -> Iterator[JWKSServer]:
    state = JWKSServer(keys=[signing_key])
    app = Starlette(routes=[Route(f"/{POOL_ID}/.well-known/jwks.json", state.jwks)])
    with serve(app, bound_socket()) as base:
        state.issuer = f"{base}/{POOL_ID}"
        state.url = f"{state.issuer}/.well-known/jwks.json"
        yield state


@dataclass
class RunningServer:
    url: str
    settings: Settings


def mcp_environment(mcp_url: str, cognito_issuer: str, **extra: str) -> dict[str, str]:
    return {
        "MCP_URL": mcp_url,
        "ISSUER": mcp_url.rsplit("/", 1)[0],
        "COGNITO_ISSUER": cognito_issuer,
        "AWS_REGION": "us-east-1",
        "MCP_SESSION_SECRET": SESSION_SECRET,
        **extra,
    }


@pytest.fixture(scope="session")
def mcp_server(jwks_server: JWKSServer) -> Iterator[RunningServer]:
    sock = bound_socket()
    settings = Settings.from_env(
        mcp_environment(f"{origin_of(sock)}/mcp", jwks_server.issuer, JWKS_URL=jwks_server.url)
    )
    with serve(create_app(settings), sock):
        yield RunningServer(url=settings.mcp_url, settings=settings)


@pytest.fixture(scope="session")
def tokens(signing_key: RSAKey, jwks_server: JWKSServer, mcp_server: RunningServer) -> Tokens:
    return Tokens(key=signing_key, issuer=jwks_server.issuer, resource=mcp_server.url)
