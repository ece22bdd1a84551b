"""The official ``mcp`` SDK client (``OAuthClientProvider``) against ``authproxy dev``: with a
client registered beforehand instead of by DCR, and refreshing its access token after it expired.

The plain DCR flow and the scope step-up are in ``test_mcp_sdk_client.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull

from support.mcp_sdk import MemoryStorage, SignIn, oauth_provider
from support.stack import Stack

# Nothing listens here: the person hands the redirect to the client instead of following it.
REDIRECT_URI = "http://127.0.0.1:53694/callback"


@pytest.fixture(autouse=True)
def sdk_version(client_used: Callable[[str, str], None]) -> None:
    client_used("mcp (Python SDK)", version("mcp"))


def provider(stack: Stack, storage: MemoryStorage, sign_in: SignIn) -> OAuthClientProvider:
    return oauth_provider(stack.mcp_url, "mcp sdk e2e refresh", REDIRECT_URI, storage, sign_in)


async def whoami(client: Client) -> dict[str, Any]:
    result = await client.call_tool("whoami", {})
    assert result.is_error is False, result.content
    return result.structured_content or {}


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_pre_registered_client_signs_in_without_registering(
    dev: Stack, auth_method: str
) -> None:
    # The operator registered the client out of band and configured its credentials.
    registered = dev.register(
        client_name="pre-registered sdk client",
        redirect_uris=[REDIRECT_URI],
        token_endpoint_auth_method=auth_method,
        grant_types=["authorization_code", "refresh_token"],
    )
    storage = MemoryStorage(
        OAuthClientInformationFull(
            client_id=registered["client_id"],
            client_secret=registered["client_secret"],
            redirect_uris=[REDIRECT_URI],  # type: ignore[list-item]
            token_endpoint_auth_method=auth_method,
            grant_types=["authorization_code", "refresh_token"],
            issuer=dev.issuer,
        )
    )
    sign_in = SignIn(dev.person())
    async with (
        httpx2.AsyncClient(auth=provider(dev, storage, sign_in), timeout=30) as http,
        Client(streamable_http_client(dev.mcp_url, http_client=http)) as client,
    ):
        me = await whoami(client)

    assert storage.registrations == [], "the SDK registered although it had a client"
    assert sign_in.person.pages_seen == ["consent", "login"]
    [url] = sign_in.authorization_urls
    assert f"client_id={registered['client_id']}" in url
    assert me["username"] == dev["DEMO_USER"]
    assert me["resource"] == dev.mcp_url


async def test_refreshes_the_access_token_after_it_expired(short_lived: Stack) -> None:
    storage = MemoryStorage()
    sign_in = SignIn(short_lived.person())
    async with (
        httpx2.AsyncClient(auth=provider(short_lived, storage, sign_in), timeout=30) as http,
        Client(streamable_http_client(short_lived.mcp_url, http_client=http)) as client,
    ):
        before = await whoami(client)
        assert storage.tokens is not None
        first_token = storage.tokens
        assert first_token.expires_in is not None
        assert first_token.refresh_token
        # Wait (not a timed assertion) until the access token has expired.
        await anyio.sleep(first_token.expires_in + 1)
        after = await whoami(client)

    assert len(sign_in.callbacks) == 1, "the client signed in again instead of refreshing"
    assert storage.tokens.access_token != first_token.access_token
    assert after == before
