"""GET /oauth2/userInfo: openid access tokens only, attributes by scope, revocation honoured."""

from __future__ import annotations

import pytest


def userinfo(flow, token, method="GET"):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return flow.http.request(method, f"{flow.pool.domain}/oauth2/userInfo", headers=headers)


def assert_invalid_token(response):
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('error="invalid_token"')
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_userinfo_returns_the_users_claims(flow, method):
    tokens = flow.tokens(flow.client(), scope="openid email")
    response = userinfo(flow, tokens["access_token"], method)
    attributes = flow.idp.admin_get_user(UserPoolId=flow.pool.pool_id, Username="demo")[
        "UserAttributes"
    ]
    assert response.status_code == 200
    assert response.json() == {
        "sub": next(item["Value"] for item in attributes if item["Name"] == "sub"),
        "email": "demo@example.com",
        "email_verified": "true",
        "username": "demo",
    }


def test_openid_alone_releases_only_the_subject(flow):
    tokens = flow.tokens(flow.client(), scope="openid")
    assert set(userinfo(flow, tokens["access_token"]).json()) == {"sub", "username"}


def test_admin_scope_releases_every_attribute(flow):
    client = flow.client(AllowedOAuthScopes=["openid", "aws.cognito.signin.user.admin"])
    tokens = flow.tokens(client)
    assert userinfo(flow, tokens["access_token"]).json()["email"] == "demo@example.com"


def test_missing_bearer_token_is_invalid_token(flow):
    assert_invalid_token(userinfo(flow, None))


def test_garbage_token_is_invalid_token(flow):
    assert_invalid_token(userinfo(flow, "not.a.jwt"))


def test_access_token_without_openid_is_invalid_token(flow):
    tokens = flow.tokens(flow.client(), scope=f"{flow.MCP}/read")
    assert_invalid_token(userinfo(flow, tokens["access_token"]))


def test_id_token_is_not_an_access_token(flow):
    tokens = flow.tokens(flow.client())
    assert_invalid_token(userinfo(flow, tokens["id_token"]))


def test_expired_access_token_is_invalid_token(flow, clock):
    tokens = flow.tokens(flow.client())
    clock.advance(3600)
    assert_invalid_token(userinfo(flow, tokens["access_token"]))


def test_access_token_of_a_revoked_refresh_token_is_invalid_token(flow):
    client = flow.client()
    tokens = flow.tokens(client)
    assert userinfo(flow, tokens["access_token"]).status_code == 200
    flow.http.post(
        f"{flow.pool.domain}/oauth2/revoke",
        data={"token": tokens["refresh_token"]},
        auth=(client["ClientId"], client["ClientSecret"]),
    )
    assert_invalid_token(userinfo(flow, tokens["access_token"]))


def test_access_token_of_a_deleted_user_is_invalid_token(flow):
    flow.idp.admin_create_user(
        UserPoolId=flow.pool.pool_id, Username="leaving", MessageAction="SUPPRESS"
    )
    flow.idp.admin_set_user_password(
        UserPoolId=flow.pool.pool_id, Username="leaving", Password=flow.PASSWORD, Permanent=True
    )
    tokens = flow.tokens(flow.client(), username="leaving")
    flow.idp.admin_delete_user(UserPoolId=flow.pool.pool_id, Username="leaving")
    assert_invalid_token(userinfo(flow, tokens["access_token"]))
