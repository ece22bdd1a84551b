"""The README's reference sections against the code they describe, so neither drifts: every
variable both settings objects read is in the configuration reference and nothing else is, and
every command and option of ``authproxy`` has its row in the command reference."""

from __future__ import annotations

import argparse
import contextlib
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

import authproxy.settings
import mcpserver.settings
from authproxy.cli import parser
from servicekit import env as config

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
ROW_NAME = re.compile(r"^\| `([^`\s]+)")

# Environments that take every reader down each branch: nothing set, and everything set.
EVERYTHING = {
    "ISSUER": "https://mcp.example.com",
    "MCP_URL": "https://mcp.example.com/mcp",
    "USER_POOL_ID": "eu-west-1_Abc123",
    "COGNITO_DOMAIN": "https://auth.example.com",
    "AUTHPROXY_RESOURCES": '[{"resource": "https://mcp.example.com/mcp"}]',
    "AUTHPROXY_SECRET_KEY": "k" * 32,
    "AUTHPROXY_STORE": "sqlite:///:memory:",
    "MCP_SESSION_SECRET": "s" * 32,
}
ENVIRONMENTS: tuple[Mapping[str, str], ...] = ({}, EVERYTHING)


def read_by(from_env: Callable[[Mapping[str, str]], object]) -> set[str]:
    """Every variable ``from_env`` looks up, recorded by the mapping it is handed."""
    names: set[str] = set()
    for env in ENVIRONMENTS:
        reading = config.Reading(env)
        # The empty environment is refused, after every variable was looked up.
        with contextlib.suppress(config.SettingsError):
            from_env(reading)
        names |= reading.names
    return names


def section(title: str) -> str:
    """The README text under a heading, up to the next heading of the same or a higher level."""
    level = title.split(" ", 1)[0]
    start = README.index(f"\n{title}\n")
    following = re.compile(rf"^#{{1,{len(level)}}} ", re.MULTILINE)
    end = following.search(README, start + len(title) + 2)
    return README[start : end.start() if end else len(README)]


def table_rows(text: str) -> dict[str, list[str]]:
    """First-column names of the tables in ``text`` (skipping header and rule), with their cells."""
    rows = {}
    for line in text.splitlines():
        match = ROW_NAME.match(line)
        if match:
            rows[match[1]] = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
    return rows


FACADE = read_by(authproxy.settings.Settings.from_env) | read_by(
    authproxy.settings.OperatorSettings.from_env
)
MCP = read_by(mcpserver.settings.Settings.from_env)


def test_the_recorder_sees_the_variables_it_should() -> None:
    assert {"ISSUER", "AUTHPROXY_STORE", "AWS_DEFAULT_REGION"} <= FACADE
    assert {"MCP_URL", "MCP_SESSION_SECRET_ARN"} <= MCP


def test_configuration_reference_lists_every_variable_read_and_no_other() -> None:
    shared = table_rows(section("### Shared"))
    facade = table_rows(section("### `authproxy`"))
    mcp = table_rows(section("### `mcpserver`"))
    assert set(shared) == FACADE & MCP, "Shared: exactly what both deployables read"
    assert set(facade) == FACADE - MCP, "authproxy: what only the façade reads"
    assert set(mcp) == MCP - FACADE, "mcpserver: what only the MCP server reads"


def test_every_variable_has_a_default_and_a_meaning() -> None:
    rows = table_rows(section("## Configuration reference"))
    for name, cells in rows.items():
        assert len(cells) == 3, f"{name}: variable | default | meaning"
        assert cells[1], f"{name}: no default (write — for none)"
        assert len(cells[2]) > 10, f"{name}: no meaning"


def commands(
    command: argparse.ArgumentParser, path: tuple[str, ...] = ("authproxy",)
) -> dict[str, argparse.ArgumentParser]:
    """Every leaf command, ``"authproxy clients prune"`` → its parser."""
    subparsers = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        return {" ".join(path): command}
    found = {}
    for name, sub in subparsers[0].choices.items():
        found |= commands(sub, (*path, name))
    return found


def documented_options(action: argparse.Action) -> set[str]:
    if action.option_strings:
        return set(action.option_strings)
    return {action.dest.upper()}


@pytest.mark.parametrize("command", sorted(commands(parser())))
def test_command_reference_documents_every_option(command: str) -> None:
    options = {
        name
        for action in commands(parser())[command]._actions
        if not isinstance(action, argparse._HelpAction)
        for name in documented_options(action)
    }
    rows = table_rows(section(f"### `{command}`")) if options else {}
    assert set(rows) == options, f"{command}: README rows differ from its parser"
    for name, cells in rows.items():
        assert len(cells) == 3, f"{command} {name}: option | default | meaning"


def test_command_reference_has_no_command_the_parser_lacks() -> None:
    headings = re.findall(r"^### `(authproxy [^`]+)`$", section("## Commands"), re.MULTILINE)
    assert sorted(headings) == sorted(commands(parser()))


CLIENTS = (
    "Claude.ai",
    "Claude Desktop via mcp-remote",
    "Claude Code",
    "ChatGPT",
    "Cursor",
    "VS Code",
    "MCP Inspector",
)


@pytest.mark.parametrize("client", CLIENTS)
def test_connect_your_client_says_what_works_including_step_up(client: str) -> None:
    headings = re.findall(r"^### (.+)$", section("## Connect your client"), re.MULTILINE)
    (heading,) = [h for h in headings if h.startswith(client)]
    text = section(f"### {heading}")
    assert "- Works:" in text
    assert "- Step-up:" in text
