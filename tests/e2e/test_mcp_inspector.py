"""The MCP Inspector's command line (``inspector --cli``) against ``authproxy dev``.

With a bearer header it lists and calls tools; without one it runs its own OAuth client: discovery,
registration, and the browser step (``MCP_AUTO_OPEN_ENABLED`` opens the URL through ``BROWSER``,
which ``support.browser_step`` walks through the consent and login pages to the Inspector's
loopback callback). Its secrets go to a file store under a temporary ``HOME``, so a later run with
``--stored-auth-only`` reuses the token without a browser.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support.browser_step import browser_environment, visits
from support.node_tools import package_bin, package_version, run_node
from support.serving import free_port
from support.stack import Stack

PACKAGE = "@modelcontextprotocol/inspector"
VERSION = "2.12.0"
RUN_TIMEOUT = 90
# The Inspector's exit status when the server wants a sign-in it may not start.
AUTH_REQUIRED = 3


@pytest.fixture
def inspector(client_used: Callable[[str, str], None]) -> Path:
    """The Inspector's launcher script, at the pinned version."""
    version = package_version(PACKAGE)
    assert version == VERSION
    client_used("MCP Inspector CLI", version)
    return package_bin(PACKAGE, "mcp-inspector")


def cli(script: Path, stack: Stack, env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    """``inspector --cli MCP_URL ARGS --format json``: exit status and the JSON it printed (the
    result on stdout, or the error envelope on stderr)."""
    run = run_node(
        script, "--cli", stack.mcp_url, "--format", "json", *args, env=env, timeout=RUN_TIMEOUT
    )
    output = run.stdout.strip() or run.stderr.strip().splitlines()[-1]
    try:
        return run.returncode, dict(json.loads(output))
    except ValueError:
        raise AssertionError(f"exit {run.returncode}\n{run.stdout}\n{run.stderr}") from None


def home(directory: Path) -> str:
    """A fresh ``HOME``: the Inspector keeps its catalog and OAuth state there."""
    (directory / "home").mkdir()
    return str(directory / "home")


def test_lists_and_calls_tools_with_a_bearer_header(
    inspector: Path, dev: Stack, access_token: str, tmp_path: Path
) -> None:
    env = {**dev.shell_env(), "HOME": home(tmp_path)}
    bearer = f"Authorization: Bearer {access_token}"

    status, listed = cli(inspector, dev, env, "--method", "tools/list", "--header", bearer)
    assert status == 0, listed
    assert {"whoami", "list_ec2_instances"} <= {t["name"] for t in listed["result"]["tools"]}

    status, called = cli(
        inspector, dev, env, "--method", "tools/call", "--tool-name", "whoami", "--header", bearer
    )
    assert status == 0, called
    assert called["result"]["isError"] is False
    assert called["result"]["structuredContent"]["username"] == dev["DEMO_USER"]


def test_a_refused_token_is_reported_as_auth_required(
    inspector: Path, dev: Stack, tmp_path: Path
) -> None:
    env = {**dev.shell_env(), "HOME": home(tmp_path)}
    status, refused = cli(
        inspector,
        dev,
        env,
        "--method",
        "tools/list",
        "--header",
        "Authorization: Bearer not-a-token",
        "--stored-auth-only",
    )
    assert status == AUTH_REQUIRED
    assert refused["error"]["code"] == "auth_required"


def test_signs_in_headlessly_then_reuses_the_stored_token(
    inspector: Path, dev: Stack, tmp_path: Path
) -> None:
    callback = f"http://127.0.0.1:{free_port('127.0.0.1')}/oauth/callback"
    env = {
        **browser_environment(dev, tmp_path),
        "HOME": home(tmp_path),
        "MCP_AUTO_OPEN_ENABLED": "true",
        "MCP_INSPECTOR_SECRET_STORE": "file",
    }
    whoami = ("--method", "tools/call", "--tool-name", "whoami", "--callback-url", callback)

    status, first = cli(inspector, dev, env, *whoami)
    assert status == 0, first
    [signed_in] = visits(env)
    assert signed_in.get("pages") == ["consent", "login"], signed_in
    assert signed_in["callback"] == callback
    assert first["result"]["structuredContent"]["username"] == dev["DEMO_USER"]

    status, second = cli(inspector, dev, env, *whoami, "--stored-auth-only")
    assert status == 0, second
    assert len(visits(env)) == 1, "the second run asked for the browser again"
    assert second["result"]["structuredContent"] == first["result"]["structuredContent"]
