"""Session hijacking and cross-origin use of both deployables.

- MCP security best practices, "Session Hijacking": a session id is bound to the subject it was
  issued to; under anyone else's token it is an unknown session.
- MCP transport, "Security Warning" (DNS rebinding): the MCP server answers only its own Host
  names and allowed Origins, on every method.
- CORS on every endpoint of both: no answer ever lets another origin send the browser's cookies
  (``Access-Control-Allow-Credentials``), and the façade never builds a URL from ``Host``.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx
import pytest

from support.attacks import cognito_token
from support.mcp_http import HEADERS, initialize_params
from support.oauth import authorize_url, pkce
from support.person import forms
from support.stack import Stack, local_stack

EVIL = "https://evil.example"


def post_mcp(stack: Stack, token: str, message: dict, **headers: str) -> httpx.Response:
    return httpx.post(
        stack.mcp_url,
        content=json.dumps(message),
        headers={**HEADERS, "Authorization": f"Bearer {token}", **headers},
    )


def initialize() -> dict:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": initialize_params("2025-06-18", "attack", "0"),
    }


TOOLS_LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}


def test_mcp_session_hijacking_session_id_under_another_subject_is_unknown(dev: Stack) -> None:
    alice, mallory = cognito_token(dev, subject="alice"), cognito_token(dev, subject="mallory")
    session = post_mcp(dev, alice, initialize()).headers["mcp-session-id"]
    version = {"mcp-protocol-version": "2025-06-18"}
    own = post_mcp(dev, alice, TOOLS_LIST, **{"mcp-session-id": session}, **version)
    assert own.status_code == 200
    stolen = post_mcp(dev, mallory, TOOLS_LIST, **{"mcp-session-id": session}, **version)
    assert stolen.status_code == 404
    assert stolen.json()["error"]["message"] == "Session not found"


def test_mcp_session_hijacking_forged_and_altered_session_ids_are_unknown(dev: Stack) -> None:
    alice = cognito_token(dev, subject="alice")
    session = post_mcp(dev, alice, initialize()).headers["mcp-session-id"]
    version = {"mcp-protocol-version": "2025-06-18"}
    nonce, _, signature = session.rpartition(".")
    for forged in ("forged", session + "x", f"{nonce}.{signature[::-1]}", f"x{session}", "a.b.c"):
        response = post_mcp(dev, alice, TOOLS_LIST, **{"mcp-session-id": forged}, **version)
        assert response.status_code == 404, forged


def test_mcp_session_hijacking_a_session_of_another_server_is_unknown(
    dev: Stack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Session ids are keyed by the deployment's secret and its MCP URL: one issued elsewhere
    is unknown here, even for the same subject."""
    with local_stack(tmp_path_factory.mktemp("other-server")) as other:
        token = cognito_token(other, subject="alice")
        elsewhere = post_mcp(other, token, initialize()).headers["mcp-session-id"]
    response = post_mcp(
        dev,
        cognito_token(dev, subject="alice"),
        TOOLS_LIST,
        **{"mcp-session-id": elsewhere, "mcp-protocol-version": "2025-06-18"},
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:80", "127.0.0.1", "localhost", "127.0.0.1.nip.io", "[::1]"],
)
def test_mcp_dns_rebinding_foreign_host_is_refused(dev: Stack, host: str) -> None:
    port = urlsplit(dev.mcp_url).port
    if host in ("127.0.0.1", "localhost", "[::1]"):
        host = f"{host}:{port + 1 if port else 1}"  # the right name on another port
    token = cognito_token(dev)
    for method in ("POST", "GET", "DELETE"):
        response = httpx.request(
            method,
            dev.mcp_url,
            content=json.dumps(initialize()) if method == "POST" else None,
            headers={**HEADERS, "Authorization": f"Bearer {token}", "Host": host},
        )
        assert response.status_code in (421, 405), (method, response.status_code)
        assert "mcp-session-id" not in response.headers
    assert post_mcp(dev, token, initialize(), Host=host).status_code == 421


@pytest.mark.parametrize("origin", [EVIL, "null", "http://127.0.0.1:1", f"{EVIL}:443"])
def test_mcp_dns_rebinding_origin_not_allowed_is_refused(dev: Stack, origin: str) -> None:
    response = post_mcp(dev, cognito_token(dev), initialize(), Origin=origin)
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


def test_mcp_cors_preflight_from_a_foreign_origin_gets_no_grant(dev: Stack) -> None:
    preflight = httpx.options(
        dev.mcp_url,
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,mcp-session-id",
        },
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    allowed = httpx.options(
        dev.mcp_url,
        headers={
            "Origin": dev.issuer,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == dev.issuer
    assert allowed.headers.get("access-control-allow-credentials") != "true"


def facade_requests(dev: Stack, client: dict) -> list[tuple[str, str, dict]]:
    """Every façade endpoint, each with a request that reaches its handler."""
    url = authorize_url(dev.issuer, client["client_id"], client["redirect_uris"][0], pkce()[1])
    registration = client["registration_client_uri"]
    return [
        ("GET", f"{dev.issuer}/.well-known/oauth-authorization-server", {}),
        ("GET", f"{dev.issuer}/.well-known/openid-configuration", {}),
        ("GET", f"{dev.issuer}/.well-known/oauth-protected-resource", {}),
        ("GET", f"{dev.issuer}/.well-known/oauth-protected-resource/mcp", {}),
        ("POST", f"{dev.issuer}/register", {"json": {"redirect_uris": ["http://localhost:1/cb"]}}),
        ("GET", registration, {}),
        ("PUT", registration, {"json": {}}),
        ("GET", url, {}),
        ("POST", f"{dev.issuer}/consent", {"data": {"transaction": "x"}}),
        ("GET", f"{dev.issuer}/callback", {}),
        ("POST", f"{dev.issuer}/token", {"data": {"grant_type": "x", "client_id": "x"}}),
        ("POST", f"{dev.issuer}/revoke", {"data": {"token": "x", "client_id": "x"}}),
        ("POST", dev.mcp_url, {"json": initialize()}),
    ]


@pytest.fixture(scope="module")
def client(dev: Stack) -> dict:
    return dev.register(
        client_name="origin target",
        redirect_uris=["http://localhost:8406/cb"],
        token_endpoint_auth_method="none",
    )


def test_cors_no_endpoint_shares_credentialed_answers_with_another_origin(
    dev: Stack, client: dict
) -> None:
    for method, url, kwargs in facade_requests(dev, client):
        response = httpx.request(method, url, headers={"Origin": EVIL}, **kwargs)
        assert response.status_code < 500, (url, response.status_code)
        assert response.headers.get("access-control-allow-credentials") != "true", url
        assert response.headers.get("access-control-allow-origin") in (None, "*"), url
        preflight = httpx.options(
            url,
            headers={
                "Origin": EVIL,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code < 500, url
        assert preflight.headers.get("access-control-allow-credentials") != "true", url
        assert preflight.headers.get("access-control-allow-origin") in (None, "*"), url


def test_cors_the_consent_form_never_accepts_another_origin(dev: Stack, client: dict) -> None:
    """A wildcard CORS grant is harmless only because the form also checks Origin and the
    browser's cookie; a cross-origin POST is refused even with the right fields."""
    browser = httpx.Client()
    page = browser.get(
        authorize_url(dev.issuer, client["client_id"], client["redirect_uris"][0], pkce()[1])
    )
    fields = forms(page.text)[0].fields
    response = browser.post(
        f"{dev.issuer}/consent", data={**fields, "decision": "approve"}, headers={"Origin": EVIL}
    )
    assert response.status_code == 403
    assert "location" not in response.headers


def test_host_header_never_reaches_urls_the_facade_builds(dev: Stack, client: dict) -> None:
    """Host header injection: metadata, consent form action, redirects and error pages use the
    configured issuer, whatever ``Host`` says."""
    for method, url, kwargs in facade_requests(dev, client)[:-1]:
        response = httpx.request(method, url, headers={"Host": "evil.example"}, **kwargs)
        assert response.status_code < 500, (url, response.status_code)
        assert "evil.example" not in response.text, url
        assert "evil.example" not in response.headers.get("location", ""), url
