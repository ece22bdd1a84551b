"""mcp-remote, the stdio-to-HTTP bridge Claude Desktop runs, as the e2e tests start it: a user's
files (``HOME``, ``MCP_REMOTE_CONFIG_DIR``), the headless browser step, one run under the SDK's
stdio client (list tools, call ``whoami``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import Implementation

from .browser_step import browser_environment
from .node_tools import node
from .serving import free_port
from .stack import Stack

# Outer bound for one run: mcp-remote waits for a callback that an error may never send.
RUN_TIMEOUT = 90


@dataclass
class Setup:
    """What stays the same between runs of one user's mcp-remote: its files, and its callback port
    (pinned: the port mcp-remote derives from the URL may be taken on a busy machine, and a cached
    registration for another port is dropped, which would turn a reuse into a new sign-in)."""

    env: dict[str, str]
    port: int


def setup(stack: Stack, directory: Path) -> Setup:
    home = directory / "home"
    home.mkdir()
    env = {
        **browser_environment(stack, directory),
        "HOME": str(home),
        "MCP_REMOTE_CONFIG_DIR": str(directory / "mcp-auth"),
    }
    return Setup(env, free_port("127.0.0.1"))


def stored(user: Setup, suffix: str) -> dict[str, Any]:
    """One of mcp-remote's files for the server (``client_info.json``, ``tokens.json``)."""
    [path] = Path(user.env["MCP_REMOTE_CONFIG_DIR"]).glob(f"mcp-remote-*/*_{suffix}")
    return dict(json.loads(path.read_text()))


@dataclass
class Run:
    tools: set[str]
    whoami: dict[str, Any]
    stderr: str


async def run_mcp_remote(script: Path, stack: Stack, user: Setup, log: Path) -> Run:
    """Start ``mcp-remote MCP_URL PORT`` as a stdio MCP server, list its tools, call ``whoami``."""
    server = StdioServerParameters(
        command=node(), args=[str(script), stack.mcp_url, str(user.port)], env=user.env
    )
    host = Implementation(name="claude-ai", version="0.1.0")
    with log.open("w") as errlog, anyio.fail_after(RUN_TIMEOUT):
        async with Client(
            stdio_client(server, errlog=errlog), mode="legacy", client_info=host
        ) as client:
            listed = await client.list_tools()
            me = await client.call_tool("whoami", {})
    stderr = await anyio.Path(log).read_text()
    assert not me.is_error, f"{me.content}\n{stderr}"
    return Run({t.name for t in listed.tools}, me.structured_content or {}, stderr)
