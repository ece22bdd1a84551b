"""The browser step of a desktop MCP client, without a browser.

mcp-remote and the MCP Inspector open the authorization URL with the desktop's opener, which on a
machine without a desktop runs the command in ``BROWSER``. :func:`browser_environment` points
``BROWSER`` at this module: the demo user follows the URL through the consent and login pages
(:class:`support.person.Person`) and then loads the final redirect, which is the client's own
loopback callback listener. Every visit is appended to a JSON-lines log, so a test can tell whether
the client asked for the browser at all.

Run as ``python -m support.browser_step URL``; it reads the stack's ``ISSUER``,
``COGNITO_DOMAIN``, ``DEMO_USER`` and ``DEMO_PASSWORD`` and ``BROWSER_LOG`` from the environment.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx

from .person import Person, SignInError

if TYPE_CHECKING:
    from .stack import Stack

TESTS = Path(__file__).resolve().parents[1]
# The desktop variables that would send the opener to a real desktop session instead.
# How often, and after how long, a person reloads a callback page that could not be reached.
RELOADS, RELOAD_PAUSE = 20, 0.5
DESKTOP = ("DISPLAY", "WAYLAND_DISPLAY", "XDG_CURRENT_DESKTOP", "DBUS_SESSION_BUS_ADDRESS")


def browser_environment(stack: Stack, directory: Path) -> dict[str, str]:
    """The environment a client process needs so that its browser step runs this module.

    ``BROWSER`` names a one-line wrapper script: the opener splits the variable on spaces and
    colons, so it must be a single path."""
    opener = directory / "browser"
    opener.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m support.browser_step "$@"\n')
    opener.chmod(0o755)
    env = {k: v for k, v in stack.shell_env().items() if k not in DESKTOP}
    return {
        **env,
        "BROWSER": str(opener),
        "BROWSER_LOG": str(directory / "browser.jsonl"),
        "PYTHONPATH": str(TESTS),
    }


def visits(env: dict[str, str]) -> list[dict[str, Any]]:
    """The visits logged so far by the browser step of a client run with ``env``."""
    log = Path(env["BROWSER_LOG"])
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def listening(redirect_uri: str) -> bool:
    """Whether something accepts connections at the redirect URI's host and port."""
    parts = urlsplit(redirect_uri)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=5):
            return True
    except OSError:
        return False


def visit(person: Person, url: str) -> dict[str, Any]:
    """Sign in at ``url`` and deliver the result to the client's callback, as a browser would.
    The record names the pages seen, whether the client's callback listener was up when the
    browser was opened, the consent pages' HTML, and the callback without its query (codes are
    not logged), and how often the person had to reload the callback page."""
    redirect_uri = parse_qs(urlsplit(url).query).get("redirect_uri", [""])[0]
    record: dict[str, Any] = {"url": url, "listening_at_open": listening(redirect_uri)}
    try:
        callback = person.sign_in(url)
    except SignInError as exc:
        record["error"] = str(exc)
        return record
    record["pages"] = person.pages_seen
    record["consent_pages"] = person.consent_pages
    record["callback"] = callback.split("?")[0]
    # A browser that reaches the callback before the client listens there shows an error page; the
    # person reloads it (the code was never delivered, so it is still good), a bounded few times.
    record["reloads"] = 0
    for _ in range(RELOADS):
        try:
            record["callback_status"] = httpx.get(callback, timeout=30).status_code
            return record
        except httpx.ConnectError:
            record["reloads"] += 1
            time.sleep(RELOAD_PAUSE)
    record["error"] = "the client's callback refused the connection"
    return record


def main(argv: list[str]) -> int:
    person = Person(
        username=os.environ["DEMO_USER"],
        password=os.environ["DEMO_PASSWORD"],
        own_origins=(os.environ["ISSUER"], os.environ["COGNITO_DOMAIN"]),
    )
    record = visit(person, argv[1])
    with Path(os.environ["BROWSER_LOG"]).open("a") as log:
        log.write(json.dumps(record) + "\n")
    return 0 if "error" not in record else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
