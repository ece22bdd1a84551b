"""The issuer host: discovery with exactly Cognito's fields, and the JWKS."""

from __future__ import annotations

import httpx

COGNITO_FIELDS = {
    "authorization_endpoint",
    "end_session_endpoint",
    "id_token_signing_alg_values_supported",
    "issuer",
    "jwks_uri",
    "response_types_supported",
    "revocation_endpoint",
    "scopes_supported",
    "subject_types_supported",
    "token_endpoint",
    "token_endpoint_auth_methods_supported",
    "userinfo_endpoint",
}


def test_discovery_has_exactly_cognitos_fields(pool):
    response = httpx.get(f"{pool.issuer}/.well-known/openid-configuration")
    assert response.status_code == 200
    document = response.json()
    assert set(document) == COGNITO_FIELDS
    assert "code_challenge_methods_supported" not in document
    assert "grant_types_supported" not in document
    assert document["issuer"] == pool.issuer
    assert document["jwks_uri"] == pool.jwks_url
    assert document["authorization_endpoint"] == f"{pool.domain}/oauth2/authorize"
    assert document["token_endpoint"] == f"{pool.domain}/oauth2/token"
    assert document["revocation_endpoint"] == f"{pool.domain}/oauth2/revoke"
    assert document["userinfo_endpoint"] == f"{pool.domain}/oauth2/userInfo"
    assert document["end_session_endpoint"] == f"{pool.domain}/logout"
    assert document["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert document["scopes_supported"] == ["openid", "email", "phone", "profile"]


def test_issuer_is_the_admin_endpoint_and_the_pool_id(standin, pool):
    assert pool.issuer == f"{standin.endpoint}/{pool.pool_id}"


def test_pool_without_domain_lists_no_endpoints(standin):
    idp = standin.cognito_idp()
    pool_id = idp.create_user_pool(PoolName="no-domain")["UserPool"]["Id"]
    document = httpx.get(f"{standin.endpoint}/{pool_id}/.well-known/openid-configuration").json()
    assert "authorization_endpoint" not in document
    assert document["issuer"] == f"{standin.endpoint}/{pool_id}"


def test_jwks_publishes_one_rsa_signing_key(pool):
    keys = httpx.get(pool.jwks_url).json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert key["kid"]
    assert "d" not in key


def test_unknown_pool_is_404(standin):
    response = httpx.get(f"{standin.endpoint}/us-east-1_nosuchpool/.well-known/jwks.json")
    assert response.status_code == 404


def test_unknown_document_is_404(pool):
    assert httpx.get(f"{pool.issuer}/.well-known/oauth-authorization-server").status_code == 404
