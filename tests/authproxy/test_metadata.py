"""Discovery documents (RFC 8414, OpenID Connect Discovery, RFC 9728), including an issuer with a
path, where every well-known URL moves to its path-suffixed form."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from starlette.testclient import TestClient

from authproxy.app import create_app
from authproxy.settings import Settings

RESOURCES = [
    {"resource": "https://example.com/mcp", "scopes": ["read", "write"], "name": "Main"},
    {"resource": "https://example.com/tools/mcp", "scopes": ["use"], "name": "Tools"},
]


def settings(tmp_path: Path, issuer: str) -> Settings:
    return Settings.from_env(
        {
            "ISSUER": issuer,
            "USER_POOL_ID": "eu-west-1_Example1",
            "COGNITO_DOMAIN": "https://auth.example.com",
            "AUTHPROXY_SECRET_KEY": "m" * 40,
            "AUTHPROXY_STORE": f"sqlite:///{tmp_path / 'a.db'}",
            "AUTHPROXY_RESOURCES": json.dumps(RESOURCES),
        }
    )


@pytest.fixture
def at_root(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings(tmp_path, "https://example.com"))) as client:
        yield client


@pytest.fixture
def with_path(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings(tmp_path, "https://example.com/auth"))) as client:
        yield client


def test_root_issuer_document_is_valid_rfc8414(at_root: TestClient) -> None:
    document = at_root.get("/.well-known/oauth-authorization-server").json()
    AuthorizationServerMetadata(document).validate()
    assert document["issuer"] == "https://example.com"
    assert document["authorization_endpoint"] == "https://example.com/authorize"
    assert document["registration_endpoint"] == "https://example.com/register"
    assert document["revocation_endpoint"] == "https://example.com/revoke"
    assert document["response_types_supported"] == ["code"]
    assert document["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert document["token_endpoint_auth_methods_supported"] == [
        "none",
        "client_secret_post",
        "client_secret_basic",
    ]
    assert document["jwks_uri"].endswith("/eu-west-1_Example1/.well-known/jwks.json")
    assert "https://example.com/tools/mcp/use" in document["scopes_supported"]
    assert at_root.get("/.well-known/openid-configuration").json() == document
    # Also where clients that derive it from the MCP URL look.
    assert at_root.get("/.well-known/oauth-authorization-server/mcp").json() == document
    assert at_root.get("/.well-known/openid-configuration/tools/mcp").json() == document


def test_issuer_with_a_path_serves_every_probe_form(with_path: TestClient) -> None:
    for path in (
        "/.well-known/oauth-authorization-server/auth",
        "/.well-known/openid-configuration/auth",
        "/auth/.well-known/openid-configuration",
    ):
        document = with_path.get(path).json()
        assert document["issuer"] == "https://example.com/auth"
        assert document["token_endpoint"] == "https://example.com/auth/token"
    assert with_path.get("/.well-known/oauth-authorization-server").status_code == 404
    assert with_path.post("/auth/token").status_code == 401  # the endpoint lives under the path


def test_protected_resource_metadata_for_each_fronted_resource(at_root: TestClient) -> None:
    root = at_root.get("/.well-known/oauth-protected-resource").json()
    assert root == at_root.get("/.well-known/oauth-protected-resource/mcp").json()
    assert root == {
        "resource": "https://example.com/mcp",
        "authorization_servers": ["https://example.com"],
        "scopes_supported": ["https://example.com/mcp/read", "https://example.com/mcp/write"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Main",
    }
    tools = at_root.get("/.well-known/oauth-protected-resource/tools/mcp").json()
    assert tools["resource"] == "https://example.com/tools/mcp"
    assert tools["scopes_supported"] == ["https://example.com/tools/mcp/use"]


def test_browser_clients_may_read_metadata_cross_origin(at_root: TestClient) -> None:
    response = at_root.get(
        "/.well-known/oauth-authorization-server", headers={"Origin": "https://inspector.local"}
    )
    assert response.headers["access-control-allow-origin"] == "*"
    preflight = at_root.options(
        "/token",
        headers={
            "Origin": "https://inspector.local",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
