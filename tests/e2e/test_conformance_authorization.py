"""``@modelcontextprotocol/conformance`` (0.2.0 alpha line) ``authorization`` command: the suite
checks the façade as an authorization server.

Its scenarios read the RFC 8414 metadata and run an authorization-code grant with PKCE and the
RFC 8707 ``resource``, for a client registered beforehand. The suite prints the authorization URL
and waits on its own loopback callback; the demo user signs in there through the consent and login
pages. The suite authenticates at the token endpoint with ``none`` whenever the server advertises
it, so the client it is given is a public one.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from support.browser_step import visit
from support.node_tools import (
    CONFORMANCE_ALPHA,
    ROOT,
    fs_glob_shim,
    node,
    package_bin,
    package_version,
)
from support.serving import free_port
from support.stack import Stack

PACKAGE = "@modelcontextprotocol/conformance"
VERSION = "0.2.0-alpha.12"
SCENARIOS = ("authorization-server-metadata-endpoint", "authorization-code-grant")
RUN_TIMEOUT = 120
MAX_LINE = 65536
AUTHORIZATION_URL = re.compile(r"http\S+/authorize\?\S+$")


@pytest.fixture
def conformance(client_used: Callable[[str, str], None]) -> Path:
    """The alpha suite's executable script, at the pinned version."""
    version = package_version(PACKAGE, CONFORMANCE_ALPHA)
    assert version == VERSION
    client_used("MCP conformance (authorization)", version)
    return package_bin(PACKAGE, "conformance", CONFORMANCE_ALPHA)


async def run_suite(script: Path, stack: Stack, *args: str) -> tuple[int, str, list[dict]]:
    """Run the suite; sign in at every authorization URL it prints, as its instructions say.
    Returns its exit status, its output and the browser visits."""
    env = {**stack.shell_env(), "NODE_OPTIONS": fs_glob_shim()}
    output: list[str] = []
    signed_in: list[dict] = []
    with anyio.move_on_after(RUN_TIMEOUT) as deadline:
        async with await anyio.open_process(
            [node(), str(script), *args], env=env, cwd=ROOT, stderr=subprocess.STDOUT
        ) as process:
            assert process.stdout is not None
            lines = BufferedByteReceiveStream(process.stdout)
            while (line := await _next_line(lines)) is not None:
                output.append(line)
                if AUTHORIZATION_URL.match(line):
                    signed_in.append(await anyio.to_thread.run_sync(visit, stack.person(), line))
            status = await process.wait()
    assert not deadline.cancelled_caught, f"no result in {RUN_TIMEOUT} s: {output} {signed_in}"
    return status, "\n".join(output), signed_in


async def _next_line(stream: BufferedByteReceiveStream) -> str | None:
    try:
        return (await stream.receive_until(b"\n", MAX_LINE)).decode()
    except anyio.IncompleteRead:
        return None


async def test_lists_the_scenarios_this_test_runs(conformance: Path, dev: Stack) -> None:
    status, listed, _ = await run_suite(conformance, dev, "list", "--authorization")
    assert status == 0, listed
    assert set(re.findall(r"^\s+- (\S+)", listed, re.MULTILINE)) == set(SCENARIOS)


async def test_every_authorization_scenario_passes(conformance: Path, dev: Stack) -> None:
    port = free_port("127.0.0.1")
    client = dev.register(
        client_name="MCP conformance",
        redirect_uris=[f"http://127.0.0.1:{port}/callback"],
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
    )
    status, output, signed_in = await run_suite(
        conformance,
        dev,
        "authorization",
        "--url",
        dev.issuer,
        "--client-id",
        client["client_id"],
        "--resource",
        dev.mcp_url,
        "--port",
        str(port),
    )
    assert status == 0, output
    assert [v.get("pages") for v in signed_in] == [["consent", "login"]], signed_in
    for scenario in SCENARIOS:
        assert re.search(rf"✓ {scenario}: \d+ passed, 0 failed", output), output
    assert re.search(r"Total: \d+ passed, 0 failed", output), output
