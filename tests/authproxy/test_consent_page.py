"""What the consent page shows about who is asking and where the person is sent back to.

Look-alike Unicode names are shown in their ASCII (punycode) form, the Unicode beside it; a client
known by a metadata document is named by the host that served it before its self-declared name
(MCP security best practices; CIMD)."""

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from authproxy.redirects import (
    DisplayHost,
    ascii_uri,
    display_host,
    is_trusted_redirect,
    redirect_destination,
)
from support.oauth import authorize_url, pkce
from support.serving import bound_socket, serve
from support.stack import Stack, local_stack

REDIRECT = "http://localhost:7788/callback"
LOOK_ALIKE = "https://аррӏе.com/oauth/callback"  # Cyrillic letters, not apple.com


@pytest.fixture(scope="module")
def documents() -> Iterator[str]:
    """A client metadata document on loopback that calls itself "Claude"; yields its URL."""

    async def document(request: Request) -> Response:
        return JSONResponse(
            {
                "client_id": str(request.url),
                "client_name": "Claude",
                "client_uri": "https://claude.ai/",
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none",
            }
        )

    app = Starlette(routes=[Route("/client.json", document)])
    with serve(app, bound_socket()) as origin:
        yield f"{origin}/client.json"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with local_stack(
        tmp_path_factory.mktemp("consent-page"), env={"AUTHPROXY_CIMD_ALLOW_LOOPBACK": "true"}
    ) as running:
        yield running


def _section(page: str, title: str) -> str:
    """The text of the ``<dd>`` after ``<dt>title</dt>``."""
    found = re.search(rf"<dt>{title}</dt><dd>(.*?)</dd>", page, re.S)
    assert found, page
    return found.group(1)


def test_mcp_consent_names_a_metadata_document_client_by_its_host_first(
    stack: Stack, documents: str
) -> None:
    page = httpx.get(authorize_url(stack.issuer, documents, REDIRECT, pkce()[1]))
    assert page.status_code == 200, page.text
    application = _section(page.text, "Application")
    assert application.startswith("<strong>127.0.0.1</strong>")
    assert application.index("127.0.0.1") < application.index("Claude")
    assert "calls itself “Claude”" in application
    assert "<h1>Allow 127.0.0.1 to use" in page.text
    assert "<title>Allow 127.0.0.1?</title>" in page.text


def test_a_registered_client_is_named_by_its_client_name(stack: Stack) -> None:
    client = stack.register(
        client_name="Registered Client", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )
    page = httpx.get(authorize_url(stack.issuer, client["client_id"], REDIRECT, pkce()[1]))
    assert _section(page.text, "Application") == "Registered Client"


def test_mcp_consent_shows_a_look_alike_redirect_host_in_ascii(stack: Stack) -> None:
    client = stack.register(
        client_name="Apple", redirect_uris=[LOOK_ALIKE], token_endpoint_auth_method="none"
    )
    page = httpx.get(authorize_url(stack.issuer, client["client_id"], LOOK_ALIKE, pkce()[1]))
    assert page.status_code == 200, page.text
    destination = _section(page.text, "Sends you back to")
    assert destination.startswith("<strong>xn--80ak6aa92e.com</strong>")
    assert "(аррӏе.com)" in destination  # the Unicode form beside, never alone
    assert "<code>https://xn--80ak6aa92e.com/oauth/callback</code>" in destination


def test_consent_shows_no_unicode_form_for_an_ascii_host(stack: Stack) -> None:
    client = stack.register(
        client_name="Plain", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )
    page = httpx.get(authorize_url(stack.issuer, client["client_id"], REDIRECT, pkce()[1]))
    destination = _section(page.text, "Sends you back to")
    assert destination.startswith("<strong>localhost</strong>\n<br>")


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("claude.ai", DisplayHost("claude.ai")),
        ("Claude.AI.", DisplayHost("claude.ai")),
        ("аррӏе.com", DisplayHost("xn--80ak6aa92e.com", "аррӏе.com")),
        ("xn--80ak6aa92e.com", DisplayHost("xn--80ak6aa92e.com", "аррӏе.com")),
        ("bücher.example", DisplayHost("xn--bcher-kva.example", "bücher.example")),
        ("faß.de", DisplayHost("xn--fa-hia.de", "faß.de")),  # as browsers resolve it (IDNA 2008)
        ("my_host.example", DisplayHost("my_host.example")),
        ("127.0.0.1", DisplayHost("127.0.0.1")),
        ("::1", DisplayHost("::1")),
        ("bad\u202ehost", DisplayHost("bad\\u202ehost")),  # not a host name: escaped, not shown
        ("xn--zz.example", DisplayHost("xn--zz.example")),  # not a valid A-label: shown as it is
    ],
)
def test_display_host(host: str, shown: DisplayHost) -> None:
    assert display_host(host) == shown


def test_destinations_and_uris_are_shown_in_ascii() -> None:
    assert redirect_destination("someapp://аррӏе.com/cb") == DisplayHost(
        "someapp://xn--80ak6aa92e.com", "someapp://аррӏе.com"
    )
    assert redirect_destination("com.example.app:/cb") == DisplayHost("com.example.app:")
    assert ascii_uri("https://аррӏе.com:8443/é?q=ü") == (
        "https://xn--80ak6aa92e.com:8443/%C3%A9?q=%C3%BC"
    )
    assert ascii_uri("http://[::1]:9/cb") == "http://[::1]:9/cb"
    assert ascii_uri("https://x.example:99999/") == "https://x.example:99999/"


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_hosts_are_always_shown_in_printable_ascii(host: str) -> None:
    shown = display_host(host)
    assert shown.ascii.isascii()
    assert all(ch.isprintable() for ch in shown.ascii)
    if shown.unicode is not None:
        assert display_host(shown.unicode).ascii == shown.ascii  # the same host, both ways


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["https", "http", "someapp", "claude.ai", "wss"]),
    st.text(max_size=30),
    st.text(max_size=20),
)
def test_uris_are_always_shown_in_ascii_and_trust_needs_https(
    scheme: str, authority: str, path: str
) -> None:
    uri = f"{scheme}://{authority}/{path}"
    assert ascii_uri(uri).isascii()
    if is_trusted_redirect(uri, ["claude.ai"]):
        assert scheme == "https"
        assert display_host(urlsplit(uri).hostname or "").ascii == "claude.ai"
