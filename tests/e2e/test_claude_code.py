"""Claude Code's use of the façade, as the requests it sends (the CLI needs an Anthropic account
and a terminal, so it does not run here).

Claude Code registers once per server, with ``http://localhost:<port>/callback`` on the ephemeral
port its listener had at the time, and signs in again later on whatever port is free then, with
the same client id. The façade matches loopback redirect URIs on any port (RFC 8252 §7.3), which
Cognito's exact callback matching could not do.
"""

from __future__ import annotations

import httpx

from authproxy.client_profiles import PROFILES
from support.grant import authorization_code_grant
from support.mcp_http import whoami
from support.oauth import authorize_url, pkce
from support.serving import free_port
from support.stack import Stack


def callback(port: int) -> str:
    return f"http://localhost:{port}/callback"


def register(stack: Stack) -> dict:
    """Its registration body, as `authproxy check --as claude-code` replays it too."""
    return stack.register(**PROFILES["claude-code"].registration_body(free_port("127.0.0.1")))


def test_one_registration_signs_in_on_a_different_port_each_run(dev: Stack) -> None:
    client = register(dev)
    for port in (free_port("127.0.0.1") for _ in range(3)):
        grant = authorization_code_grant(
            dev, client, callback(port), scope=f"{dev.mcp_url}/read", resource=dev.mcp_url
        )
        assert grant.redirected_to == callback(port)
        me = whoami(dev, grant.tokens["access_token"])
        assert me["username"] == dev["DEMO_USER"]
        assert me["resource"] == dev.mcp_url


def test_another_path_on_the_loopback_host_is_refused_without_a_redirect(dev: Stack) -> None:
    client = register(dev)
    _, challenge = pkce()
    elsewhere = f"http://localhost:{free_port('127.0.0.1')}/elsewhere"
    response = httpx.get(authorize_url(dev.issuer, client["client_id"], elsewhere, challenge))
    assert response.status_code == 400
    assert "location" not in response.headers
