"""The official ``mcp`` SDK client against ``authproxy dev``, as a user's MCP client runs it.

Its ``OAuthClientProvider`` starts from the bare ``MCP_URL``: the 401 challenge, protected-resource
metadata, the façade's metadata, registration, authorization through the login and consent pages
(a person following redirects, no browser), the token exchange. Then it calls tools, and stopping
an instance makes the server ask for the write scope (403), which the client obtains by signing in
again.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import httpx2
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from support.mcp_sdk import MemoryStorage, SignIn, oauth_provider
from support.oauth import scopes_requested
from support.stack import Stack

# Nothing listens here: the person hands the redirect to the client instead of following it.
REDIRECT_URI = "http://127.0.0.1:53690/callback"


async def test_discover_register_authorize_call_and_step_up(step_up: Stack) -> None:
    dev = step_up
    instance = await anyio.to_thread.run_sync(dev.launch_instance)
    sign_in = SignIn(dev.person())
    auth = oauth_provider(dev.mcp_url, "mcp sdk e2e", REDIRECT_URI, MemoryStorage(), sign_in)
    read, write = f"{dev.mcp_url}/read", f"{dev.mcp_url}/write"
    async with (
        httpx2.AsyncClient(auth=auth, timeout=30) as http,
        Client(streamable_http_client(dev.mcp_url, http_client=http)) as client,
    ):
        me = await client.call_tool("whoami", {})
        listed = await client.call_tool("list_ec2_instances", {})
        assert len(sign_in.callbacks) == 1
        stopped = await client.call_tool(
            "stop_ec2_instance", {"instance_id": instance, "confirm": True}
        )
        after = await client.call_tool("whoami", {})

    identity: dict[str, Any] = me.structured_content or {}
    assert identity["username"] == dev["DEMO_USER"]
    assert identity["resource"] == dev.mcp_url
    assert read in identity["scopes"]
    assert write not in identity["scopes"]
    assert instance in {i["instance_id"] for i in (listed.structured_content or {})["instances"]}

    assert stopped.is_error is False, stopped.content
    assert (stopped.structured_content or {})["current_state"] in ("stopping", "stopped")
    assert len(sign_in.callbacks) == 2  # the step-up signed in once more
    assert {read, write} <= scopes_requested(sign_in.authorization_urls[1])
    assert write in (after.structured_content or {})["scopes"]
