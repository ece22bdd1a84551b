"""POST /oauth2/token and /oauth2/revoke: client authentication, codes, PKCE, refresh, rotation."""

from __future__ import annotations

import base64

import pytest

from devstack.cognito.browser import sign_in
from devstack.cognito.state import CODE_LIFETIME_SECONDS


def refresh(flow, client, refresh_token, auth="basic"):
    return flow.token(client, {"grant_type": "refresh_token", "refresh_token": refresh_token}, auth)


def revoke(flow, client, token, auth=True):
    credentials = (client["ClientId"], client["ClientSecret"]) if auth else None
    data = {"token": token} if auth else {"token": token, "client_id": client["ClientId"]}
    return flow.http.post(f"{flow.pool.domain}/oauth2/revoke", data=data, auth=credentials)


def assert_error(response, error, status=400):
    assert response.status_code == status, response.text
    assert response.json()["error"] == error


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_code_exchange_with_either_client_authentication(flow, auth):
    client = flow.client()
    code, verifier = flow.code(client)
    response = flow.exchange(client, code, verifier, auth=auth)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "id_token", "refresh_token", "expires_in", "token_type"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["access-control-allow-origin"] == "*"


def test_confidential_client_without_its_secret_is_invalid_client(flow):
    client = flow.client()
    code, verifier = flow.code(client)
    assert_error(flow.exchange(client, code, verifier, auth="none"), "invalid_client")


def test_wrong_secret_is_invalid_client(flow):
    client = flow.client()
    code, verifier = flow.code(client)
    wrong = client | {"ClientSecret": "x" * 51}
    assert_error(flow.exchange(wrong, code, verifier), "invalid_client")
    assert_error(flow.exchange(wrong, code, verifier, auth="post"), "invalid_client")


def test_unknown_client_is_invalid_client(flow):
    client = {"ClientId": "nosuchclient", "ClientSecret": "x" * 51}
    assert_error(flow.exchange(client, "code", "v" * 43), "invalid_client")


def test_malformed_basic_credentials_are_invalid_client(flow):
    response = flow.http.post(
        f"{flow.pool.domain}/oauth2/token",
        data={"grant_type": "authorization_code", "code": "c"},
        headers={"Authorization": "Basic !!!"},
    )
    assert_error(response, "invalid_client")


def test_basic_and_post_secrets_together_are_invalid_request(flow):
    client = flow.client()
    code, verifier = flow.code(client)
    response = flow.exchange(client, code, verifier, client_secret=client["ClientSecret"])
    assert_error(response, "invalid_request")


def test_client_id_in_body_must_match_basic(flow):
    client, other = flow.client(), flow.client()
    code, verifier = flow.code(client)
    response = flow.exchange(client, code, verifier, client_id=other["ClientId"])
    assert_error(response, "invalid_client")


def test_client_id_in_body_matching_basic_is_fine(flow):
    client = flow.client()
    code, verifier = flow.code(client)
    response = flow.exchange(client, code, verifier, client_id=client["ClientId"])
    assert response.status_code == 200


def test_public_client_sends_only_its_id(flow):
    client = flow.client(GenerateSecret=False)
    code, verifier = flow.code(client)
    assert flow.exchange(client, code, verifier, auth="none").status_code == 200


def test_public_client_presenting_a_secret_is_invalid_client(flow):
    client = flow.client(GenerateSecret=False)
    code, verifier = flow.code(client)
    response = flow.exchange(client | {"ClientSecret": "x" * 51}, code, verifier)
    assert_error(response, "invalid_client")


def test_wrong_code_verifier_is_invalid_grant(flow):
    client = flow.client()
    code, _ = flow.code(client)
    other_verifier, _ = flow.pkce()
    assert_error(flow.exchange(client, code, other_verifier), "invalid_grant")


def test_missing_code_verifier_is_invalid_request(flow):
    client = flow.client()
    code, _ = flow.code(client)
    assert_error(flow.exchange(client, code, None), "invalid_request")


def code_without_pkce(flow, client):
    response = sign_in(flow.http, flow.authorize_url(client), "demo", flow.PASSWORD)
    return flow.query(response.headers["location"])["code"]


def test_code_without_challenge_needs_no_verifier(flow):
    client = flow.client()
    assert flow.exchange(client, code_without_pkce(flow, client), None).status_code == 200


def test_verifier_for_a_code_without_challenge_is_invalid_grant(flow):
    client = flow.client()
    verifier, _ = flow.pkce()
    response = flow.exchange(client, code_without_pkce(flow, client), verifier)
    assert_error(response, "invalid_grant")


def test_code_is_single_use(flow):
    client = flow.client()
    code, verifier = flow.code(client)
    assert flow.exchange(client, code, verifier).status_code == 200
    assert_error(flow.exchange(client, code, verifier), "invalid_grant")


def test_failed_exchange_consumes_the_code(flow):
    client = flow.client()
    code, verifier = flow.code(client)
    assert_error(flow.exchange(client, code, "wrong" * 10), "invalid_grant")
    assert_error(flow.exchange(client, code, verifier), "invalid_grant")


def test_code_expires_after_five_minutes(flow, clock):
    client = flow.client()
    code, verifier = flow.code(client)
    clock.advance(CODE_LIFETIME_SECONDS + 1)
    assert_error(flow.exchange(client, code, verifier), "invalid_grant")


def test_code_just_within_five_minutes_works(flow, clock):
    client = flow.client()
    code, verifier = flow.code(client)
    clock.advance(CODE_LIFETIME_SECONDS - 1)
    assert flow.exchange(client, code, verifier).status_code == 200


def test_code_of_another_client_is_invalid_grant(flow):
    client, other = flow.client(), flow.client()
    code, verifier = flow.code(client)
    assert_error(flow.exchange(other, code, verifier), "invalid_grant")


@pytest.mark.parametrize(
    "redirect_uri", ["http://127.0.0.1:8000/callback/", "http://127.0.0.1:8000/other", None]
)
def test_redirect_uri_must_be_identical(flow, redirect_uri):
    client = flow.client(CallbackURLs=[flow.CALLBACK, "http://127.0.0.1:8000/other"])
    code, verifier = flow.code(client)
    response = flow.exchange(client, code, verifier, redirect_uri=redirect_uri)
    assert_error(response, "unauthorized_client")


def test_missing_grant_type_is_invalid_request(flow):
    client = flow.client()
    assert_error(flow.token(client, {"code": "c"}), "invalid_request")


@pytest.mark.parametrize("grant_type", ["password", "client_credentials", "implicit"])
def test_other_grant_types_are_unsupported(flow, grant_type):
    client = flow.client()
    assert_error(flow.token(client, {"grant_type": grant_type}), "unsupported_grant_type")


def test_repeated_parameter_is_invalid_request(flow):
    client = flow.client()
    response = flow.http.post(
        f"{flow.pool.domain}/oauth2/token",
        content="grant_type=refresh_token&grant_type=refresh_token",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(client["ClientId"], client["ClientSecret"]),
    )
    assert_error(response, "invalid_request")


def test_json_body_is_invalid_request(flow):
    client = flow.client()
    response = flow.http.post(
        f"{flow.pool.domain}/oauth2/token",
        json={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=(client["ClientId"], client["ClientSecret"]),
    )
    assert_error(response, "invalid_request")


def test_resource_at_token_without_binding_is_invalid_request(flow):
    client = flow.client()
    code, verifier = flow.code(client)
    response = flow.exchange(client, code, verifier, resource=flow.MCP)
    assert_error(response, "invalid_request")


def test_refresh_without_rotation_keeps_the_refresh_token(flow):
    client = flow.client()
    tokens = flow.tokens(client)
    first = refresh(flow, client, tokens["refresh_token"])
    assert first.status_code == 200
    assert set(first.json()) == {"access_token", "id_token", "expires_in", "token_type"}
    assert first.json()["access_token"] != tokens["access_token"]
    assert refresh(flow, client, tokens["refresh_token"]).status_code == 200


def test_refresh_with_rotation_replaces_the_token_after_the_grace_period(flow, clock):
    client = flow.client(RefreshTokenRotation={"Feature": "ENABLED", "RetryGracePeriodSeconds": 30})
    old = flow.tokens(client)["refresh_token"]
    rotated = refresh(flow, client, old)
    assert rotated.status_code == 200
    new = rotated.json()["refresh_token"]
    assert new != old
    clock.advance(10)
    assert refresh(flow, client, old).status_code == 200  # a retry within the grace period
    clock.advance(21)
    assert_error(refresh(flow, client, old), "invalid_grant")
    assert refresh(flow, client, new).status_code == 200


def test_rotation_without_grace_period_retires_the_token_at_once(flow):
    client = flow.client(RefreshTokenRotation={"Feature": "ENABLED", "RetryGracePeriodSeconds": 0})
    old = flow.tokens(client)["refresh_token"]
    assert refresh(flow, client, old).status_code == 200
    assert_error(refresh(flow, client, old), "invalid_grant")


def test_refresh_token_of_another_client_is_invalid_grant(flow):
    client, other = flow.client(), flow.client()
    token = flow.tokens(client)["refresh_token"]
    assert_error(refresh(flow, other, token), "invalid_grant")


def test_refresh_token_expires_with_the_client_setting(flow, clock):
    client = flow.client(RefreshTokenValidity=60, TokenValidityUnits={"RefreshToken": "minutes"})
    token = flow.tokens(client)["refresh_token"]
    clock.advance(3600)
    assert_error(refresh(flow, client, token), "invalid_grant")


def test_refresh_for_a_disabled_user_is_invalid_grant(flow):
    client = flow.client()
    token = flow.tokens(client, username="plain")["refresh_token"]
    flow.idp.admin_disable_user(UserPoolId=flow.pool.pool_id, Username="plain")
    try:
        assert_error(refresh(flow, client, token), "invalid_grant")
    finally:
        flow.idp.admin_enable_user(UserPoolId=flow.pool.pool_id, Username="plain")


def test_unknown_refresh_token_is_invalid_grant(flow):
    assert_error(refresh(flow, flow.client(), "not-a-token"), "invalid_grant")


def test_revoke_then_refresh_is_invalid_grant(flow):
    client = flow.client()
    token = flow.tokens(client)["refresh_token"]
    response = revoke(flow, client, token)
    assert response.status_code == 200
    assert response.content == b""
    assert_error(refresh(flow, client, token), "invalid_grant")


def test_revoking_covers_rotated_successors(flow):
    client = flow.client(RefreshTokenRotation={"Feature": "ENABLED", "RetryGracePeriodSeconds": 0})
    first = flow.tokens(client)["refresh_token"]
    second = refresh(flow, client, first).json()["refresh_token"]
    assert revoke(flow, client, first).status_code == 200
    assert_error(refresh(flow, client, second), "invalid_grant")


def test_revoking_an_unknown_token_succeeds(flow):
    response = revoke(flow, flow.client(), "not-a-token")
    assert response.status_code == 200
    assert response.content == b""


def test_revoking_another_clients_token_does_nothing(flow):
    client, other = flow.client(), flow.client()
    token = flow.tokens(client)["refresh_token"]
    assert revoke(flow, other, token).status_code == 200
    assert refresh(flow, client, token).status_code == 200


def test_revoking_an_access_token_is_unsupported_token_type(flow):
    client = flow.client()
    access_token = flow.tokens(client)["access_token"]
    assert_error(revoke(flow, client, access_token), "unsupported_token_type")


def test_revoke_without_client_secret_is_401_invalid_client(flow):
    client = flow.client()
    token = flow.tokens(client)["refresh_token"]
    assert_error(revoke(flow, client, token, auth=False), "invalid_client", status=401)
    assert refresh(flow, client, token).status_code == 200


def test_revoke_without_token_is_invalid_request(flow):
    client = flow.client()
    credentials = base64.b64encode(f"{client['ClientId']}:{client['ClientSecret']}".encode())
    response = flow.http.post(
        f"{flow.pool.domain}/oauth2/revoke",
        data={},
        headers={"Authorization": f"Basic {credentials.decode()}"},
    )
    assert_error(response, "invalid_request")


def test_revoke_with_revocation_disabled_is_invalid_request(flow):
    client = flow.client(EnableTokenRevocation=False)
    token = flow.tokens(client)["refresh_token"]
    assert_error(revoke(flow, client, token), "invalid_request")
