"""Redirect-URI policy: what real clients register is accepted, every dangerous kind refused."""

import pytest

from authproxy.errors import OAuthError
from authproxy.redirects import check_redirect_uri, match_redirect_uri, redirect_destination

REAL_CLIENT_REDIRECTS = [
    "https://claude.ai/api/mcp/auth_callback",
    "https://claude.com/api/mcp/auth_callback",
    "http://localhost:53682/callback",  # Claude Code
    "http://localhost:3656/oauth/callback",  # mcp-remote
    "http://127.0.0.1:6276/oauth/callback",  # MCP Inspector
    "cursor://anysphere.cursor-mcp/oauth/callback",
    "https://www.cursor.com/agents/mcp/oauth/callback",
    "http://localhost:8787/callback",
    "http://127.0.0.1:33418/",  # VS Code
    "https://vscode.dev/redirect",
    "http://[::1]:4000/cb",
    "com.example.app:/oauth2redirect",  # RFC 8252 §7.1 reverse-domain scheme
    "https://chatgpt.com/connector/oauth/abc123",
]


@pytest.mark.parametrize("uri", REAL_CLIENT_REDIRECTS)
def test_real_client_redirects_are_accepted(uri: str) -> None:
    assert check_redirect_uri(uri) == uri


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("https://claude.ai/callback#frag", "fragment"),
        ("javascript:alert(1)", "javascript"),
        ("data:text/html,<script>alert(1)</script>", "data"),
        ("http://evil.example/callback", "loopback"),
        ("http://192.168.1.10:8080/callback", "loopback"),
        ("https://user@claude.ai/callback", "user information"),
        ("/relative/callback", "absolute"),
        ("", "non-empty"),
        ("https:///nohost", "no host"),
        ("file:///etc/passwd", "file"),
        ("vbscript:msgbox", "vbscript"),
        ("https://claude.ai/cb\nSet-Cookie: x", "whitespace"),
        ("wss://example.com/socket", "not a redirect target"),
    ],
)
def test_bad_redirect_uris_are_invalid_redirect_uri(uri: str, why: str) -> None:
    with pytest.raises(OAuthError) as caught:
        check_redirect_uri(uri)
    assert caught.value.error == "invalid_redirect_uri"
    assert why in caught.value.description


def test_non_string_redirect_is_refused() -> None:
    with pytest.raises(OAuthError):
        check_redirect_uri(42)


def test_https_hosts_can_be_limited_but_loopback_and_apps_stay_allowed() -> None:
    allowed = {"claude.ai"}
    check_redirect_uri("https://claude.ai/api/mcp/auth_callback", allowed)
    check_redirect_uri("http://localhost:1234/callback", allowed)
    check_redirect_uri("cursor://anysphere.cursor-mcp/oauth/callback", allowed)
    with pytest.raises(OAuthError, match="not allowed"):
        check_redirect_uri("https://attacker.example/cb", allowed)


def test_loopback_matches_any_port_rfc8252() -> None:
    registered = ["http://localhost:8000/callback", "http://127.0.0.1/cb"]
    assert match_redirect_uri(registered, "http://localhost:49152/callback")
    assert match_redirect_uri(registered, "http://127.0.0.1:3000/cb")
    # Host, path and scheme still have to match.
    assert not match_redirect_uri(registered, "http://127.0.0.1:49152/callback")
    assert not match_redirect_uri(registered, "http://localhost:49152/other")
    assert not match_redirect_uri(registered, "https://localhost:49152/callback")


def test_everything_else_matches_exactly() -> None:
    registered = ["https://claude.ai/api/mcp/auth_callback", "cursor://anysphere.cursor-mcp/cb"]
    assert match_redirect_uri(registered, "https://claude.ai/api/mcp/auth_callback")
    assert not match_redirect_uri(registered, "https://claude.ai/api/mcp/auth_callback/")
    assert not match_redirect_uri(registered, "https://claude.ai:8443/api/mcp/auth_callback")
    assert not match_redirect_uri(registered, "cursor://anysphere.cursor-mcp/cb?x=1")


def test_consent_names_the_destination() -> None:
    assert redirect_destination("https://Claude.ai/api/mcp/auth_callback").ascii == "claude.ai"
    assert redirect_destination("cursor://anysphere.cursor-mcp/oauth/callback").ascii == (
        "cursor://anysphere.cursor-mcp"
    )
    assert redirect_destination("com.example.app:/oauth2redirect").ascii == "com.example.app:"
