"""Refresh-token reuse (RFC 9700 §4.14; RFC 6749 §10.4; RFC 7009): a wrapped refresh token stops
working once rotated out, revoked, or its registration deleted, and never works for another
client."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from authproxy.store import open_store
from support.oauth import obtain_code, token_request
from support.stack import Stack, local_stack

REDIRECT = "http://localhost:8402/cb"
# The façade creates backing clients with RetryGracePeriodSeconds=30 (authproxy.cognito_admin).
ROTATION_GRACE = 30


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """In this process, so the stand-in's clock can be moved past the rotation grace period."""
    with local_stack(tmp_path_factory.mktemp("refresh")) as running:
        yield running


def new_client(stack: Stack, method: str = "client_secret_post") -> dict:
    return stack.register(
        client_name="refresh reuse", redirect_uris=[REDIRECT], token_endpoint_auth_method=method
    )


def tokens_for(stack: Stack, client: dict) -> dict:
    code, verifier, _ = obtain_code(stack, client)
    response = token_request(
        stack.issuer,
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT,
        },
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def refresh(stack: Stack, client: dict, refresh_token: str) -> httpx.Response:
    return token_request(
        stack.issuer, client, {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


def assert_no_tokens(response: httpx.Response, error: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert "access_token" not in response.json()


def test_rfc9700_4_14_refresh_token_reused_after_rotation_is_refused(stack: Stack) -> None:
    client = new_client(stack)
    first = tokens_for(stack, client)["refresh_token"]
    rotated = refresh(stack, client, first)
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["refresh_token"]
    assert second != first
    assert stack.standin is not None
    # Past Cognito's retry grace period, the rotated-out token is dead; its successor lives.
    stack.standin.state.clock = lambda: time.time() + ROTATION_GRACE + 5
    try:
        assert_no_tokens(refresh(stack, client, first), "invalid_grant")
        assert refresh(stack, client, second).status_code == 200
    finally:
        stack.standin.state.clock = time.time


def test_rfc9700_4_14_refresh_token_reused_after_revocation_is_refused(stack: Stack) -> None:
    client = new_client(stack)
    refresh_token = tokens_for(stack, client)["refresh_token"]
    revoked = httpx.post(
        f"{stack.issuer}/revoke",
        data={
            "token": refresh_token,
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    )
    assert revoked.status_code == 200
    assert_no_tokens(refresh(stack, client, refresh_token), "invalid_grant")


def test_rfc9700_4_14_revocation_by_another_client_does_nothing(stack: Stack) -> None:
    """RFC 7009 §2.1: the server checks the token was issued to the client revoking it and
    refuses the request otherwise; a stranger cannot revoke it (denial of service)."""
    victim, stranger = new_client(stack), new_client(stack)
    refresh_token = tokens_for(stack, victim)["refresh_token"]
    response = httpx.post(
        f"{stack.issuer}/revoke",
        data={
            "token": refresh_token,
            "client_id": stranger["client_id"],
            "client_secret": stranger["client_secret"],
        },
    )
    assert_no_tokens(response, "invalid_grant")
    assert refresh(stack, victim, refresh_token).status_code == 200


def test_rfc9700_4_14_refresh_token_reused_after_registration_deletion_is_refused(
    stack: Stack,
) -> None:
    client = new_client(stack)
    refresh_token = tokens_for(stack, client)["refresh_token"]
    deleted = httpx.delete(
        client["registration_client_uri"],
        headers={"Authorization": f"Bearer {client['registration_access_token']}"},
    )
    assert deleted.status_code == 204
    assert_no_tokens(refresh(stack, client, refresh_token), "invalid_client", 401)
    # Registering again gets a new identity, which the old token does not belong to.
    again = new_client(stack)
    assert_no_tokens(refresh(stack, again, refresh_token), "invalid_grant")


def test_rfc9700_4_14_refresh_token_used_by_another_client_is_refused(stack: Stack) -> None:
    owner, thief = new_client(stack), new_client(stack)
    refresh_token = tokens_for(stack, owner)["refresh_token"]
    assert_no_tokens(refresh(stack, thief, refresh_token), "invalid_grant")
    public_thief = new_client(stack, "none")
    assert_no_tokens(refresh(stack, public_thief, refresh_token), "invalid_grant")
    # The owner's token survived the attempts.
    assert refresh(stack, owner, refresh_token).status_code == 200


def test_rfc9700_4_14_refresh_token_of_a_public_client_is_bound_to_it(stack: Stack) -> None:
    """A public client's refresh token is not sender-constrained by a secret, so the binding to
    its registration is all there is: another public client naming the owner's id is the owner
    (RFC 9700 §4.14.2 accepts that), but naming its own id gets nothing."""
    owner, other = new_client(stack, "none"), new_client(stack, "none")
    refresh_token = tokens_for(stack, owner)["refresh_token"]
    assert_no_tokens(refresh(stack, other, refresh_token), "invalid_grant")


def test_rfc9700_4_14_an_operator_revocation_stops_the_next_refresh(stack: Stack) -> None:
    """The façade reads a SQLite registration on its event loop, through a read connection of
    its own: a revocation written by another connection (an operator's ``authproxy clients
    revoke``) is what the very next refresh reads, however warm the path is."""
    client = new_client(stack)
    rotated = refresh(stack, client, tokens_for(stack, client)["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    operator = open_store(stack["AUTHPROXY_STORE"], create=False)
    try:
        assert operator.set_status(client["client_id"], "revoked") is not None
    finally:
        operator.close()
    assert_no_tokens(refresh(stack, client, rotated.json()["refresh_token"]), "invalid_client", 401)
