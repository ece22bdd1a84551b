"""Tokens are shaped like Cognito's and verify against the issuer's JWKS."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from devstack.cognito import CognitoStandIn

ACCESS_CLAIMS = {
    "sub",
    "iss",
    "version",
    "client_id",
    "origin_jti",
    "event_id",
    "token_use",
    "scope",
    "auth_time",
    "exp",
    "iat",
    "jti",
    "username",
    "cognito:groups",
}


def verified(pool, token):
    """Claims of a token verified with the keys published at the pool's JWKS URL."""
    keys = KeySet.import_key_set(httpx.get(pool.jwks_url).json())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    assert decoded.header["alg"] == "RS256"
    assert decoded.header["kid"] == keys.keys[0].kid
    return decoded.claims


def test_access_token_has_cognitos_claims_and_no_audience(flow):
    client = flow.client()
    claims = verified(flow.pool, flow.tokens(client, scope="openid email")["access_token"])
    assert set(claims) == ACCESS_CLAIMS
    assert claims["iss"] == flow.pool.issuer
    assert claims["client_id"] == client["ClientId"]
    assert claims["token_use"] == "access"
    assert claims["scope"] == "openid email"
    assert claims["username"] == "demo"
    assert claims["cognito:groups"] == ["admins", "staff"]
    assert claims["version"] == 2
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["jti"] != claims["origin_jti"]


def test_id_token_has_client_audience_username_email_and_nonce(flow):
    client = flow.client()
    tokens = flow.tokens(client, nonce="n-0S6_WzA2Mj")
    claims = verified(flow.pool, tokens["id_token"])
    access = verified(flow.pool, tokens["access_token"])
    assert claims["aud"] == client["ClientId"]
    assert claims["token_use"] == "id"
    assert claims["cognito:username"] == "demo"
    assert claims["email"] == "demo@example.com"
    assert claims["email_verified"] is True
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["sub"] == access["sub"]
    assert claims["origin_jti"] == access["origin_jti"]
    assert claims["event_id"] == access["event_id"]
    assert "at_hash" in claims


def test_id_token_without_nonce_has_none(flow):
    claims = verified(flow.pool, flow.tokens(flow.client())["id_token"])
    assert "nonce" not in claims


def test_omitted_scope_grants_every_scope_of_the_client(flow):
    client = flow.client()
    claims = verified(flow.pool, flow.tokens(client)["access_token"])
    assert claims["scope"].split() == client["AllowedOAuthScopes"]


def test_without_openid_there_is_no_id_token(flow):
    client = flow.client()
    tokens = flow.tokens(client, scope=f"{flow.MCP}/read")
    assert "id_token" not in tokens
    assert verified(flow.pool, tokens["access_token"])["scope"] == f"{flow.MCP}/read"


def test_user_without_groups_has_no_groups_claim(flow):
    tokens = flow.tokens(flow.client(), username="plain")
    assert "cognito:groups" not in verified(flow.pool, tokens["access_token"])
    assert "cognito:groups" not in verified(flow.pool, tokens["id_token"])


def test_read_attributes_limit_the_id_token(flow):
    client = flow.client(ReadAttributes=["name"])
    claims = verified(flow.pool, flow.tokens(client)["id_token"])
    assert "email" not in claims


def test_lifetimes_follow_the_app_client(flow):
    client = flow.client(
        AccessTokenValidity=5,
        IdTokenValidity=2,
        TokenValidityUnits={"AccessToken": "minutes", "IdToken": "hours"},
    )
    tokens = flow.tokens(client)
    access = verified(flow.pool, tokens["access_token"])
    identity = verified(flow.pool, tokens["id_token"])
    assert tokens["expires_in"] == 300
    assert access["exp"] - access["iat"] == 300
    assert identity["exp"] - identity["iat"] == 7200


def test_refreshed_tokens_keep_the_sign_in(flow):
    client = flow.client()
    tokens = flow.tokens(client)
    first = verified(flow.pool, tokens["access_token"])
    refreshed = flow.token(
        client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    ).json()
    again = verified(flow.pool, refreshed["access_token"])
    assert again["origin_jti"] == first["origin_jti"]
    assert again["auth_time"] == first["auth_time"]
    assert again["jti"] != first["jti"]


@pytest.fixture(scope="module")
def short_lived() -> Iterator[CognitoStandIn]:
    with CognitoStandIn(token_ttl_override=5) as running:
        yield running


def test_stand_in_wide_override_shortens_access_and_id_tokens(short_lived, make_flow):
    short = make_flow(short_lived)
    tokens = short.tokens(short.client())
    assert tokens["expires_in"] == 5
    for token in (tokens["access_token"], tokens["id_token"]):
        claims = verified(short.pool, token)
        assert claims["exp"] - claims["iat"] == 5


@pytest.fixture(scope="module")
def binding() -> Iterator[CognitoStandIn]:
    with CognitoStandIn(resource_binding=True) as running:
        yield running


def test_bound_resource_becomes_the_audience_and_survives_refresh(binding, make_flow):
    bound = make_flow(binding)
    client = bound.client()
    tokens = bound.tokens(client, resource=bound.MCP)
    assert verified(bound.pool, tokens["access_token"])["aud"] == bound.MCP
    assert verified(bound.pool, tokens["id_token"])["aud"] == client["ClientId"]
    refreshed = bound.token(
        client, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    ).json()
    assert verified(bound.pool, refreshed["access_token"])["aud"] == bound.MCP


def test_binding_without_resource_means_no_audience(binding, make_flow):
    bound = make_flow(binding)
    tokens = bound.tokens(bound.client())
    assert "aud" not in verified(bound.pool, tokens["access_token"])


def test_token_request_may_repeat_the_bound_resource_only(binding, make_flow):
    bound = make_flow(binding)
    client = bound.client()
    for resource, status in ((bound.MCP, 200), ("https://elsewhere.example/mcp", 400)):
        code, verifier = bound.code(client, resource=bound.MCP)
        response = bound.exchange(client, code, verifier, resource=resource)
        assert response.status_code == status
    assert response.json()["error"] == "invalid_target"


def test_session_reuse_keeps_the_original_auth_time(flow, clock):
    client = flow.client()
    first = verified(flow.pool, flow.tokens(client)["access_token"])
    clock.advance(60)
    again = verified(flow.pool, flow.tokens(client)["access_token"])
    assert again["auth_time"] == first["auth_time"]
    assert again["iat"] == first["iat"] + 60
    assert again["origin_jti"] != first["origin_jti"]
