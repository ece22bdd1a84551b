"""Pages a person understands (issue 9): scopes in words, and error pages that say what to do.

The consent page describes each permission in words first, the scope string second. Every error
page, including routing's 404 and 405, shares the consent page's style and says what the person can
do next; an application whose registration is gone is told to reconnect, since starting the same
sign-in again cannot help. Browser endpoints answer with pages, API endpoints with JSON, whatever
the request's ``Accept`` says; any other address follows ``Accept``."""

import html
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from authproxy.app import create_app
from authproxy.pages import RECONNECT, ConsentView, Permission, consent_page
from authproxy.redirects import DisplayHost
from authproxy.settings import Settings
from mcpserver.server import SCOPE_DESCRIPTIONS
from support.oauth import authorize_url, pkce
from support.serving import bound_socket, serve
from support.stack import Stack, local_stack

REDIRECT = "http://localhost:8123/callback"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
AUTHPROXY = str(Path(sys.executable).with_name("authproxy"))


def visible(page: str) -> str:
    """The page's text as a person reads it: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def assert_page(response: httpx.Response, status: int) -> str:
    """An HTML page in the consent page's style with a next step; returns its visible text."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert 'class="next"' in response.text
    assert "box-shadow" in response.text  # the shared style sheet
    text = visible(response.text)
    assert "What you can do" in text
    return text


def assert_json(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == error


@pytest.fixture(scope="module")
def client(dev: Stack) -> dict:
    return dev.register(
        client_name="Pages Tests", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )


# ------------------------------------------------------------------------- permissions in words


def test_consent_page_describes_each_scope_before_its_string(dev: Stack, client: dict) -> None:
    url = authorize_url(
        dev.issuer, client["client_id"], REDIRECT, pkce()[1], scope="read write openid"
    )
    page = httpx.get(url)
    assert page.status_code == 200, page.text
    text = visible(page.text)
    assert "It will be able to" in text
    for name, words in SCOPE_DESCRIPTIONS.items():
        scope = f"{dev.mcp_url}/{name}"
        assert text.index(words) < text.index(scope)
        assert f'<span>{html.escape(words)}</span><code class="scope">{scope}</code>' in page.text
    assert "Know which account you sign in with" in text  # openid, in words too


def test_dev_stack_cognito_resource_server_carries_the_same_words(dev: Stack) -> None:
    server = dev.aws("cognito-idp").describe_resource_server(
        UserPoolId=dev["USER_POOL_ID"], Identifier=dev.mcp_url
    )["ResourceServer"]
    described = {s["ScopeName"]: s["ScopeDescription"] for s in server["Scopes"]}
    assert described == SCOPE_DESCRIPTIONS


def test_scopes_configured_without_words_get_generic_ones(tmp_path: Path) -> None:
    with local_stack(tmp_path) as stack:
        listed = f'[{{"resource": "{stack.mcp_url}", "scopes": ["read", "write", "admin"]}}]'
        resource = Settings.from_env({**stack.env, "AUTHPROXY_RESOURCES": listed}).resources[0]
    assert resource.describe("read") == "Read information through this server's tools"
    assert resource.describe("write") == "Make changes through this server's tools"
    assert resource.describe("admin") == "Use what this server allows under “admin”"


def test_consent_page_escapes_descriptions() -> None:
    view = ConsentView(
        client_name="App",
        client_host=None,
        client_id="c",
        client_uri=None,
        redirect_host=DisplayHost("localhost"),
        redirect_uri=REDIRECT,
        resource_name="MCP",
        resource="https://mcp.example.com/mcp",
        permissions=(Permission("<b>Stop</b> things", "https://mcp.example.com/mcp/write"),),
        loopback_only=True,
        form_token="t",
        transaction="x",
        action="https://mcp.example.com/consent",
    )
    body = consent_page(view).body.decode()
    assert "<b>Stop</b>" not in body
    assert "&lt;b&gt;Stop&lt;/b&gt; things" in body


# ---------------------------------------------------------------- what the person can do next


def test_unknown_application_is_told_to_reconnect(dev: Stack) -> None:
    response = httpx.get(authorize_url(dev.issuer, "no-such-client", REDIRECT, pkce()[1]))
    text = assert_page(response, 400)
    assert "Unknown application" in text
    assert RECONNECT in text
    assert "remove this server and add it again" in text


def test_revoked_application_is_told_to_reconnect_not_to_start_again(dev: Stack) -> None:
    revoked = dev.register(
        client_name="Revoked", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )
    done = subprocess.run(
        [AUTHPROXY, "clients", "revoke", revoked["client_id"]],
        env=dev.shell_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    response = httpx.get(authorize_url(dev.issuer, revoked["client_id"], REDIRECT, pkce()[1]))
    text = assert_page(response, 400)
    assert "Application revoked" in text
    assert "remove this server and add it again" in text
    assert "start the sign-in again" not in text.lower()


def test_not_found_page_names_the_server_address(dev: Stack) -> None:
    response = httpx.get(f"{dev.issuer}/no-such-page", headers={"Accept": BROWSER})
    text = assert_page(response, 404)
    assert "Page not found" in text
    assert dev.mcp_url in text  # how to connect an application instead
    assert "start again from your application" in text


def test_method_not_allowed_on_a_browser_endpoint_is_a_page(dev: Stack) -> None:
    # The path rule wins over Accept: /consent is where people arrive.
    response = httpx.get(f"{dev.issuer}/consent", headers={"Accept": "application/json"})
    text = assert_page(response, 405)
    assert response.headers["allow"] == "POST"
    assert "start the sign-in again from your application" in text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/token", 405),
        ("GET", "/revoke", 405),
        ("GET", "/register", 405),
        ("PATCH", "/register/some-client", 405),
        ("POST", "/.well-known/oauth-authorization-server", 405),
        ("GET", "/.well-known/no-such-document", 404),
    ],
)
def test_api_endpoints_keep_json_even_for_a_browser(
    dev: Stack, method: str, path: str, status: int
) -> None:
    response = httpx.request(method, f"{dev.issuer}{path}", headers={"Accept": BROWSER})
    assert_json(response, status, "invalid_request")
    if status == 405:
        assert response.headers["allow"]


def test_other_addresses_follow_accept(dev: Stack) -> None:
    assert_json(httpx.get(f"{dev.issuer}/no-such-page"), 404, "invalid_request")
    assert_json(
        httpx.get(f"{dev.issuer}/no-such-page", headers={"Accept": "application/json"}),
        404,
        "invalid_request",
    )
    assert_page(httpx.get(f"{dev.issuer}/no-such-page", headers={"Accept": "text/html"}), 404)


def test_store_failure_at_authorize_is_a_page_with_retry_after(tmp_path: Path) -> None:
    with local_stack(tmp_path) as stack:
        client = stack.register(
            client_name="Store Trouble", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
        )
        with sqlite3.connect(stack["AUTHPROXY_STORE"].removeprefix("sqlite:///")) as db:
            db.execute("DROP TABLE registrations")
        response = httpx.get(authorize_url(stack.issuer, client["client_id"], REDIRECT, "c" * 43))
        text = assert_page(response, 503)
        assert response.headers["retry-after"]
        assert "Reload this page" in text
        # An API endpoint meets the same failure with JSON.
        assert_json(
            httpx.post(f"{stack.issuer}/register", json={"redirect_uris": [REDIRECT]}),
            503,
            "temporarily_unavailable",
        )


@pytest.mark.parametrize(
    ("kind", "status", "words"),
    # Cognito's internal errors are retried like throttling (503, Retry-After).
    [("error", 503, "Reload this page"), ("throttle", 503, "Reload this page")],
)
def test_a_cognito_failure_at_authorize_is_a_page(
    tmp_path: Path, kind: str, status: int, words: str
) -> None:
    """A metadata-document client is registered on its first /authorize; when Cognito refuses to
    create its backing client, the person sees a page, not the JSON meant for programs."""

    async def document(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "client_id": str(request.url),
                "client_name": "Document Client",
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none",
            }
        )

    documents = Starlette(routes=[Route("/client.json", document)])
    with (
        serve(documents, bound_socket()) as origin,
        local_stack(tmp_path, env={"AUTHPROXY_CIMD_ALLOW_LOOPBACK": "true"}) as stack,
    ):
        assert stack.standin is not None
        stack.standin.inject_fault(kind=kind, action="CreateUserPoolClient", count=None)
        url = authorize_url(stack.issuer, f"{origin}/client.json", REDIRECT, pkce()[1])
        text = assert_page(httpx.get(url), status)
        assert words in text


def test_an_unforeseen_failure_is_a_page_or_json_never_bare_text(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "ISSUER": "http://127.0.0.1:8000",
            "USER_POOL_ID": "eu-west-1_AbCdEf123",
            "COGNITO_DOMAIN": "http://127.0.0.1:9000",
            "AUTHPROXY_SECRET_KEY": "s" * 40,
            "AUTHPROXY_STORE": f"sqlite:///{tmp_path / 'authproxy.db'}",
            "AUTHPROXY_RESOURCES": '[{"resource": "http://127.0.0.1:8000/mcp"}]',
        }
    )
    app = create_app(settings)

    def fail(request: object) -> None:
        raise RuntimeError("a bug")

    app.router.routes.append(Route("/failing", fail))  # a bug, planted where no route has one
    with TestClient(app, raise_server_exceptions=False) as browser:
        page = browser.get("/failing", headers={"Accept": BROWSER})
        api = browser.get("/failing")
    text = assert_page(page, 500)
    assert "Something went wrong" in text
    assert "a bug" not in text
    assert f"reference {page.headers['x-request-id']}" in text  # finds the log line
    assert api.status_code == 500
    assert api.json()["error"] == "server_error"
