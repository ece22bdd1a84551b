"""RFC 8707 resource and scope mapping onto Cognito resource-server scopes (design D5)."""

import pytest

from authproxy.errors import OAuthError
from authproxy.resources import resolve_grant, scopes_supported
from authproxy.settings import ProtectedResource

MCP = ProtectedResource(
    uri="https://mcp.example.com/mcp",
    scopes=("read", "write"),
    default_scopes=("read",),
    name="Example",
)
OTHER = ProtectedResource(
    uri="https://other.example.com/mcp", scopes=("read",), default_scopes=("read",), name="Other"
)
RESOURCES = (MCP, OTHER)


def test_no_resource_means_the_default_with_default_scopes() -> None:
    grant = resolve_grant(RESOURCES, [], None)
    assert grant.resource == MCP.uri
    assert grant.scopes == ("https://mcp.example.com/mcp/read",)


def test_claude_scope_maps_to_defaults() -> None:
    grant = resolve_grant(RESOURCES, [MCP.uri], "claudeai")
    assert grant.scopes == ("https://mcp.example.com/mcp/read",)


def test_full_and_short_scope_names_and_oidc_pass() -> None:
    grant = resolve_grant(
        RESOURCES, [MCP.uri], "openid https://mcp.example.com/mcp/write read offline_access"
    )
    assert grant.scopes == (
        "openid",
        "https://mcp.example.com/mcp/write",
        "https://mcp.example.com/mcp/read",
    )


def test_defaults_are_always_granted() -> None:
    grant = resolve_grant(RESOURCES, [MCP.uri], "write")
    assert grant.scopes == ("https://mcp.example.com/mcp/write", "https://mcp.example.com/mcp/read")


def test_offline_access_is_dropped_never_forwarded() -> None:
    grant = resolve_grant(RESOURCES, [], "offline_access")
    assert "offline_access" not in grant.scopes


def test_trailing_slash_on_resource_is_tolerated() -> None:
    assert resolve_grant(RESOURCES, [MCP.uri + "/"], None).resource == MCP.uri


def test_unknown_resource_is_invalid_target() -> None:
    with pytest.raises(OAuthError) as caught:
        resolve_grant(RESOURCES, ["https://evil.example/mcp"], None)
    assert caught.value.error == "invalid_target"


def test_two_resources_at_once_is_invalid_target() -> None:
    with pytest.raises(OAuthError) as caught:
        resolve_grant(RESOURCES, [MCP.uri, OTHER.uri], None)
    assert caught.value.error == "invalid_target"


def test_scope_of_another_resource_is_invalid_scope() -> None:
    with pytest.raises(OAuthError) as caught:
        resolve_grant(RESOURCES, [MCP.uri], "https://other.example.com/mcp/read")
    assert caught.value.error == "invalid_scope"


def test_scopes_supported_never_lists_offline_access() -> None:
    supported = scopes_supported(RESOURCES)
    assert "offline_access" not in supported
    assert "https://mcp.example.com/mcp/write" in supported
    assert "openid" in supported
