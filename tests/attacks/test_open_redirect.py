"""Open redirection (RFC 9700 §4.11.2, §4.1; RFC 6749 §4.1.2.1): every way of writing "somewhere
else" that a browser or a lax parser would read as the registered redirect URI.

At ``/authorize`` the answer to a redirect URI that is not exactly one the client registered is a
page of the façade, never a redirect; at ``/register`` such a URI is never registered at all.
"""

from __future__ import annotations

import httpx
import pytest

from support.attacks import assert_refused_with_a_page
from support.oauth import authorize_url, pkce
from support.stack import Stack

REGISTERED = "https://app.example.com/cb"
LOOPBACK = "http://localhost:8123/cb"


@pytest.fixture(scope="module")
def client(dev: Stack) -> dict:
    return dev.register(
        client_name="open redirect target",
        redirect_uris=[REGISTERED, LOOPBACK],
        token_endpoint_auth_method="none",
    )


AUTHORIZE_VARIANTS = {
    # userinfo: the browser goes to the host after "@"
    "userinfo": "https://app.example.com@evil.example/cb",
    "userinfo-loopback": "http://localhost:8123@evil.example/cb",
    "userinfo-encoded": "https://app.example.com%40evil.example/cb",
    # backslash: WHATWG URL parsing reads "\" as "/" in special schemes
    "backslash-userinfo": "https://app.example.com\\@evil.example/cb",
    "backslash-host": "https://evil.example\\.app.example.com/cb",
    "backslash-scheme": "https:\\\\evil.example/cb",
    "slash-backslash": "https:/\\evil.example/cb",
    "scheme-relative": "//evil.example/cb",
    # percent-encoding
    "encoded-dot-host": "https://app.example.com%2eevil.example/cb",
    "encoded-slash-path": "https://app.example.com/cb%2F..%2F..%2Fevil",
    "encoded-scheme": "%68ttps://app.example.com/cb",
    "dot-segments": "https://app.example.com/cb/../../evil",
    "extra-query": "https://app.example.com/cb?next=https://evil.example",
    # case and trailing dot (RFC 9700 §2.1: exact string matching)
    "host-case": "https://APP.example.com/cb",
    "scheme-case": "HTTPS://app.example.com/cb",
    "trailing-dot": "https://app.example.com./cb",
    "explicit-port": "https://app.example.com:443/cb",
    "loopback-trailing-dot": "http://localhost.:8123/cb",
    # IPv6 and other spellings of loopback that are not the registered host
    "ipv6-loopback": "http://[::1]:8123/cb",
    "ipv4-mapped-ipv6": "http://[::ffff:127.0.0.1]:8123/cb",
    "ipv6-long-loopback": "http://[0:0:0:0:0:0:0:1]:8123/cb",
    "ipv6-zone": "http://[fe80::1%25eth0]:8123/cb",
    "decimal-ipv4": "http://2130706433:8123/cb",
    "short-ipv4": "http://127.1:8123/cb",
    "hex-ipv4": "http://0x7f.0.0.1:8123/cb",
    "loopback-subdomain": "http://localhost.evil.example:8123/cb",
    # look-alike hosts: IDN homograph (Cyrillic "а"), its punycode, and a suffix trick
    "idn-homograph": "https://app.exаmple.com/cb",
    "punycode-homograph": "https://app.xn--exmple-4nf.com/cb",
    "suffix": "https://app.example.com.evil.example/cb",
    "prefix": "https://evilapp.example.com/cb",
    # fragments and script-bearing schemes
    "fragment": "https://app.example.com/cb#@evil.example",
    "loopback-fragment": "http://localhost:8123/cb#x",
    "javascript": "javascript:alert(document.domain)//https://app.example.com/cb",
    "javascript-case": "JaVaScRiPt:alert(1)",
    "data": "data:text/html,<script>alert(1)</script>",
    "vbscript": "vbscript:msgbox(1)",
    "file": "file:///etc/passwd",
    "tab-in-scheme": "java\tscript:alert(1)",
    "newline-in-host": "https://app.example.com\n.evil.example/cb",
    "nul": "https://app.example.com/cb\x00.evil.example",
}


@pytest.mark.parametrize("redirect_uri", AUTHORIZE_VARIANTS.values(), ids=AUTHORIZE_VARIANTS)
def test_rfc9700_4_11_2_authorize_never_redirects_to_a_variant(
    dev: Stack, client: dict, redirect_uri: str
) -> None:
    url = authorize_url(dev.issuer, client["client_id"], redirect_uri, pkce()[1])
    assert_refused_with_a_page(httpx.get(url))


def test_rfc9700_4_11_2_unknown_client_never_redirects(dev: Stack) -> None:
    """Without a registration nothing is trusted, not even a well-formed redirect URI."""
    url = authorize_url(dev.issuer, "attacker-made-up-id", "https://evil.example/cb", pkce()[1])
    assert_refused_with_a_page(httpx.get(url))


def test_rfc9700_4_11_2_bad_request_before_redirect_check_never_redirects(
    dev: Stack, client: dict
) -> None:
    """Errors found before the redirect URI is proven (a repeated parameter) are pages too, even
    when the other copy is the registered URI."""
    url = authorize_url(dev.issuer, client["client_id"], REGISTERED, pkce()[1])
    assert_refused_with_a_page(httpx.get(url + "&redirect_uri=https%3A%2F%2Fevil.example%2Fcb"))
    assert_refused_with_a_page(httpx.get(url + "&client_id=another"))


REGISTER_VARIANTS = {
    "userinfo": "https://claude.ai@evil.com/cb",
    "userinfo-private-scheme": "com.example.app://user@host/cb",
    "backslash-userinfo": "https://claude.ai\\@evil.com/cb",
    # A browser goes to evil.com; the consent page would name "evil.com\.claude.ai".
    "backslash-host": "https://evil.com\\.claude.ai/cb",
    "backslash-path": "https://evil.com\\cb",
    # A browser decodes the host to "claude.ai.evil.com"; the consent page would not.
    "encoded-host": "https://claude.ai%2eevil.com/cb",
    "encoded-userinfo": "https://claude.ai%40evil.com/cb",
    "fragment": "https://claude.ai/cb#x",
    "empty-fragment": "https://claude.ai/cb#",
    "javascript": "javascript:alert(1)",
    "javascript-case": "JAVASCRIPT:alert(1)",
    "data": "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript": "vbscript:msgbox(1)",
    "file": "file:///etc/passwd",
    "plain-http-remote": "http://evil.com/cb",
    "plain-http-loopback-lookalike": "http://localhost.evil.com/cb",
    "plain-http-trailing-dot": "http://localhost./cb",
    "plain-http-mapped-ipv6": "http://[::ffff:127.0.0.1]/cb",
    "plain-http-decimal": "http://2130706433/cb",
    "scheme-relative": "//evil.com/cb",
    "relative": "/cb",
    "no-host": "https:///cb",
    "bad-port": "https://claude.ai:99999/cb",
    "whitespace": "https://claude.ai /cb",
    "control": "https://claude.ai/\x07cb",
}


@pytest.mark.parametrize("redirect_uri", REGISTER_VARIANTS.values(), ids=REGISTER_VARIANTS)
def test_rfc9700_4_1_register_refuses_redirect_uris_that_mislead(
    dev: Stack, redirect_uri: str
) -> None:
    response = httpx.post(
        f"{dev.issuer}/register",
        json={"client_name": "attacker", "redirect_uris": [redirect_uri]},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] in ("invalid_redirect_uri", "invalid_client_metadata")
