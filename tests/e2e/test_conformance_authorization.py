"""``@modelcontextprotocol/conformance`` (0.2.0 alpha line) ``authorization`` command: the suite
checks the façade as an authorization server.

Its scenarios read the RFC 8414 metadata and run an authorization-code grant with PKCE and the
RFC 8707 ``resource``, for a client registered beforehand. The suite prints the authorization URL
and waits on its own loopback callback; the demo user signs in there through the consent and login
pages. It runs with a public registration, and with confidential ones against façades that
offer no public clients: the suite authenticates as a public client whenever the metadata lists
``none``, even when given a secret, which a confidential registration must not be allowed to do.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
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
from support.stack import Stack, local_stack

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


@pytest.fixture(scope="module")
def confidential_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A façade offering client_secret_post and client_secret_basic but no public clients."""
    env = {"AUTHPROXY_CLIENT_AUTH_METHODS": "client_secret_post,client_secret_basic"}
    with local_stack(tmp_path_factory.mktemp("confidential"), env=env) as stack:
        yield stack


@pytest.fixture(scope="module")
def basic_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A façade offering HTTP Basic alone (OAuth 2.1 §2.4.1's one required method)."""
    env = {"AUTHPROXY_CLIENT_AUTH_METHODS": "client_secret_basic"}
    with local_stack(tmp_path_factory.mktemp("basic"), env=env) as stack:
        yield stack


async def run_grant(
    conformance: Path, stack: Stack, method: str
) -> tuple[str, list[dict[str, Any]]]:
    """Register a client with ``method`` and run every scenario for it; given a secret, the
    suite authenticates by the first of ``client_secret_post``, ``client_secret_basic`` the
    metadata lists, and as a public client whenever ``none`` is listed."""
    port = free_port("127.0.0.1")
    client = stack.register(
        client_name="MCP conformance",
        redirect_uris=[f"http://127.0.0.1:{port}/callback"],
        token_endpoint_auth_method=method,
        grant_types=["authorization_code", "refresh_token"],
    )
    secret = ["--client-secret", client["client_secret"]] if "client_secret" in client else []
    status, output, signed_in = await run_suite(
        conformance,
        stack,
        "authorization",
        "--url",
        stack.issuer,
        "--client-id",
        client["client_id"],
        *secret,
        "--resource",
        stack.mcp_url,
        "--port",
        str(port),
    )
    assert status == 0, output
    assert [v.get("pages") for v in signed_in] == [["consent", "login"]], signed_in
    for scenario in SCENARIOS:
        assert re.search(rf"✓ {scenario}: \d+ passed, 0 failed", output), output
    assert re.search(r"Total: \d+ passed, 0 failed", output), output
    return output, signed_in


async def test_every_authorization_scenario_passes_for_a_public_client(
    conformance: Path, dev: Stack
) -> None:
    await run_grant(conformance, dev, "none")


async def test_every_scenario_passes_for_a_confidential_client_authenticating_by_basic(
    conformance: Path, basic_only: Stack
) -> None:
    """OAuth 2.1 §2.4.1. The suite uses Basic only when the metadata lists neither ``none`` nor
    ``client_secret_post``; a façade that offers ``none`` is green for public clients."""
    async with httpx.AsyncClient() as http:
        found = await http.get(f"{basic_only.issuer}/.well-known/oauth-authorization-server")
    metadata = found.json()
    assert metadata["token_endpoint_auth_methods_supported"] == ["client_secret_basic"]
    assert metadata["client_id_metadata_document_supported"] is False
    await run_grant(conformance, basic_only, "client_secret_basic")


@pytest.mark.parametrize("registered", ["client_secret_post", "client_secret_basic"])
async def test_every_scenario_passes_for_a_confidential_client_by_post_whatever_it_registered(
    conformance: Path, confidential_only: Stack, registered: str
) -> None:
    """The suite authenticates in the body; a client registered for Basic may too (§2.4.1)."""
    await run_grant(conformance, confidential_only, registered)
