"""GET /oauth2/authorize: error page before the redirect URI is trusted, redirects after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.cognito import CognitoStandIn
from devstack.cognito.browser import sign_in


def authorize(flow, client, **params):
    return flow.http.get(flow.authorize_url(client, **params), follow_redirects=False)


def assert_error_page(flow, response, error):
    assert response.status_code == 302
    location = response.headers["location"]
    assert not location.startswith(flow.CALLBACK)
    page = flow.http.get(f"{flow.pool.domain}{location}")
    assert page.status_code == 400
    assert "An error was encountered" in page.text
    assert flow.query(location)["error"] == error


def assert_redirected_error(flow, response, error, description=None):
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(flow.CALLBACK + "?")
    params = flow.query(location)
    assert params["error"] == error
    assert params["state"] == "the-state"
    if description is not None:
        assert params["error_description"] == description
    assert "code" not in params


def test_unknown_client_gets_the_error_page(flow):
    response = authorize(flow, {"ClientId": "nosuchclient"})
    assert_error_page(flow, response, "invalid_request")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:8000/callback/",
        "http://127.0.0.1:8001/callback",
        "http://localhost:8000/callback",
        "https://evil.example/callback",
    ],
    ids=["trailing-slash", "other-port", "other-host", "foreign"],
)
def test_unregistered_redirect_uri_gets_the_error_page_not_a_redirect(flow, redirect_uri):
    response = authorize(flow, flow.client(), redirect_uri=redirect_uri)
    assert_error_page(flow, response, "redirect_mismatch")


def test_missing_redirect_uri_gets_the_error_page(flow):
    response = authorize(flow, flow.client(), redirect_uri=None)
    assert_error_page(flow, response, "redirect_mismatch")


def test_pool_without_domain_gets_the_error_page(flow):
    bare_pool = flow.idp.create_user_pool(PoolName="no-domain")["UserPool"]["Id"]
    client = flow.idp.create_user_pool_client(
        UserPoolId=bare_pool,
        ClientName="c",
        AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid"],
        CallbackURLs=[flow.CALLBACK],
        SupportedIdentityProviders=["COGNITO"],
    )["UserPoolClient"]
    assert_error_page(flow, authorize(flow, client), "invalid_request")


def test_valid_request_goes_to_login_with_the_same_query(flow):
    client = flow.client()
    url = flow.authorize_url(client, scope="openid", lang="fr")
    response = flow.http.get(url, follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/login?" + url.split("?", 1)[1]


def test_missing_response_type_is_redirected_invalid_request(flow):
    response = authorize(flow, flow.client(), response_type=None)
    assert_redirected_error(flow, response, "invalid_request")


def test_implicit_response_type_is_unsupported(flow):
    response = authorize(flow, flow.client(), response_type="token")
    assert_redirected_error(flow, response, "unsupported_response_type")


@pytest.mark.parametrize(
    "params",
    [
        {"code_challenge": "x" * 43, "code_challenge_method": "plain"},
        {"code_challenge": "x" * 43},
        {"code_challenge_method": "S256"},
        {"code_challenge": "too-short", "code_challenge_method": "S256"},
    ],
    ids=["plain", "no-method", "no-challenge", "malformed"],
)
def test_pkce_other_than_s256_is_redirected_invalid_request(flow, params):
    response = authorize(flow, flow.client(), **params)
    assert_redirected_error(flow, response, "invalid_request")


def test_scope_not_allowed_for_client_is_redirected_invalid_scope(flow):
    response = authorize(flow, flow.client(), scope="openid phone")
    assert_redirected_error(flow, response, "invalid_request", "invalid_scope")


def test_offline_access_is_refused(flow):
    response = authorize(flow, flow.client(), scope="openid offline_access")
    assert_redirected_error(flow, response, "invalid_request", "invalid_scope")


def test_repeated_parameter_is_redirected_invalid_request(flow):
    client = flow.client()
    url = flow.authorize_url(client) + "&scope=openid&scope=email"
    assert_redirected_error(flow, flow.http.get(url, follow_redirects=False), "invalid_request")


def test_client_without_code_flow_is_unauthorized(flow):
    client = flow.client(
        AllowedOAuthFlows=["client_credentials"], AllowedOAuthScopes=[f"{flow.MCP}/read"]
    )
    assert_redirected_error(flow, authorize(flow, client), "unauthorized_client")


def test_client_without_identity_provider_is_unauthorized(flow):
    client = flow.client(SupportedIdentityProviders=[])
    assert_redirected_error(flow, authorize(flow, client), "unauthorized_client")


def test_identity_provider_cognito_goes_to_login(flow):
    response = authorize(flow, flow.client(), identity_provider="COGNITO")
    assert response.headers["location"].startswith("/login?")


def test_identity_provider_not_enabled_for_client_is_refused(flow):
    response = authorize(flow, flow.client(), identity_provider="Google")
    assert_redirected_error(flow, response, "invalid_request")


def test_unknown_prompt_is_refused(flow):
    response = authorize(flow, flow.client(), prompt="sometimes")
    assert_redirected_error(flow, response, "invalid_request")


def test_prompt_none_without_session_is_login_required(flow):
    response = authorize(flow, flow.client(), prompt="none")
    assert_redirected_error(flow, response, "login_required")


def test_session_signs_in_again_without_the_form_and_prompt_login_forces_it(flow):
    client = flow.client()
    flow.code(client)
    silent = authorize(flow, client, prompt="none")
    assert "code" in flow.query(silent.headers["location"])
    assert "code" in flow.query(authorize(flow, client).headers["location"])
    forced = authorize(flow, client, prompt="login")
    assert forced.headers["location"].startswith("/login?")


def test_session_does_not_carry_to_another_pool(flow, standin, make_flow):
    flow.code(flow.client())
    other = make_flow(standin)
    response = authorize(other, other.client(), prompt="none")
    assert_redirected_error(other, response, "login_required")


def test_resource_is_refused_without_resource_binding(flow):
    response = authorize(flow, flow.client(), resource=flow.MCP)
    assert_redirected_error(flow, response, "invalid_request")


@pytest.fixture(scope="module")
def binding() -> Iterator[CognitoStandIn]:
    with CognitoStandIn(resource_binding=True) as running:
        yield running


def test_resource_server_identifier_is_accepted_with_binding(binding, make_flow):
    bound = make_flow(binding)
    response = sign_in(
        bound.http,
        bound.authorize_url(bound.client(), resource=bound.MCP),
        "demo",
        bound.PASSWORD,
    )
    assert "code" in bound.query(response.headers["location"])


def test_unknown_resource_is_invalid_target_with_binding(binding, make_flow):
    bound = make_flow(binding)
    response = authorize(bound, bound.client(), resource="https://elsewhere.example/mcp")
    assert_redirected_error(bound, response, "invalid_target")


def test_two_resources_are_refused_with_binding(binding, make_flow):
    bound = make_flow(binding)
    url = bound.authorize_url(bound.client(), resource=bound.MCP) + "&resource=https%3A%2F%2Fx"
    assert_redirected_error(bound, bound.http.get(url, follow_redirects=False), "invalid_request")
