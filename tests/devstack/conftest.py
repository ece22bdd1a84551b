"""Fixtures for the Cognito stand-in tests: a running stand-in with a movable clock, fresh pools,
and a ``Flow`` helper that drives the admin API with boto3 and the managed login with httpx, as
the façade does."""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config

from devstack.cognito import CognitoStandIn, SeededPool
from devstack.cognito.browser import sign_in

MCP = "http://127.0.0.1:8000/mcp"
CALLBACK = "http://127.0.0.1:8000/callback"
PASSWORD = "a-password"


@functools.cache
def admin_client(endpoint: str, region: str) -> Any:
    """A boto3 client that does not retry: botocore retries throttling and limit errors."""
    return boto3.client(
        "cognito-idp",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


class FakeClock:
    """A clock the tests move by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Flow:
    """One pool on one stand-in, and the calls a façade makes against them."""

    standin: CognitoStandIn
    pool: SeededPool
    http: httpx.Client

    MCP = MCP
    CALLBACK = CALLBACK
    PASSWORD = PASSWORD

    @staticmethod
    def pkce() -> tuple[str, str]:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    @staticmethod
    def query(url: str) -> dict[str, str]:
        return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}

    @property
    def idp(self) -> Any:
        return admin_client(self.standin.endpoint, self.standin.region)

    def client(self, **settings: Any) -> dict[str, Any]:
        """Create an app client like the façade's backing clients; settings override."""
        request: dict[str, Any] = {
            "UserPoolId": self.pool.pool_id,
            "ClientName": "backing",
            "GenerateSecret": True,
            "AllowedOAuthFlowsUserPoolClient": True,
            "AllowedOAuthFlows": ["code"],
            "AllowedOAuthScopes": ["openid", "email", f"{MCP}/read", f"{MCP}/write"],
            "CallbackURLs": [CALLBACK],
            "SupportedIdentityProviders": ["COGNITO"],
        } | settings
        return self.idp.create_user_pool_client(**request)["UserPoolClient"]

    def authorize_url(self, client: dict[str, Any], **params: str) -> str:
        base = {
            "response_type": "code",
            "client_id": client["ClientId"],
            "redirect_uri": CALLBACK,
            "state": "the-state",
        }
        merged = {name: value for name, value in (base | params).items() if value is not None}
        return f"{self.pool.domain}/oauth2/authorize?{urlencode(merged)}"

    def code(
        self, client: dict[str, Any], username: str = "demo", **params: str
    ) -> tuple[str, str]:
        """Sign in through the managed login; return (code, code_verifier)."""
        verifier, challenge = self.pkce()
        url = self.authorize_url(
            client, code_challenge=challenge, code_challenge_method="S256", **params
        )
        response = sign_in(self.http, url, username, PASSWORD)
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        assert location.startswith(CALLBACK), location
        return self.query(location)["code"], verifier

    def token(
        self, client: dict[str, Any], data: dict[str, str], auth: str = "basic"
    ) -> httpx.Response:
        """POST /oauth2/token authenticating with client_secret_basic, _post, or not at all."""
        form = dict(data)
        basic = None
        if auth == "basic":
            basic = (client["ClientId"], client["ClientSecret"])
        elif auth == "post":
            form |= {"client_id": client["ClientId"], "client_secret": client["ClientSecret"]}
        else:
            form["client_id"] = client["ClientId"]
        return self.http.post(f"{self.pool.domain}/oauth2/token", data=form, auth=basic)

    def exchange(
        self,
        client: dict[str, Any],
        code: str,
        verifier: str | None,
        auth: str = "basic",
        **extra: str | None,
    ) -> httpx.Response:
        """The authorization-code grant; parameters given as ``None`` are left out."""
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        } | extra
        form = {name: value for name, value in data.items() if value is not None}
        return self.token(client, form, auth)

    def tokens(self, client: dict[str, Any], **params: str) -> dict[str, Any]:
        """The whole code flow; the token response."""
        code, verifier = self.code(client, **params)
        auth = "basic" if "ClientSecret" in client else "none"
        response = self.exchange(client, code, verifier, auth=auth)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="session")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def standin(clock: FakeClock) -> Iterator[CognitoStandIn]:
    with CognitoStandIn(clock=clock) as running:
        yield running


def seed(standin: CognitoStandIn) -> SeededPool:
    return standin.seed(
        resources=[(MCP, ["read", "write"])],
        users=[("demo", PASSWORD, ["admins", "staff"]), ("plain", PASSWORD, [])],
    )


@pytest.fixture(scope="module")
def pool(standin: CognitoStandIn) -> SeededPool:
    return seed(standin)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def flow(standin: CognitoStandIn, pool: SeededPool, http: httpx.Client) -> Flow:
    return Flow(standin, pool, http)


@pytest.fixture(scope="session")
def pools_by_standin() -> weakref.WeakKeyDictionary[CognitoStandIn, SeededPool]:
    return weakref.WeakKeyDictionary()


@pytest.fixture
def make_flow(
    http: httpx.Client, pools_by_standin: weakref.WeakKeyDictionary[CognitoStandIn, SeededPool]
) -> Callable[[CognitoStandIn], Flow]:
    """A Flow on another stand-in (other options), with one pool per stand-in."""

    def make(other: CognitoStandIn) -> Flow:
        if other not in pools_by_standin:
            pools_by_standin[other] = seed(other)
        return Flow(other, pools_by_standin[other], http)

    return make
