"""A client whose registration is gone: pruned by the operator (expired registrations are refused
the same way: the store no longer returns them) or revoked.

The façade answers ``401 invalid_client`` at ``/token``; at ``/authorize`` a person sees a page
that says to reconnect, and a client that checks its cached registration first (asking for JSON)
gets ``invalid_client``. Then the client registers again: mcp-remote on its own, an application
on the ``mcp`` SDK after forgetting the registration the page told its user about.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from support.browser_step import visits
from support.grant import authorization_code_grant
from support.mcp_remote import run_mcp_remote, setup, stored
from support.mcp_sdk import MemoryStorage, SignIn, oauth_provider
from support.oauth import token_request
from support.person import SignInError
from support.stack import Stack, dev_stack

REDIRECT_URI = "http://127.0.0.1:53691/callback"
TOKEN_TTL = 5


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """A stack of its own (the operator prunes every registration in it), with access tokens
    short-lived enough to expire within a test."""
    with dev_stack("--token-ttl", str(TOKEN_TTL)) as stack:
        yield stack


def make_stale(stack: Stack, client_id: str, how: str) -> None:
    """The operator revokes the registration, or prunes idle ones (this one among them)."""
    args = (
        ["revoke", client_id]
        if how == "revoked"
        else ["prune", "--idle-days", "0", "--min-age", "0", "--yes"]
    )
    done = stack.authproxy("clients", *args)
    assert done.returncode == 0, done.stderr
    assert stack.authproxy("clients", "show", "--", client_id).returncode != 0 or how == "revoked"


HOW = pytest.mark.parametrize("how", ["pruned", "revoked"])


@HOW
def test_token_is_401_invalid_client_and_authorize_says_reconnect(stack: Stack, how: str) -> None:
    client = stack.register(
        client_name="stale", redirect_uris=[REDIRECT_URI], token_endpoint_auth_method="none"
    )
    grant = authorization_code_grant(stack, client, REDIRECT_URI, resource=stack.mcp_url)
    make_stale(stack, client["client_id"], how)

    refreshed = token_request(
        stack.issuer,
        client,
        {"grant_type": "refresh_token", "refresh_token": grant.tokens["refresh_token"]},
    )
    assert refreshed.status_code == 401
    assert refreshed.json()["error"] == "invalid_client"

    params = {"client_id": client["client_id"], "response_type": "code"}
    page = httpx.get(f"{stack.issuer}/authorize", params=params, headers={"Accept": "text/html"})
    assert page.status_code == 400
    assert "text/html" in page.headers["content-type"]
    assert "remove this server and add it again (reconnect it)" in page.text
    assert "Location" not in page.headers

    checked = httpx.get(
        f"{stack.issuer}/authorize", params=params, headers={"Accept": "application/json"}
    )
    assert checked.status_code == 400
    assert checked.json()["error"] == "invalid_client"


class RecordingSignIn(SignIn):
    """The SDK's browser step; remembers the page a refused sign-in ended on."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(stack.person())
        self.refusals: list[str] = []

    async def redirect(self, authorization_url: str) -> None:
        try:
            await super().redirect(authorization_url)
        except SignInError as exc:
            self.refusals.append(exc.response.text)
            raise


async def whoami_via_sdk(stack: Stack, storage: MemoryStorage, sign_in: SignIn) -> dict[str, Any]:
    auth = oauth_provider(stack.mcp_url, "stale sdk app", REDIRECT_URI, storage, sign_in)
    async with (
        httpx2.AsyncClient(auth=auth, timeout=30) as http,
        Client(streamable_http_client(stack.mcp_url, http_client=http)) as client,
    ):
        me = await client.call_tool("whoami", {})
    return me.structured_content or {}


@HOW
async def test_mcp_sdk_application_registers_again(stack: Stack, how: str) -> None:
    storage = MemoryStorage()
    sign_in = RecordingSignIn(stack)
    first = await whoami_via_sdk(stack, storage, sign_in)
    assert storage.client_info is not None
    stale_id = storage.client_info.client_id
    await anyio.to_thread.run_sync(make_stale, stack, stale_id, how)

    # The application restarts without its tokens but with its cached registration.
    storage.tokens = None
    with pytest.raises(BaseExceptionGroup, match="unhandled errors"):
        await whoami_via_sdk(stack, storage, sign_in)
    [page] = sign_in.refusals
    assert "remove this server and add it again (reconnect it)" in page

    # It does what the page says: forgets the registration and connects again.
    storage.client_info = None
    again = await whoami_via_sdk(stack, storage, sign_in)
    assert again["username"] == first["username"] == stack["DEMO_USER"]
    old, new = storage.registrations
    assert old.client_id == stale_id
    assert new.client_id != stale_id


async def until_refused(stack: Stack, access_token: str) -> None:
    """Wait (a bounded loop, not a timed assertion) until the MCP server refuses the access token:
    it stays valid after its registration is gone, to its expiry plus the verifier's leeway."""
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(120):
            if (await http.post(stack.mcp_url, json=ping, headers=headers)).status_code == 401:
                return
            await anyio.sleep(1)
    raise AssertionError("the access token was still accepted after two minutes")


async def test_mcp_remote_registers_again(mcp_remote: Path, stack: Stack, tmp_path: Path) -> None:
    """mcp-remote with stored tokens for a registration the operator pruned: once the access
    token is refused, its refresh meets ``invalid_client``, it forgets the registration, registers
    again and signs in (the browser once more), without the user removing ``~/.mcp-auth``."""
    user = setup(stack, tmp_path)
    await run_mcp_remote(mcp_remote, stack, user, tmp_path / "first.log")
    stale_id = stored(user, "client_info.json")["client_id"]
    await anyio.to_thread.run_sync(make_stale, stack, stale_id, "pruned")
    await until_refused(stack, stored(user, "tokens.json")["access_token"])

    again = await run_mcp_remote(mcp_remote, stack, user, tmp_path / "second.log")
    assert again.whoami["username"] == stack["DEMO_USER"]
    new_id = stored(user, "client_info.json")["client_id"]
    assert new_id != stale_id
    first, *again_signed_in = visits(user.env)
    assert f"client_id={stale_id}&" in first["url"]
    assert again_signed_in, "mcp-remote did not sign in again"
    assert all(f"client_id={new_id}&" in v["url"] for v in again_signed_in)
    # mcp-remote opens the browser before its callback listener is up when stored tokens turn
    # out to be refused (README, "Troubleshooting"): a browser that gets there first shows an
    # error page, and reloading it completes the sign-in.
    assert again_signed_in[-1]["callback_status"] == 200
