"""mcp-remote, the stdio-to-HTTP bridge Claude Desktop and other stdio-only hosts run, against
``authproxy dev``.

The host side is the official ``mcp`` SDK speaking the handshake-era protocol over mcp-remote's
stdin and stdout, as Claude Desktop does. mcp-remote does the rest on its own: the 401, discovery,
registration, and the browser step, which ``support.browser_step`` performs headlessly through the
consent and login pages to mcp-remote's loopback callback. Its tokens live in a temporary
``MCP_REMOTE_CONFIG_DIR`` under a temporary ``HOME``.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import Implementation

from devstack.stack import banner
from support.browser_step import visits
from support.mcp_remote import RUN_TIMEOUT, run_mcp_remote, setup, stored
from support.node_tools import ROOT
from support.stack import Stack


async def test_signs_in_once_then_reuses_its_stored_tokens(
    mcp_remote: Path, dev: Stack, tmp_path: Path
) -> None:
    user = setup(dev, tmp_path)
    first = await run_mcp_remote(mcp_remote, dev, user, tmp_path / "first.log")
    [signed_in] = visits(user.env)
    assert signed_in.get("pages") == ["consent", "login"], signed_in
    assert signed_in["callback"] == f"http://localhost:{user.port}/oauth/callback"
    assert signed_in["callback_status"] == 200
    assert {"whoami", "list_ec2_instances"} <= first.tools
    assert first.whoami["username"] == dev["DEMO_USER"]
    assert first.whoami["resource"] == dev.mcp_url

    registration = stored(user, "client_info.json")
    assert registration["client_name"] == "MCP CLI Proxy"
    assert registration["token_endpoint_auth_method"] == "none"
    assert registration["redirect_uris"] == [signed_in["callback"]]

    second = await run_mcp_remote(mcp_remote, dev, user, tmp_path / "second.log")
    assert len(visits(user.env)) == 1, "the second run asked for the browser again"
    assert second.whoami == first.whoami


async def test_refreshes_an_expired_access_token(
    mcp_remote: Path, short_lived: Stack, tmp_path: Path
) -> None:
    # The short lifetime is also below mcp-remote's 60-second expiry margin, so the first run
    # refreshes before each request too; the second starts with a token that has really expired.
    user = setup(short_lived, tmp_path)
    await run_mcp_remote(mcp_remote, short_lived, user, tmp_path / "first.log")
    before = stored(user, "tokens.json")
    # Wait (not a timed assertion) until the stored access token has expired.
    await anyio.sleep(max(0.0, before["expires_at"] / 1000 - time.time()) + 1)

    after_expiry = await run_mcp_remote(mcp_remote, short_lived, user, tmp_path / "second.log")
    after = stored(user, "tokens.json")
    assert "Refreshed the access token" in after_expiry.stderr
    assert len(visits(user.env)) == 1, "mcp-remote signed in again instead of refreshing"
    assert after["access_token"] != before["access_token"]
    assert after_expiry.whoami["username"] == short_lived["DEMO_USER"]


def claude_desktop_server(stack: Stack) -> dict[str, Any]:
    """The ``mcpServers`` entry of the Claude Desktop configuration ``authproxy dev`` prints."""
    printed = banner(stack.env)
    line = next(x for x in printed.splitlines() if x.strip().startswith("Claude Desktop:"))
    config = json.loads(line.split(":", 1)[1])
    [entry] = config["mcpServers"].values()
    return dict(entry)


async def test_claude_desktop_config_stops_an_instance_after_the_user_approves_write(
    mcp_remote: Path, dev: Stack, tmp_path: Path
) -> None:
    """Claude Desktop's path to a write tool: mcp-remote started exactly as the printed Claude
    Desktop configuration starts it (``npx -y mcp-remote MCP_URL``, no flag). Under the default
    one-approval-up-front setting the consent page asks for read and write at the first sign-in,
    the person approves, and stopping an instance works with no second sign-in. mcp-remote 0.15.1
    cannot complete a step-up (README, "Step-up or one approval up front")."""
    instance = await anyio.to_thread.run_sync(dev.launch_instance)
    entry = claude_desktop_server(dev)
    assert entry["args"][-1] == dev.mcp_url
    command = shutil.which(entry["command"])
    assert command, f"{entry['command']} is required (see .ci/run)"
    user = setup(dev, tmp_path)
    server = StdioServerParameters(command=command, args=entry["args"], env=user.env, cwd=ROOT)
    write = f"{dev.mcp_url}/write"
    log = tmp_path / "desktop.log"
    with log.open("w") as errlog, anyio.fail_after(RUN_TIMEOUT):
        async with Client(
            stdio_client(server, errlog=errlog),
            mode="legacy",
            client_info=Implementation(name="claude-ai", version="0.1.0"),
        ) as client:
            me = await client.call_tool("whoami", {})
            stopped = await client.call_tool(
                "stop_ec2_instance", {"instance_id": instance, "confirm": True}
            )
    stderr = log.read_text()
    assert not stopped.is_error, f"{stopped.content}\n{stderr}"
    assert (stopped.structured_content or {})["current_state"] in ("stopping", "stopped")
    [signed_in] = visits(user.env)
    assert signed_in["listening_at_open"], "the browser was opened before the callback listener"
    assert signed_in["reloads"] == 0
    assert signed_in["pages"] == ["consent", "login"]
    [consent] = signed_in["consent_pages"]
    assert write in consent, "the person was not asked to approve the write scope"
    assert signed_in["callback_status"] == 200
    assert write in (me.structured_content or {})["scopes"]
    stopped_state = dev.aws("ec2").describe_instances(InstanceIds=[instance])
    state = stopped_state["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state in ("stopping", "stopped")
