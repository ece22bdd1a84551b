"""Registrations and their backing Cognito app clients (design D4): pooling, the dedicated
policy, quota guards, and failures halfway that must leave no orphaned Cognito client or
half-written row."""

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from authproxy.clients import new_client_id
from authproxy.cognito_admin import deployment_mark
from support.stack import Stack, local_stack

CLAUDE = {
    "client_name": "claudeai",
    "grant_types": ["authorization_code", "refresh_token"],
    "scope": "claudeai",
    "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
    "token_endpoint_auth_method": "none",
}


def cognito_clients(stack: Stack) -> list[str]:
    idp = stack.aws("cognito-idp")
    found, token = [], None
    while True:
        page = idp.list_user_pool_clients(
            UserPoolId=stack["USER_POOL_ID"],
            MaxResults=60,
            **({"NextToken": token} if token else {}),
        )
        found += [c["ClientId"] for c in page["UserPoolClients"]]
        token = page.get("NextToken")
        if not token:
            return found


def rows(stack: Stack, table: str) -> int:
    path = stack["AUTHPROXY_STORE"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608


def register(stack: Stack, body: dict) -> httpx.Response:
    return httpx.post(f"{stack.issuer}/register", json=body, timeout=30)


@pytest.fixture
def pooled(tmp_path: Path) -> Iterator[Stack]:
    with local_stack(tmp_path) as stack:
        yield stack


@pytest.fixture
def dedicated(tmp_path: Path) -> Iterator[Stack]:
    with local_stack(tmp_path, client_policy="dedicated") as stack:
        yield stack


def test_pooled_50_registrations_of_one_client_share_one_backing_client(pooled: Stack) -> None:
    ids = {register(pooled, CLAUDE).json()["client_id"] for _ in range(50)}
    assert len(ids) == 50
    assert len(cognito_clients(pooled)) == 1
    assert rows(pooled, "registrations") == 50
    # Whatever else a registrant claims, it cannot mint app clients: one pool for public
    # clients, one for confidential ones, and that is all.
    for name in ("Cursor", "x" * 20, "random-name-1", "random-name-2"):
        register(pooled, {**CLAUDE, "client_name": name, "software_id": name})
    register(pooled, {**CLAUDE, "token_endpoint_auth_method": "client_secret_post"})
    register(pooled, {**CLAUDE, "token_endpoint_auth_method": "client_secret_basic"})
    assert len(cognito_clients(pooled)) == 2


def test_dedicated_50_registrations_create_50_backing_clients(dedicated: Stack) -> None:
    for _ in range(50):
        assert register(dedicated, CLAUDE).status_code == 201
    assert len(cognito_clients(dedicated)) == 50
    assert rows(dedicated, "backing_clients") == 50


def test_deleting_a_dedicated_registration_deletes_its_cognito_client(dedicated: Stack) -> None:
    got = register(dedicated, CLAUDE).json()
    assert len(cognito_clients(dedicated)) == 1
    httpx.delete(
        got["registration_client_uri"],
        headers={"Authorization": f"Bearer {got['registration_access_token']}"},
    )
    assert cognito_clients(dedicated) == []
    assert rows(dedicated, "backing_clients") == 0
    assert rows(dedicated, "registrations") == 0


def test_backing_client_is_what_cognito_needs(pooled: Stack) -> None:
    register(pooled, CLAUDE)
    idp = pooled.aws("cognito-idp")
    (client_id,) = cognito_clients(pooled)
    described = idp.describe_user_pool_client(UserPoolId=pooled["USER_POOL_ID"], ClientId=client_id)
    client = described["UserPoolClient"]
    owner = deployment_mark(pooled["AUTHPROXY_STORE"], pooled["AWS_REGION"])
    assert client["ClientName"] == f"authproxy-{owner}-pool-public"
    assert client["ClientSecret"]
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["CallbackURLs"] == [f"{pooled.issuer}/callback"]
    assert f"{pooled.mcp_url}/write" in client["AllowedOAuthScopes"]
    assert client["EnableTokenRevocation"] is True
    assert client["RefreshTokenRotation"]["Feature"] == "ENABLED"


def test_names_are_cleaned_to_cognitos_pattern(pooled: Stack) -> None:
    response = register(
        pooled, {**CLAUDE, "client_name": "Claude (Desktop) — ünïcode/✓ " + "x" * 200}
    )
    assert response.status_code == 201, response.text


def test_cognito_throttling_at_registration_is_503_and_leaves_nothing(dedicated: Stack) -> None:
    assert dedicated.standin is not None
    dedicated.standin.inject_fault(action="CreateUserPoolClient", kind="throttle", count=10)
    response = register(dedicated, CLAUDE)
    dedicated.standin.clear_faults()
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert "retry-after" in response.headers
    assert cognito_clients(dedicated) == []
    assert rows(dedicated, "registrations") == 0


def test_store_failure_after_cognito_create_deletes_the_cognito_client(dedicated: Stack) -> None:
    path = dedicated["AUTHPROXY_STORE"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE registrations")
    response = register(dedicated, CLAUDE)
    assert response.status_code == 503
    assert cognito_clients(dedicated) == []
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM backing_clients").fetchone()[0] == 0


def test_quota_guard_refuses_before_cognito_does(tmp_path: Path) -> None:
    with local_stack(
        tmp_path, client_policy="dedicated", env={"AUTHPROXY_MAX_BACKING_CLIENTS": "3"}
    ) as stack:
        for _ in range(3):
            assert register(stack, CLAUDE).status_code == 201
        refused = register(stack, CLAUDE)
        assert refused.status_code == 503
        assert "cannot register more clients" in refused.json()["error_description"]
        assert len(cognito_clients(stack)) == 3


def test_cognito_quota_reached_is_503_not_500(tmp_path: Path) -> None:
    with local_stack(tmp_path, client_policy="dedicated", client_quota=2) as stack:
        for _ in range(2):
            assert register(stack, CLAUDE).status_code == 201
        refused = register(stack, CLAUDE)
        assert refused.status_code == 503
        assert len(cognito_clients(stack)) == 2


def test_client_ids_never_read_as_command_line_options() -> None:
    """Operators paste them after `authproxy clients show`: letters and digits only."""
    issued = {new_client_id() for _ in range(2000)}
    assert len(issued) == 2000
    assert all(re.fullmatch(r"[A-Za-z0-9]{24}", client_id) for client_id in issued)
