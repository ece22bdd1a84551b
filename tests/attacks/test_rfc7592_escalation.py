"""Escalation through the client configuration endpoint (RFC 7592 §2, §5 security
considerations): a registration access token is good for its own record only, and an update can
neither mint a secret nor bring in a redirect URI registration would refuse."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support.stack import Stack

REDIRECT = "http://localhost:8403/cb"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register(stack: Stack, method: str = "none") -> dict[str, Any]:
    return stack.register(
        client_name="rfc7592 target", redirect_uris=[REDIRECT], token_endpoint_auth_method=method
    )


def update_body(client: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {
        "client_id": client["client_id"],
        "client_name": client["client_name"],
        "redirect_uris": client["redirect_uris"],
        "token_endpoint_auth_method": client["token_endpoint_auth_method"],
        "grant_types": client["grant_types"],
        "response_types": client["response_types"],
    }
    body.update(changes)
    return body


def current(stack: Stack, client: dict[str, Any], token: str) -> tuple[dict[str, Any], str]:
    """The record as stored now, and the registration access token that replaced ``token``."""
    read = httpx.get(client["registration_client_uri"], headers=bearer(token))
    assert read.status_code == 200, read.text
    body = read.json()
    return body, body["registration_access_token"]


def test_rfc7592_5_one_clients_token_opens_no_other_record(dev: Stack) -> None:
    mine, theirs = register(dev), register(dev)
    uri = theirs["registration_client_uri"]
    token = mine["registration_access_token"]
    assert httpx.get(uri, headers=bearer(token)).status_code == 401
    put = httpx.put(
        uri,
        json=update_body(theirs, redirect_uris=["https://evil.example/cb"]),
        headers=bearer(token),
    )
    assert put.status_code == 401
    assert httpx.delete(uri, headers=bearer(token)).status_code == 401
    # Their record is untouched and theirs to manage.
    body, _ = current(dev, theirs, theirs["registration_access_token"])
    assert body["redirect_uris"] == [REDIRECT]


def test_rfc7592_5_a_record_cannot_be_rewritten_to_another_client_id(dev: Stack) -> None:
    mine, theirs = register(dev), register(dev)
    response = httpx.put(
        mine["registration_client_uri"],
        json=update_body(mine, client_id=theirs["client_id"]),
        headers=bearer(mine["registration_access_token"]),
    )
    assert response.status_code == 400
    body, _ = current(dev, theirs, theirs["registration_access_token"])
    assert body["client_name"] == "rfc7592 target"


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_rfc7592_5_a_public_client_cannot_update_itself_into_a_secret(
    dev: Stack, method: str
) -> None:
    client = register(dev)
    response = httpx.put(
        client["registration_client_uri"],
        json=update_body(client, token_endpoint_auth_method=method),
        headers=bearer(client["registration_access_token"]),
    )
    assert response.status_code == 400
    assert "client_secret" not in response.text


def test_rfc7592_5_a_client_cannot_choose_its_own_secret(dev: Stack) -> None:
    confidential = register(dev, "client_secret_post")
    response = httpx.put(
        confidential["registration_client_uri"],
        json=update_body(confidential, client_secret="attacker-chosen-secret"),
        headers=bearer(confidential["registration_access_token"]),
    )
    assert response.status_code == 400
    # The original secret still authenticates; the chosen one does not.
    for secret, status in ((confidential["client_secret"], 400), ("attacker-chosen-secret", 401)):
        token = httpx.post(
            f"{dev.issuer}/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": "x",
                "client_id": confidential["client_id"],
                "client_secret": secret,
            },
        )
        assert token.status_code == status, token.text


def test_rfc7592_5_a_confidential_client_cannot_drop_its_secret(dev: Stack) -> None:
    confidential = register(dev, "client_secret_basic")
    response = httpx.put(
        confidential["registration_client_uri"],
        json=update_body(confidential, token_endpoint_auth_method="none"),
        headers=bearer(confidential["registration_access_token"]),
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example@app.example/cb",
        "javascript:alert(1)",
        "data:text/html,x",
        "http://evil.example/cb",
        "https://evil.example\\.app.example/cb",
        "https://app.example/cb#frag",
    ],
)
def test_rfc7592_5_put_cannot_inject_a_redirect_uri_registration_refuses(
    dev: Stack, redirect_uri: str
) -> None:
    client = register(dev)
    token = client["registration_access_token"]
    response = httpx.put(
        client["registration_client_uri"],
        json=update_body(client, redirect_uris=[REDIRECT, redirect_uri]),
        headers=bearer(token),
    )
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_redirect_uri", "invalid_client_metadata")
    body, _ = current(dev, client, token)
    assert body["redirect_uris"] == [REDIRECT]


def test_rfc7592_5_a_deleted_registration_cannot_be_revived_by_update(dev: Stack) -> None:
    """A deleted registration's token opens nothing, and its record does not come back."""
    client = register(dev)
    token = client["registration_access_token"]
    assert httpx.delete(client["registration_client_uri"], headers=bearer(token)).status_code == 204
    put = httpx.put(
        client["registration_client_uri"], json=update_body(client), headers=bearer(token)
    )
    assert put.status_code == 401
    assert httpx.get(client["registration_client_uri"], headers=bearer(token)).status_code == 401


def test_rfc7592_5_old_registration_tokens_are_spent(dev: Stack) -> None:
    """Every response issues a new registration access token (§3); a leaked older one is
    useless afterwards."""
    client = register(dev)
    leaked = client["registration_access_token"]
    _, fresh = current(dev, client, leaked)
    response = httpx.put(
        client["registration_client_uri"],
        json=update_body(client, client_name="hijacked"),
        headers=bearer(leaked),
    )
    assert response.status_code == 401
    body, _ = current(dev, client, fresh)
    assert body["client_name"] == "rfc7592 target"
