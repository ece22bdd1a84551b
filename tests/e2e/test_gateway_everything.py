"""The reference "everything" MCP server, which has no authorization at all, behind the gateway
of ``authproxy dev --upstream everything=URL``: clients sign in through the façade and use it as
if it were theirs (ISSUE 10, "Must show").

The official ``mcp`` SDK client starts from the gateway URL alone (401, protected-resource
metadata, registration, sign-in), then calls ``echo``, a long-running operation whose progress
arrives over SSE, and a tool that makes the server ask the client for sampling. mcp-remote does
the same through its own browser step.

Transparency is measured with the conformance suite's ``server`` scenarios, run against the
upstream directly and through the gateway (with a bearer token): every scenario that passes
directly passes through the gateway.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp.types as types
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import Implementation

from support.browser_step import browser_environment, visits
from support.everything import PACKAGE, VERSION, everything_server
from support.grant import authorization_code_grant
from support.mcp_sdk import MemoryStorage, SignIn, oauth_provider
from support.node_tools import SHIMS, fs_glob_shim, node, package_bin, package_version, run_node
from support.serving import free_port
from support.stack import Stack, dev_stack

REDIRECT_URI = "http://127.0.0.1:53697/callback"
RUN_TIMEOUT = 120


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with everything_server(tmp_path_factory.mktemp("everything") / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def gated(everything: str) -> Iterator[Stack]:
    """``authproxy dev --upstream everything=<its loopback URL>``."""
    with dev_stack("--upstream", f"everything={everything}") as stack:
        yield stack


@pytest.fixture(autouse=True)
def server_version(client_used: Callable[[str, str], None]) -> None:
    version = package_version(PACKAGE)
    assert version == VERSION
    client_used("MCP everything server (upstream)", version)


async def sample(
    context: Any, params: types.CreateMessageRequestParams
) -> types.CreateMessageResult:
    """The client's side of sampling: a fixed answer, as a host's model would give one."""
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text="sampled through the gateway"),
        model="test-model",
        stop_reason="endTurn",
    )


async def test_mcp_sdk_client_signs_in_and_uses_the_everything_server(gated: Stack) -> None:
    url = gated["MCP_URL_EVERYTHING"]
    sign_in = SignIn(gated.person())
    auth = oauth_provider(
        url, "mcp sdk through the gateway", REDIRECT_URI, MemoryStorage(), sign_in
    )
    progress: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    with anyio.fail_after(RUN_TIMEOUT):
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            Client(
                streamable_http_client(url, http_client=http),
                sampling_callback=sample,
                mode="legacy",
            ) as client,
        ):
            tools = {tool.name for tool in (await client.list_tools()).tools}
            echoed = await client.call_tool("echo", {"message": "hello through the gateway"})
            long_running = await client.call_tool(
                "trigger-long-running-operation",
                {"duration": 1, "steps": 3},
                progress_callback=on_progress,
            )
            sampled = await client.call_tool(
                "trigger-sampling-request", {"prompt": "say something", "maxTokens": 10}
            )

    assert len(sign_in.callbacks) == 1
    assert {"echo", "trigger-long-running-operation", "trigger-sampling-request"} <= tools
    assert not echoed.is_error
    assert "hello through the gateway" in text_of(echoed)
    assert not long_running.is_error
    assert "Long running operation completed" in text_of(long_running)
    assert [done for done, _ in progress] == [1, 2, 3]
    assert all(total == 3 for _, total in progress)
    assert not sampled.is_error
    assert "sampled through the gateway" in text_of(sampled)


def text_of(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def test_mcp_remote_signs_in_and_uses_the_everything_server(
    gated: Stack, tmp_path: Path, client_used: Callable[[str, str], None]
) -> None:
    script = package_bin("mcp-remote", "mcp-remote")
    client_used("mcp-remote", package_version("mcp-remote"))
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **browser_environment(gated, tmp_path),
        "HOME": str(home),
        "MCP_REMOTE_CONFIG_DIR": str(tmp_path / "mcp-auth"),
    }
    url = gated["MCP_URL_EVERYTHING"]
    server = StdioServerParameters(
        command=node(), args=[str(script), url, str(free_port())], env=env
    )
    host = Implementation(name="claude-ai", version="0.1.0")
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    with (tmp_path / "mcp-remote.log").open("w") as errlog, anyio.fail_after(RUN_TIMEOUT):
        async with Client(
            stdio_client(server, errlog=errlog),
            mode="legacy",
            client_info=host,
            sampling_callback=sample,
        ) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            echoed = await client.call_tool("echo", {"message": "hello from mcp-remote"})
            sampled = await client.call_tool(
                "trigger-sampling-request", {"prompt": "say something", "maxTokens": 10}
            )
            long_running = await client.call_tool(
                "trigger-long-running-operation",
                {"duration": 1, "steps": 2},
                progress_callback=on_progress,
            )
    [signed_in] = visits(env)
    assert signed_in.get("pages") == ["consent", "login"], signed_in
    assert "echo" in tools
    assert not echoed.is_error
    assert "hello from mcp-remote" in text_of(echoed)
    assert "Long running operation completed" in text_of(long_running)
    assert progress == [1, 2]
    assert "sampled through the gateway" in text_of(sampled)


SUMMARY_LINE = re.compile(
    r"^[✓✗] (?P<scenario>[\w-]+): (?P<passed>\d+) passed, (?P<failed>\d+) failed$"
)
CONFORMANCE_TIMEOUT = 300


def conformance_summary(url: str, bearer: str | None) -> dict[str, bool]:
    """Every default ``server`` scenario of the pinned conformance suite against ``url``: whether
    each passed (no failed check). With ``bearer``, the suite's requests carry that token."""
    env = {
        **os.environ,
        "NODE_OPTIONS": f"{fs_glob_shim()} --import={SHIMS / 'bearer-fetch-shim.mjs'}",
    }
    if bearer is not None:
        env["MCP_BEARER"] = bearer
    run = run_node(
        package_bin("@modelcontextprotocol/conformance", "conformance"),
        "server",
        "--url",
        url,
        env=env,
        timeout=CONFORMANCE_TIMEOUT,
    )
    results = {
        match["scenario"]: match["failed"] == "0"
        for match in map(SUMMARY_LINE.match, run.stdout.splitlines())
        if match
    }
    assert results, run.stdout + run.stderr
    return results


def test_conformance_server_scenarios_pass_through_the_gateway_as_they_pass_directly(
    gated: Stack, everything: str, client_used: Callable[[str, str], None]
) -> None:
    client_used("MCP conformance (server)", package_version("@modelcontextprotocol/conformance"))
    url = gated["MCP_URL_EVERYTHING"]
    redirect_uri = "http://127.0.0.1:53699/callback"
    client = gated.register(
        client_name="conformance through the gateway",
        redirect_uris=[redirect_uri],
        token_endpoint_auth_method="none",
        grant_types=["authorization_code"],
    )
    grant = authorization_code_grant(gated, client, redirect_uri, scope=f"{url}/read", resource=url)
    direct = conformance_summary(everything, None)
    through = conformance_summary(url, str(grant.tokens["access_token"]))

    table = ["", f"{'scenario':34} {'direct':8} gateway"]
    table += [
        f"{name:34} {'pass' if direct[name] else 'fail':8} "
        f"{'pass' if through.get(name) else 'fail'}"
        for name in direct
    ]
    print("\n".join(table))
    assert set(through) == set(direct)
    lost = [name for name, passed in direct.items() if passed and not through[name]]
    assert not lost, f"pass directly, fail through the gateway: {lost}"


def test_authproxy_check_walks_the_gateway_urls_discovery_chain(gated: Stack) -> None:
    checked = subprocess.run(
        [
            str(Path(sys.executable).with_name("authproxy")),
            "check",
            gated["MCP_URL_EVERYTHING"],
            "--register",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
