"""VS Code's use of the façade, as the requests it sends (the editor does not run here).

VS Code registers ``http://127.0.0.1:33418/`` (its loopback listener, on another port when that
one is busy) and ``https://vscode.dev/redirect`` (for VS Code in the browser) in one registration.
"""

from __future__ import annotations

import pytest

from authproxy.client_profiles import PROFILES
from support.grant import authorization_code_grant
from support.mcp_http import whoami
from support.stack import Stack

VSCODE = PROFILES["vscode"]  # what `authproxy check --as vscode` replays too
LOOPBACK = "http://127.0.0.1:33418/"
WEB = "https://vscode.dev/redirect"


@pytest.fixture(scope="module")
def registration(dev: Stack) -> dict:
    client = dev.register(**VSCODE.registration_body(33418))
    assert {LOOPBACK, WEB} <= set(client["redirect_uris"])
    return client


@pytest.mark.parametrize(
    "redirect_uri",
    [LOOPBACK, WEB, "http://127.0.0.1:33419/"],
    ids=["loopback", "vscode.dev", "loopback-busy-port"],
)
def test_signs_in_through_each_redirect(dev: Stack, registration: dict, redirect_uri: str) -> None:
    grant = authorization_code_grant(
        dev, registration, redirect_uri, scope=f"{dev.mcp_url}/read", resource=dev.mcp_url
    )
    assert grant.redirected_to == redirect_uri
    me = whoami(dev, grant.tokens["access_token"])
    assert me["username"] == dev["DEMO_USER"]
    assert me["resource"] == dev.mcp_url
