"""PKCE downgrade and omission (RFC 9700 §4.8, §2.1.1) and authorization code injection and
replay (RFC 9700 §4.5; RFC 6749 §4.1.2, §10.5): a wrapped code is good once, for the client,
redirect URI and PKCE verifier it was issued with, and nothing else."""

from __future__ import annotations

import httpx
import pytest

from support.oauth import authorize_url, obtain_code, pkce, query, token_request
from support.stack import Stack

REDIRECT = "http://localhost:8401/cb"
OTHER_REDIRECT = "http://localhost:8401/other"


@pytest.fixture(scope="module")
def victim(dev: Stack) -> dict:
    return dev.register(
        client_name="code victim",
        redirect_uris=[REDIRECT, OTHER_REDIRECT],
        token_endpoint_auth_method="client_secret_post",
    )


@pytest.fixture(scope="module")
def attacker(dev: Stack) -> dict:
    return dev.register(
        client_name="code attacker",
        redirect_uris=[REDIRECT],
        token_endpoint_auth_method="client_secret_post",
    )


def exchange(
    stack: Stack, client: dict, code: str, verifier: str | None, **extra: str
) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **extra}
    if verifier is not None:
        data["code_verifier"] = verifier
    return token_request(stack.issuer, client, data)


def assert_refused(response: httpx.Response, error: str) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    assert "access_token" not in response.text


@pytest.mark.parametrize(
    "change",
    [
        {"code_challenge_method": "plain"},
        {"code_challenge_method": "PLAIN"},
        {"code_challenge_method": "s256"},
        {"code_challenge_method": None},
        {"code_challenge_method": ""},
        {"code_challenge": None, "code_challenge_method": None},
        {"code_challenge": None},
        {"code_challenge": ""},
    ],
    ids=[
        "plain",
        "plain-upper",
        "s256-lower",
        "no-method",
        "empty-method",
        "omitted",
        "no-challenge",
        "empty-challenge",
    ],
)
def test_rfc9700_4_8_pkce_downgrade_and_omission_are_refused_at_authorize(
    dev: Stack, victim: dict, change: dict
) -> None:
    url = authorize_url(dev.issuer, victim["client_id"], REDIRECT, pkce()[1], **change)
    response = httpx.get(url)
    # The redirect URI is the client's own, so the error goes back to it (RFC 6749 §4.1.2.1).
    assert response.status_code == 302
    answer = query(response.headers["location"])
    assert response.headers["location"].startswith(REDIRECT)
    assert answer["error"] == "invalid_request"
    assert "code" not in answer


def test_rfc9700_4_8_code_without_verifier_is_refused(dev: Stack, victim: dict) -> None:
    code, _, _ = obtain_code(dev, victim)
    assert_refused(exchange(dev, victim, code, None), "invalid_request")


def test_rfc9700_4_8_challenge_sent_as_a_plain_verifier_is_refused(
    dev: Stack, victim: dict
) -> None:
    """The downgrade at the token endpoint: the attacker knows only the challenge (it travelled in
    the front channel) and presents it as if the method had been ``plain``."""
    _, challenge = pkce()
    url = authorize_url(dev.issuer, victim["client_id"], REDIRECT, challenge)
    code = query(dev.person().sign_in(url))["code"]
    assert_refused(exchange(dev, victim, code, challenge), "invalid_grant")


def test_rfc9700_4_5_code_injected_with_another_verifier_is_refused(
    dev: Stack, victim: dict
) -> None:
    """Code injection: a stolen code replayed in the attacker's own session of the same client
    carries the attacker's verifier, not the one the victim's session bound to it."""
    code, _, _ = obtain_code(dev, victim)
    attackers_verifier, _ = pkce()
    assert_refused(exchange(dev, victim, code, attackers_verifier), "invalid_grant")


def test_rfc9700_4_5_code_redeemed_by_another_client_is_refused(
    dev: Stack, victim: dict, attacker: dict
) -> None:
    code, verifier, _ = obtain_code(dev, victim)
    assert_refused(exchange(dev, attacker, code, verifier), "invalid_grant")
    # The victim still redeems its own code: the attempt did not reach Cognito.
    assert exchange(dev, victim, code, verifier).status_code == 200


def test_rfc9700_4_5_code_redeemed_with_another_redirect_uri_is_refused(
    dev: Stack, victim: dict
) -> None:
    code, verifier, _ = obtain_code(dev, victim)
    for other in (OTHER_REDIRECT, "http://localhost:9999/cb", "https://evil.example/cb"):
        assert_refused(exchange(dev, victim, code, verifier, redirect_uri=other), "invalid_grant")


def test_rfc9700_4_5_code_redeemed_twice_is_refused(dev: Stack, victim: dict) -> None:
    code, verifier, _ = obtain_code(dev, victim)
    first = exchange(dev, victim, code, verifier)
    assert first.status_code == 200, first.text
    assert_refused(exchange(dev, victim, code, verifier), "invalid_grant")


def test_rfc9700_4_5_code_of_a_public_client_redeemed_by_a_confidential_one_is_refused(
    dev: Stack, attacker: dict
) -> None:
    public = dev.register(
        client_name="public victim", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )
    code, verifier, _ = obtain_code(dev, public)
    assert_refused(exchange(dev, attacker, code, verifier), "invalid_grant")
    # ... and a confidential client's code cannot be redeemed by naming it without its secret.
    code, verifier, _ = obtain_code(dev, attacker)
    as_public = {**attacker, "token_endpoint_auth_method": "none"}
    refused = exchange(dev, as_public, code, verifier)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


def test_rfc9700_4_5_a_wrapped_code_is_not_a_refresh_token(dev: Stack, victim: dict) -> None:
    """Each sealed value has its own purpose: a code presented as a refresh token is refused."""
    code, _, _ = obtain_code(dev, victim)
    response = token_request(
        dev.issuer, victim, {"grant_type": "refresh_token", "refresh_token": code}
    )
    assert_refused(response, "invalid_grant")
