"""Fixtures the client tests share: a stack with short-lived access tokens, a token for the demo
user obtained the ordinary way (register, sign in, exchange), and the record of which client
versions the run exercised, printed at the end of every run."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.node_tools import package_bin, package_version
from support.stack import Stack, dev_stack

MCP_REMOTE_VERSION = "0.15.1"
# Seconds an access token lives on the `short_lived` stack: clients must refresh within a test.
SHORT_TTL = 5


@pytest.fixture(scope="session")
def short_lived() -> Iterator[Stack]:
    """`authproxy dev --token-ttl 5`."""
    with dev_stack("--token-ttl", str(SHORT_TTL)) as stack:
        yield stack


@pytest.fixture(scope="session")
def step_up() -> Iterator[Stack]:
    """`authproxy dev --step-up`: least privilege, write tools need a second approval."""
    with dev_stack("--step-up") as stack:
        yield stack


@pytest.fixture
def client_used(record_property: Callable[[str, object], None]) -> Callable[[str, str], None]:
    """Record ``name version`` of the client a test drives, for the summary below."""

    def used(name: str, version: str) -> None:
        record_property("client", f"{name} {version}")

    return used


@pytest.fixture
def mcp_remote(client_used: Callable[[str, str], None]) -> Path:
    """mcp-remote's executable script, at the pinned version."""
    version = package_version("mcp-remote")
    assert version == MCP_REMOTE_VERSION
    client_used("mcp-remote", version)
    return package_bin("mcp-remote", "mcp-remote")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List every client version the e2e tests ran, and where their artifacts are."""
    properties = {
        (name, str(value))
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, value in getattr(report, "user_properties", ())
    }
    for name, title in (("client", "MCP clients exercised"), ("artifact", "e2e artifacts")):
        found = sorted(value for kind, value in properties if kind == name)
        if found:
            terminalreporter.write_sep("-", title)
            for value in found:
                terminalreporter.write_line(value)
