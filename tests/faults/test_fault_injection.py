"""Cognito failing under the façade and the MCP server: faults injected over HTTP into the Cognito
stand-in (``/_standin/faults``) during registration, ``/token``, ``/revoke`` and the JWKS fetch.

Throttling, 5xx, timeouts and dropped connections each get ``503`` with ``Retry-After`` where the
client can retry, and retrying works once Cognito answers again. Afterwards the real
``authproxy clients reconcile`` finds no orphaned Cognito client and no half-written record.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from support.attacks import cognito_token
from support.mcp_http import HEADERS, initialize_params
from support.oauth import obtain_code, token_request
from support.stack import Stack, local_stack

AUTHPROXY = str(Path(sys.executable).with_name("authproxy"))
REDIRECT = "http://localhost:8407/cb"
UPSTREAM_TIMEOUT = 1  # AUTHPROXY_UPSTREAM_TIMEOUT, seconds: a delay fault outlasts it
# botocore retries admin calls (authproxy.cognito_admin): a fault outlasts its retry budget.
ADMIN_FAULTS = 10
KINDS = ("throttle", "error", "drop")
JWKS_TIMEOUT = 5  # mcpserver.jwks.RemoteJWKS default


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Dedicated backing clients, so every registration creates a Cognito app client that a
    failure could orphan."""
    with local_stack(
        tmp_path_factory.mktemp("faults"),
        client_policy="dedicated",
        env={"AUTHPROXY_UPSTREAM_TIMEOUT": str(UPSTREAM_TIMEOUT)},
    ) as running:
        yield running


def inject(stack: Stack, **fault: Any) -> None:
    response = httpx.post(f"{stack['COGNITO_DOMAIN']}/_standin/faults", json=fault)
    assert response.status_code == 201, response.text


def clear(stack: Stack) -> None:
    assert httpx.delete(f"{stack['COGNITO_DOMAIN']}/_standin/faults").status_code == 204


@pytest.fixture(autouse=True)
def cleared(stack: Stack) -> Iterator[None]:
    yield
    clear(stack)


def operator(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AUTHPROXY, "clients", *args],
        env=stack.shell_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def registrations(stack: Stack) -> list[dict]:
    listed = operator(stack, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return list(json.loads(listed.stdout))


def assert_reconciled(stack: Stack) -> None:
    """No Cognito client without its row, no row without its client, no registration without
    its backing client, whatever their age."""
    reconciled = operator(stack, "reconcile", "--min-age", "0")
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    assert "store and Cognito agree" in reconciled.stdout


def assert_retry_later(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["error"] == "temporarily_unavailable"


def register(stack: Stack) -> httpx.Response:
    return httpx.post(
        f"{stack.issuer}/register",
        json={
            "client_name": "fault test",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "client_secret_post",
        },
        timeout=60,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_registration_while_cognito_fails_is_503_and_leaves_nothing(
    stack: Stack, kind: str
) -> None:
    before = registrations(stack)
    inject(stack, action="CreateUserPoolClient", kind=kind, count=ADMIN_FAULTS)
    assert_retry_later(register(stack))
    clear(stack)
    assert registrations(stack) == before
    assert_reconciled(stack)
    assert register(stack).status_code == 201  # the client's retry
    assert_reconciled(stack)


def exchange(stack: Stack, client: dict, code: str, verifier: str) -> httpx.Response:
    return token_request(
        stack.issuer,
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT,
        },
    )


@pytest.fixture(scope="module")
def client(stack: Stack) -> dict:
    response = register(stack)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.mark.parametrize("kind", KINDS)
def test_token_while_cognito_fails_is_503_and_the_code_still_redeems(
    stack: Stack, client: dict, kind: str
) -> None:
    code, verifier, _ = obtain_code(stack, client)
    inject(stack, path="/oauth2/token", kind=kind)
    assert_retry_later(exchange(stack, client, code, verifier))
    retried = exchange(stack, client, code, verifier)
    assert retried.status_code == 200, retried.text
    refresh_token = retried.json()["refresh_token"]
    inject(stack, path="/oauth2/token", kind=kind)
    refresh = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    assert_retry_later(token_request(stack.issuer, client, refresh))
    assert token_request(stack.issuer, client, refresh).status_code == 200
    assert_reconciled(stack)


def test_token_when_cognito_times_out_is_503(stack: Stack, client: dict) -> None:
    """The request outlives the façade's deadline; Cognito may still redeem the code after the
    façade gave up, so the retry gets tokens or ``invalid_grant``, never a server error."""
    code, verifier, _ = obtain_code(stack, client)
    inject(stack, path="/oauth2/token", kind="delay", seconds=UPSTREAM_TIMEOUT + 2)
    assert_retry_later(exchange(stack, client, code, verifier))
    assert exchange(stack, client, code, verifier).status_code in (200, 400)


def revoke(stack: Stack, client: dict, refresh_token: str) -> httpx.Response:
    return httpx.post(
        f"{stack.issuer}/revoke",
        data={
            "token": refresh_token,
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
        timeout=30,
    )


@pytest.mark.parametrize("kind", [*KINDS, "delay"])
def test_revoke_while_cognito_fails_is_503_and_the_retry_revokes(
    stack: Stack, client: dict, kind: str
) -> None:
    code, verifier, _ = obtain_code(stack, client)
    refresh_token = exchange(stack, client, code, verifier).json()["refresh_token"]
    inject(stack, path="/oauth2/revoke", kind=kind, seconds=UPSTREAM_TIMEOUT + 2)
    assert_retry_later(revoke(stack, client, refresh_token))
    assert revoke(stack, client, refresh_token).status_code == 200
    refused = token_request(
        stack.issuer, client, {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def call_mcp(stack: Stack) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": initialize_params("2025-06-18", "faults", "0"),
    }
    return httpx.post(
        stack.mcp_url,
        content=json.dumps(body),
        headers={**HEADERS, "Authorization": f"Bearer {cognito_token(stack)}"},
        timeout=60,
    )


@pytest.mark.parametrize("kind", [*KINDS, "delay"])
def test_jwks_fetch_failing_is_503_not_a_refused_token(tmp_path: Path, kind: str) -> None:
    """The MCP server cannot judge a token before it has the keys: 503 with Retry-After, not a
    401 that would send the client to sign in again. Once the JWKS answers, the same token gets
    in."""
    with local_stack(tmp_path) as stack:
        path = urlsplit(stack["JWKS_URL"]).path
        inject(stack, path=path, kind=kind, seconds=JWKS_TIMEOUT + 1)
        refused = call_mcp(stack)
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["retry-after"]) > 0
        if kind != "throttle":
            return
        # The first fetch is retried after a few seconds (mcpserver.jwks.FIRST_FETCH_RETRY).
        deadline = time.monotonic() + 60
        while (answer := call_mcp(stack)).status_code == 503:
            assert time.monotonic() < deadline, "the MCP server never fetched the keys again"
            time.sleep(0.5)
        assert answer.status_code == 200, answer.text
