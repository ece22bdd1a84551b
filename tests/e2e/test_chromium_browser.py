"""A real browser: Debian's headless chromium, driven by Playwright, walks the consent and login
pages as a person would (reading, typing, clicking **Approve**) for two registered clients.

The consent page must name the client and the host it sends people back to, and say in words what
each permission lets the application do. Approval is remembered per registration: the first client
is not asked again, a second client is, and Cognito's session spares the second sign-in. Error pages
(an unknown application, an address that does not exist) say what the person can do next.
Screenshots of the pages are saved under ``test-artifacts/chromium/``.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

from mcpserver.server import SCOPE_DESCRIPTIONS
from support.oauth import authorize_url, pkce, query, token_request
from support.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """One person's browser: a fresh profile, cookies kept between the sign-ins of the module."""
    assert shutil.which(CHROMIUM), f"{CHROMIUM} is required: apt-get install chromium (.ci/run)"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(autouse=True)
def chromium_version(client_used: Callable[[str, str], None]) -> None:
    version = subprocess.run(
        [CHROMIUM, "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    client_used("chromium (headless, Playwright)", version.removeprefix("Chromium ").split()[0])


class CallbackListener:
    """A native client's loopback redirect listener (RFC 8252 §7.3): records each request and
    answers with a page the browser can show."""

    def __init__(self) -> None:
        arrived: list[str] = []
        self.arrived = arrived

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not self.path.startswith("/callback?"):
                    self.send_error(404)  # the browser's own requests, such as /favicon.ico
                    return
                arrived.append(self.path)
                body = b"Signed in. You can close this window."
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test reads `arrived`; codes stay out of the output

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/callback"

    def __enter__(self) -> CallbackListener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class Client:
    """A registered native client with its callback listener."""

    def __init__(
        self, stack: Stack, name: str, listener: CallbackListener, scopes: str = "read"
    ) -> None:
        self.stack = stack
        self.listener = listener
        self.redirect_uri = listener.redirect_uri
        self.scopes = scopes.split()
        self.registration = stack.register(
            client_name=name,
            redirect_uris=[self.redirect_uri],
            token_endpoint_auth_method="none",
            grant_types=["authorization_code"],
        )
        self.verifier, challenge = pkce()
        self.authorize_url = authorize_url(
            stack.issuer,
            self.registration["client_id"],
            self.redirect_uri,
            challenge,
            scope=" ".join(f"{stack.mcp_url}/{name}" for name in scopes.split()),
            resource=stack.mcp_url,
        )

    def exchange(self) -> dict[str, Any]:
        """Exchange the code of the last redirect the listener received."""
        response = token_request(
            self.stack.issuer,
            self.registration,
            {
                "grant_type": "authorization_code",
                "code": query(self.listener.arrived[-1])["code"],
                "code_verifier": self.verifier,
                "redirect_uri": self.redirect_uri,
                "resource": self.stack.mcp_url,
            },
        )
        assert response.status_code == 200, response.text
        return dict(response.json())


def approve(page: Page, client: Client, screenshot: Path) -> None:
    page.get_by_role("button", name="Approve").wait_for()
    text = page.inner_text("main")
    assert client.registration["client_name"] in text
    assert "127.0.0.1" in text  # the host the browser will be sent back to
    for name in client.scopes:  # each permission in words, then its scope string
        scope = page.get_by_text(f"{client.stack.mcp_url}/{name}", exact=True)
        words = page.get_by_text(SCOPE_DESCRIPTIONS[name], exact=True)
        assert words.is_visible()
        assert scope.is_visible()
        assert words.bounding_box()["y"] < scope.bounding_box()["y"]  # type: ignore[index]
    page.screenshot(path=screenshot, full_page=True)
    page.get_by_role("button", name="Approve").click()


def sign_in(page: Page, stack: Stack, screenshot: Path) -> None:
    page.get_by_label("Username").wait_for()
    page.get_by_label("Username").press_sequentially(stack["DEMO_USER"])
    page.get_by_label("Password").press_sequentially(stack["DEMO_PASSWORD"])
    page.screenshot(path=screenshot, full_page=True)
    page.get_by_role("button", name="Sign in").click()


def test_a_person_approves_and_signs_in_and_each_client_asks_once(
    dev: Stack,
    browser: BrowserContext,
    artifacts: Path,
    record_property: Callable[[str, object], None],
) -> None:
    page = browser.new_page()
    with CallbackListener() as first_app, CallbackListener() as second_app:
        first = Client(dev, "Chromium e2e client", first_app, scopes="read write")
        page.goto(first.authorize_url)
        approve(page, first, artifacts / "consent.png")
        sign_in(page, dev, artifacts / "login.png")
        page.wait_for_url(f"{first.redirect_uri}?*")
        assert page.inner_text("body") == "Signed in. You can close this window."
        assert first.exchange()["access_token"]

        # The same client again: approval and the Cognito session are remembered.
        page.goto(first.authorize_url)
        page.wait_for_url(f"{first.redirect_uri}?*")
        assert len(first_app.arrived) == 2

        # Another client in the same browser must be approved on its own; no second sign-in.
        second = Client(dev, "Another e2e client", second_app)
        page.goto(second.authorize_url)
        approve(page, second, artifacts / "consent-second-client.png")
        page.wait_for_url(f"{second.redirect_uri}?*")
        assert second.exchange()["access_token"]

    for name in ("consent.png", "login.png", "consent-second-client.png"):
        assert (artifacts / name).stat().st_size > 0
        record_property("artifact", str((artifacts / name).relative_to(ROOT)))


def test_error_pages_say_what_a_person_can_do_next(
    dev: Stack,
    browser: BrowserContext,
    artifacts: Path,
    record_property: Callable[[str, object], None],
) -> None:
    page = browser.new_page()
    unknown = authorize_url(dev.issuer, "no-such-client", "http://127.0.0.1:9/callback", pkce()[1])
    page.goto(unknown)
    text = page.inner_text("main")
    assert "Unknown application" in text
    assert "What you can do" in text
    assert "remove this server and add it again (reconnect it)" in text
    page.screenshot(path=artifacts / "error-unknown-application.png", full_page=True)

    response = page.goto(f"{dev.issuer}/no-such-page")
    assert response is not None
    assert response.status == 404
    text = page.inner_text("main")
    assert "Page not found" in text
    assert dev.mcp_url in text  # the address to give an application instead
    page.screenshot(path=artifacts / "error-not-found.png", full_page=True)

    for name in ("error-unknown-application.png", "error-not-found.png"):
        assert (artifacts / name).stat().st_size > 0
        record_property("artifact", str((artifacts / name).relative_to(ROOT)))
