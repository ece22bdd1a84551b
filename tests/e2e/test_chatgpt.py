"""ChatGPT's connectors (developer mode, apps), as the request sequence they send; the real client
runs on OpenAI's servers, not here.

1. the MCP server's 401, its protected-resource metadata, the façade's metadata;
2. DCR with the single redirect ``https://chatgpt.com/connector_platform_oauth_redirect``;
3. authorize with PKCE, ``resource`` (always) and the resource's ``scopes_supported``; the person
   approves and signs in; the token request carries ``resource`` too; then the tools;
4. on reconnect: authorize again with ``resource`` but no ``scope``, and the tools again.

A reconnect without ``scope`` gets the resource's default scopes (the façade's floor): under the
default one-approval-up-front setting that still includes ``write``, so the write tools keep
working after ChatGPT reconnects.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from authproxy.client_profiles import PROFILES
from support.grant import authorization_code_grant
from support.mcp_http import whoami
from support.stack import Stack

(REDIRECT,) = PROFILES["chatgpt"].redirect_uris


def discover(stack: Stack) -> dict[str, Any]:
    refused = httpx.post(stack.mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize"})
    assert refused.status_code == 401
    prm_url = refused.headers["www-authenticate"].split('resource_metadata="')[1].split('"')[0]
    prm = httpx.get(prm_url).json()
    assert prm["resource"] == stack.mcp_url
    [issuer] = prm["authorization_servers"]
    metadata = httpx.get(f"{issuer}/.well-known/oauth-authorization-server").json()
    return {"prm": prm, "as": metadata}


@pytest.mark.parametrize("auth_method", ["client_secret_post", "none"])
def test_chatgpt_connects_then_reconnects_without_scope(dev: Stack, auth_method: str) -> None:
    found = discover(dev)
    registered = httpx.post(
        found["as"]["registration_endpoint"],
        json={**PROFILES["chatgpt"].registration, "token_endpoint_auth_method": auth_method},
    )
    assert registered.status_code == 201, registered.text
    client = registered.json()

    scope = " ".join(found["prm"]["scopes_supported"])
    first = authorization_code_grant(dev, client, REDIRECT, resource=dev.mcp_url, scope=scope)
    assert first.redirected_to == REDIRECT
    assert first.pages == ["consent", "login"]
    assert set(first.tokens["scope"].split()) == set(found["prm"]["scopes_supported"])
    me = whoami(dev, first.tokens["access_token"])
    assert me["username"] == dev["DEMO_USER"]

    again = authorization_code_grant(dev, client, REDIRECT, resource=dev.mcp_url)
    assert again.redirected_to == REDIRECT
    granted = whoami(dev, again.tokens["access_token"])["scopes"]
    assert f"{dev.mcp_url}/write" in granted, "a reconnect without scope lost the write tools"
    assert again.tokens["scope"].split() == granted
