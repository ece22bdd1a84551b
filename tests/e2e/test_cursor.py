"""Cursor's use of the façade, as the requests it sends (the editor does not run here).

Cursor registers by DCR only, with three redirect URIs in one registration: its private-use
scheme, an https callback on cursor.com and a fixed localhost port. Refusing any one of them fails
the whole registration, so all three must be accepted, and each must work at authorization.
"""

from __future__ import annotations

import pytest

from authproxy.client_profiles import PROFILES
from support.grant import authorization_code_grant
from support.mcp_http import whoami
from support.stack import Stack

CURSOR = PROFILES["cursor"]  # what `authproxy check --as cursor` replays too
REDIRECT_URIS = tuple(CURSOR.redirect_uris)


@pytest.fixture(scope="module")
def registration(dev: Stack) -> dict:
    client = dev.register(**CURSOR.registration)
    assert client["redirect_uris"] == list(REDIRECT_URIS)
    return client


@pytest.mark.parametrize("redirect_uri", REDIRECT_URIS)
def test_signs_in_through_each_registered_redirect(
    dev: Stack, registration: dict, redirect_uri: str
) -> None:
    grant = authorization_code_grant(
        dev, registration, redirect_uri, scope=f"{dev.mcp_url}/read", resource=dev.mcp_url
    )
    assert grant.redirected_to == redirect_uri
    assert grant.pages == ["consent", "login"]
    assert whoami(dev, grant.tokens["access_token"])["username"] == dev["DEMO_USER"]
