"""Shared fixtures: the real ``authproxy dev`` stack, started once per session."""

from collections.abc import Iterator

import pytest

from support.grant import authorization_code_grant
from support.stack import Stack, dev_stack


@pytest.fixture(scope="session")
def dev() -> Iterator[Stack]:
    """`authproxy dev` as a user runs it (pooled policy, defaults)."""
    with dev_stack() as stack:
        yield stack


@pytest.fixture(scope="session")
def access_token(dev: Stack) -> str:
    """An access token for the demo user with the MCP server's read scope."""
    redirect_uri = "http://127.0.0.1:53693/callback"
    client = dev.register(
        client_name="e2e bearer",
        redirect_uris=[redirect_uri],
        token_endpoint_auth_method="none",
        grant_types=["authorization_code"],
    )
    grant = authorization_code_grant(
        dev, client, redirect_uri, scope=f"{dev.mcp_url}/read", resource=dev.mcp_url
    )
    return str(grant.tokens["access_token"])
