"""A standard OAuth 2.1 client (Authlib's httpx client) against `authproxy dev`: register,
authorize with PKCE through the login and consent pages, exchange the code, refresh, revoke."""

import secrets

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from joserfc import jwt
from joserfc.jwk import KeySet

from support.stack import Stack

REDIRECT_URI = "http://127.0.0.1:53682/callback"


def verify_access_token(stack: Stack, token: str) -> dict:
    keys = KeySet.import_key_set(httpx.get(stack["JWKS_URL"]).json())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": stack["COGNITO_ISSUER"]},
        token_use={"essential": True, "value": "access"},
        exp={"essential": True},
    ).validate(decoded.claims)
    return decoded.claims


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post", "none"])
def test_register_authorize_exchange_refresh_revoke(dev: Stack, auth_method: str) -> None:
    metadata = httpx.get(f"{dev.issuer}/.well-known/oauth-authorization-server").json()
    registered = dev.register(
        client_name=f"authlib {auth_method}",
        redirect_uris=[REDIRECT_URI],
        token_endpoint_auth_method=auth_method,
        grant_types=["authorization_code", "refresh_token"],
    )
    client = OAuth2Client(
        client_id=registered["client_id"],
        client_secret=registered.get("client_secret"),
        token_endpoint_auth_method=auth_method,
        redirect_uri=REDIRECT_URI,
        scope=f"openid {dev.mcp_url}/read",
        code_challenge_method="S256",
    )
    verifier = secrets.token_urlsafe(48)
    url, _state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, resource=dev.mcp_url
    )

    person = dev.person()
    callback = person.sign_in(url)
    assert person.pages_seen == ["consent", "login"]
    assert callback.startswith(REDIRECT_URI)

    token = client.fetch_token(
        metadata["token_endpoint"],
        authorization_response=callback,
        code_verifier=verifier,
        resource=dev.mcp_url,
    )
    claims = verify_access_token(dev, token["access_token"])
    assert claims["username"] == dev["DEMO_USER"]
    assert f"{dev.mcp_url}/read" in claims["scope"].split()
    # What was asked for, then the resource's default scopes (read and write, one approval).
    assert token["scope"] == f"openid {dev.mcp_url}/read {dev.mcp_url}/write"
    assert "id_token" in token

    refreshed = client.refresh_token(metadata["token_endpoint"])
    assert refreshed["access_token"] != token["access_token"]
    verify_access_token(dev, refreshed["access_token"])

    revoked = client.revoke_token(
        metadata["revocation_endpoint"],
        token=refreshed["refresh_token"],
        token_type_hint="refresh_token",
    )
    assert revoked.status_code == 200
    with pytest.raises(OAuthError) as refused:
        client.refresh_token(metadata["token_endpoint"], refresh_token=refreshed["refresh_token"])
    assert refused.value.error == "invalid_grant"


def test_metadata_is_a_valid_rfc8414_document(dev: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # The local stack is plain http on loopback; Authlib's https rule is relaxed for it alone.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    document = httpx.get(f"{dev.issuer}/.well-known/oauth-authorization-server").json()
    AuthorizationServerMetadata(document).validate()
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert "offline_access" not in document["scopes_supported"]
    assert document["authorization_response_iss_parameter_supported"] is True
    assert httpx.get(f"{dev.issuer}/.well-known/openid-configuration").json() == document
