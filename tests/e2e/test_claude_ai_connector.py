"""The Claude.ai connector (also Claude Desktop's and the mobile apps' custom connectors), as the
exact request sequence it sends; the real client runs on Anthropic's servers, not here.

1. ``initialize`` (protocol 2024-11-05) without a token → 401 with ``resource_metadata``;
2. the root ``/.well-known/oauth-authorization-server`` on the MCP server's origin;
3. DCR with ``client_name: claudeai``, ``scope: claudeai`` and its https callback, as a public
   client (``none``) or, as reported later, with ``client_secret_post``;
4. authorize with PKCE and ``scope=claudeai`` but no ``resource``; the person signs in;
5. the token request (again no ``resource``), then a refresh;
6. ``initialize`` with the token → ``Mcp-Session-Id``; ``notifications/initialized``; then
   ``tools/list``, ``prompts/list`` and ``resources/list`` whatever the capabilities say.

When its discovery fails it synthesizes ``/authorize``, ``/token`` and ``/register`` on the MCP
server's origin (design D7); the same sequence runs with those.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from authproxy.client_profiles import PROFILES
from support.mcp_http import initialize_params, open_session, result, rpc
from support.oauth import pkce, query
from support.person import Person
from support.stack import Stack, dev_stack

(CALLBACK,) = PROFILES["claude-ai"].redirect_uris
PROTOCOL = "2024-11-05"


@pytest.fixture(scope="module")
def trusting() -> Iterator[Stack]:
    """A stack whose operator pre-trusts Claude's callback hosts: no consent page (design D6)."""
    with dev_stack("--trusted-redirect-hosts", "claude.ai,claude.com") as stack:
        yield stack


@dataclass(frozen=True)
class Endpoints:
    registration: str
    authorization: str
    token: str


def mcp_origin(stack: Stack) -> str:
    return "{0.scheme}://{0.netloc}".format(urlsplit(stack.mcp_url))


def discovered(stack: Stack) -> Endpoints:
    """Step 2: the root RFC 8414 document on the MCP server's origin."""
    response = httpx.get(f"{mcp_origin(stack)}/.well-known/oauth-authorization-server")
    assert response.status_code == 200, response.text
    metadata = response.json()
    assert "S256" in metadata["code_challenge_methods_supported"]
    return Endpoints(
        metadata["registration_endpoint"],
        metadata["authorization_endpoint"],
        metadata["token_endpoint"],
    )


def synthesized(stack: Stack) -> Endpoints:
    """The fallback: the default paths on the MCP server's origin, no metadata read."""
    origin = mcp_origin(stack)
    return Endpoints(f"{origin}/register", f"{origin}/authorize", f"{origin}/token")


INITIALIZE = initialize_params(PROTOCOL, "claude-ai", "0.1.0")


def connect(stack: Stack, endpoints: Endpoints, auth_method: str) -> tuple[dict[str, Any], Person]:
    """Steps 3 to 5. Returns the token response and the person who signed in."""
    registered = httpx.post(
        endpoints.registration,
        # Its DCR body, as `authproxy check --as claude-ai` replays it too.
        json={**PROFILES["claude-ai"].registration, "token_endpoint_auth_method": auth_method},
    )
    assert registered.status_code == 201, registered.text
    client = registered.json()
    assert client["token_endpoint_auth_method"] == auth_method
    secret = {"client_secret": client["client_secret"]} if auth_method != "none" else {}

    verifier, challenge = pkce()
    state = secrets.token_urlsafe(16)
    person = stack.person()
    redirect = person.sign_in(
        endpoints.authorization
        + "?"
        + urlencode(
            {
                "client_id": client["client_id"],
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "redirect_uri": CALLBACK,
                "response_type": "code",
                "scope": "claudeai",
                "state": state,
            }
        )
    )
    assert redirect.startswith(CALLBACK + "?"), redirect
    answer = query(redirect)
    assert answer["state"] == state
    assert answer["iss"] == stack.issuer

    exchanged = httpx.post(
        endpoints.token,
        data={
            "client_id": client["client_id"],
            "code": answer["code"],
            "code_verifier": verifier,
            "grant_type": "authorization_code",
            "redirect_uri": CALLBACK,
            **secret,
        },
    )
    assert exchanged.status_code == 200, exchanged.text
    tokens = exchanged.json()
    refreshed = httpx.post(
        endpoints.token,
        data={
            "client_id": client["client_id"],
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            **secret,
        },
    )
    assert refreshed.status_code == 200, refreshed.text
    return {**tokens, **refreshed.json()}, person


def use(stack: Stack, access_token: str) -> dict[str, Any]:
    """Step 6: the handshake-era session Claude opens, the three lists it always asks for, and
    a tool call."""
    initialized, session = open_session(stack, access_token, INITIALIZE)
    assert initialized["protocolVersion"] == PROTOCOL
    answers = {
        method: result(rpc(stack, method, {}, session))
        for method in ("tools/list", "prompts/list", "resources/list")
    }
    call = {"name": "whoami", "arguments": {}}
    answers["whoami"] = result(rpc(stack, "tools/call", call, session))["structuredContent"]
    return answers


def test_initialize_without_a_token_is_a_401_pointing_at_the_metadata(dev: Stack) -> None:
    refused = rpc(dev, "initialize", INITIALIZE)
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{dev.issuer}/.well-known/oauth-protected-resource' in challenge
    # It also opens the GET stream once, without a token.
    assert httpx.get(dev.mcp_url, headers={"Accept": "text/event-stream"}).status_code == 401
    # And probes the root protected-resource document as well as the path form.
    root = httpx.get(f"{dev.issuer}/.well-known/oauth-protected-resource")
    assert root.status_code == 200
    assert root.json()["authorization_servers"] == [dev.issuer]


@pytest.mark.parametrize("auth_method", ["none", "client_secret_post"])
@pytest.mark.parametrize("find_endpoints", [discovered, synthesized], ids=["metadata", "fallback"])
def test_connects_and_lists_everything(
    dev: Stack, auth_method: str, find_endpoints: Callable[[Stack], Endpoints]
) -> None:
    tokens, person = connect(dev, find_endpoints(dev), auth_method)
    assert person.pages_seen == ["consent", "login"]
    lists = use(dev, tokens["access_token"])
    assert "whoami" in {tool["name"] for tool in lists["tools/list"]["tools"]}
    assert isinstance(lists["prompts/list"]["prompts"], list)
    assert isinstance(lists["resources/list"]["resources"], list)
    # `claudeai` is no scope of the MCP server: the façade grants the resource's default scopes.
    assert lists["whoami"]["scopes"] == [f"{dev.mcp_url}/read", f"{dev.mcp_url}/write"]
    assert lists["whoami"]["username"] == dev["DEMO_USER"]


def test_pre_trusted_claude_hosts_skip_the_consent_page(trusting: Stack) -> None:
    tokens, person = connect(trusting, discovered(trusting), "none")
    assert person.pages_seen == ["login"]
    assert use(trusting, tokens["access_token"])["tools/list"]["tools"]
