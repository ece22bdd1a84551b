"""The admin API layer holds boto3 calls to Cognito's app-client rules (moto alone accepts them)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from devstack.cognito import CognitoStandIn


def error_code(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return raised.value.response["Error"]["Code"]


def refused(flow: Any, **settings: Any) -> str:
    with pytest.raises(ClientError) as raised:
        flow.client(**settings)
    return error_code(raised)


@pytest.mark.parametrize(
    "name", ["Claude (desktop)", "x" * 129, "caf\u00e9"], ids=["parens", "long", "non-ascii"]
)
def test_client_name_outside_cognito_pattern_is_invalid_parameter(flow, name):
    assert refused(flow, ClientName=name) == "InvalidParameterException"


def test_client_name_inside_pattern_is_accepted(flow):
    created = flow.client(ClientName="Claude Code - mcp+remote=1, v2.0 @ host_1")
    assert created["ClientName"] == "Claude Code - mcp+remote=1, v2.0 @ host_1"


def test_custom_scope_without_resource_server_is_scope_does_not_exist(flow):
    scopes = ["openid", "https://elsewhere.example/mcp/read"]
    assert refused(flow, AllowedOAuthScopes=scopes) == "ScopeDoesNotExistException"


def test_more_than_50_scopes_is_invalid_parameter(flow):
    scopes = [f"{flow.MCP}/s{number}" for number in range(51)]
    assert refused(flow, AllowedOAuthScopes=scopes) == "InvalidParameterException"


def test_more_than_100_callback_urls_is_invalid_parameter(flow):
    urls = [f"https://app.example/callback/{number}" for number in range(101)]
    assert refused(flow, CallbackURLs=urls) == "InvalidParameterException"


def test_100_callback_urls_are_accepted(flow):
    urls = [f"https://app.example/callback/{number}" for number in range(100)]
    assert len(flow.client(CallbackURLs=urls)["CallbackURLs"]) == 100


@pytest.mark.parametrize(
    "url",
    ["http://app.example/callback", "https://app.example/callback#frag", "relative/path", "a b:c"],
    ids=["http-not-loopback", "fragment", "relative", "whitespace"],
)
def test_bad_callback_url_is_invalid_parameter(flow, url):
    assert refused(flow, CallbackURLs=[url]) == "InvalidParameterException"


def test_bad_logout_url_is_invalid_parameter(flow):
    assert refused(flow, LogoutURLs=["http://app.example/bye"]) == "InvalidParameterException"


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:3334/oauth/callback",
        "http://127.0.0.1:33418/callback",
        "http://[::1]:8080/cb",
        "https://claude.ai/api/mcp/auth_callback",
        "cursor://anysphere.cursor-retrieval/oauth/callback",
    ],
)
def test_loopback_https_and_private_scheme_callbacks_are_accepted(flow, url):
    assert flow.client(CallbackURLs=[url])["CallbackURLs"] == [url]


def test_default_redirect_uri_outside_callbacks_is_invalid_parameter(flow):
    refusal = refused(flow, DefaultRedirectURI="https://other.example/cb")
    assert refusal == "InvalidParameterException"


def test_client_credentials_with_code_is_invalid_oauth_flow(flow):
    flows = ["code", "client_credentials"]
    assert refused(flow, AllowedOAuthFlows=flows) == "InvalidOAuthFlowException"


def test_client_credentials_without_secret_is_invalid_oauth_flow(flow):
    refusal = refused(
        flow,
        GenerateSecret=False,
        AllowedOAuthFlows=["client_credentials"],
        AllowedOAuthScopes=[f"{flow.MCP}/read"],
    )
    assert refusal == "InvalidOAuthFlowException"


def test_client_credentials_with_openid_is_invalid_oauth_flow(flow):
    refusal = refused(flow, AllowedOAuthFlows=["client_credentials"], AllowedOAuthScopes=["openid"])
    assert refusal == "InvalidOAuthFlowException"


def test_client_credentials_alone_with_custom_scopes_is_accepted(flow):
    created = flow.client(
        AllowedOAuthFlows=["client_credentials"], AllowedOAuthScopes=[f"{flow.MCP}/read"]
    )
    assert created["AllowedOAuthFlows"] == ["client_credentials"]


def test_unknown_oauth_flow_is_invalid_parameter(flow):
    assert refused(flow, AllowedOAuthFlows=["token"]) == "InvalidParameterException"


def test_flows_without_oauth_enabled_is_invalid_oauth_flow(flow):
    assert refused(flow, AllowedOAuthFlowsUserPoolClient=False) == "InvalidOAuthFlowException"


def test_oauth_enabled_without_flows_is_invalid_oauth_flow(flow):
    assert refused(flow, AllowedOAuthFlows=[]) == "InvalidOAuthFlowException"


def test_code_flow_without_callback_urls_is_invalid_oauth_flow(flow):
    assert refused(flow, CallbackURLs=[]) == "InvalidOAuthFlowException"


def test_client_without_oauth_is_accepted(flow):
    created = flow.client(
        AllowedOAuthFlowsUserPoolClient=False, AllowedOAuthFlows=[], AllowedOAuthScopes=[]
    )
    assert created["AllowedOAuthFlowsUserPoolClient"] is False


def test_unknown_identity_provider_is_invalid_parameter(flow):
    refusal = refused(flow, SupportedIdentityProviders=["COGNITO", "Google"])
    assert refusal == "InvalidParameterException"


@pytest.mark.parametrize(
    "settings",
    [
        {"AccessTokenValidity": 4, "TokenValidityUnits": {"AccessToken": "minutes"}},
        {"IdTokenValidity": 25},
        {"RefreshTokenValidity": 59, "TokenValidityUnits": {"RefreshToken": "minutes"}},
        {"RefreshTokenRotation": {"Feature": "ENABLED", "RetryGracePeriodSeconds": 61}},
    ],
    ids=["access-too-short", "id-too-long", "refresh-too-short", "grace-too-long"],
)
def test_lifetimes_outside_cognito_ranges_are_invalid_parameter(flow, settings):
    assert refused(flow, **settings) == "InvalidParameterException"


def test_generated_secret_is_cognito_shaped_and_described(flow):
    created = flow.client()
    assert re.fullmatch(r"[\w+]{24,64}", created["ClientSecret"])
    described = flow.idp.describe_user_pool_client(
        UserPoolId=flow.pool.pool_id, ClientId=created["ClientId"]
    )["UserPoolClient"]
    assert described["ClientSecret"] == created["ClientSecret"]


def test_public_client_has_no_secret(flow):
    created = flow.client(GenerateSecret=False)
    described = flow.idp.describe_user_pool_client(
        UserPoolId=flow.pool.pool_id, ClientId=created["ClientId"]
    )["UserPoolClient"]
    assert "ClientSecret" not in created
    assert "ClientSecret" not in described


def test_supplied_secret_is_kept(flow):
    secret = "s" * 40
    created = flow.client(GenerateSecret=False, ClientSecret=secret)
    described = flow.idp.describe_user_pool_client(
        UserPoolId=flow.pool.pool_id, ClientId=created["ClientId"]
    )["UserPoolClient"]
    assert created["ClientSecret"] == described["ClientSecret"] == secret


@pytest.mark.parametrize(
    "settings",
    [{"GenerateSecret": True, "ClientSecret": "s" * 40}, {"ClientSecret": "s" * 30 + "-!"}],
    ids=["both", "malformed"],
)
def test_bad_supplied_secret_is_invalid_parameter(flow, settings):
    assert refused(flow, **({"GenerateSecret": False} | settings)) == "InvalidParameterException"


def test_update_resets_omitted_fields_and_keeps_name_and_secret(flow):
    created = flow.client(
        LogoutURLs=["https://app.example/bye"],
        AccessTokenValidity=2,
        RefreshTokenRotation={"Feature": "ENABLED", "RetryGracePeriodSeconds": 10},
    )
    flow.idp.update_user_pool_client(
        UserPoolId=flow.pool.pool_id,
        ClientId=created["ClientId"],
        AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid"],
        CallbackURLs=["https://app.example/new"],
    )
    described = flow.idp.describe_user_pool_client(
        UserPoolId=flow.pool.pool_id, ClientId=created["ClientId"]
    )["UserPoolClient"]
    assert described["ClientName"] == "backing"
    assert described["ClientSecret"] == created["ClientSecret"]
    assert described["CallbackURLs"] == ["https://app.example/new"]
    assert described["AllowedOAuthScopes"] == ["openid"]
    for omitted in ("LogoutURLs", "AccessTokenValidity", "RefreshTokenRotation"):
        assert omitted not in described
    assert described["RefreshTokenValidity"] == 30


def test_invalid_update_is_refused_and_changes_nothing(flow):
    created = flow.client()
    with pytest.raises(ClientError) as raised:
        flow.idp.update_user_pool_client(
            UserPoolId=flow.pool.pool_id,
            ClientId=created["ClientId"],
            AllowedOAuthFlowsUserPoolClient=True,
            AllowedOAuthFlows=["code"],
            AllowedOAuthScopes=["openid"],
            CallbackURLs=["http://app.example/insecure"],
        )
    assert error_code(raised) == "InvalidParameterException"
    described = flow.idp.describe_user_pool_client(
        UserPoolId=flow.pool.pool_id, ClientId=created["ClientId"]
    )["UserPoolClient"]
    assert described["CallbackURLs"] == [flow.CALLBACK]


def test_update_of_unknown_client_is_resource_not_found(flow):
    with pytest.raises(ClientError) as raised:
        flow.idp.update_user_pool_client(UserPoolId=flow.pool.pool_id, ClientId="nosuchclient")
    assert error_code(raised) == "ResourceNotFoundException"


def test_create_in_unknown_pool_is_resource_not_found(flow):
    with pytest.raises(ClientError) as raised:
        flow.idp.create_user_pool_client(UserPoolId="us-east-1_nosuchpool", ClientName="x")
    assert error_code(raised) == "ResourceNotFoundException"


def test_domain_already_in_use_is_invalid_parameter(flow):
    other = flow.idp.create_user_pool(PoolName="other")["UserPool"]["Id"]
    with pytest.raises(ClientError) as raised:
        flow.idp.create_user_pool_domain(UserPoolId=other, Domain=flow.pool.domain_prefix)
    assert error_code(raised) == "InvalidParameterException"


def raw_create_client(standin, body: bytes) -> httpx.Response:
    """CreateUserPoolClient as raw JSON 1.1, the way boto3 would never send it."""
    return httpx.post(
        standin.endpoint,
        content=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSCognitoIdentityProviderService.CreateUserPoolClient",
        },
    )


def test_errors_have_the_aws_json_1_1_shape(standin, pool):
    body = json.dumps({"UserPoolId": pool.pool_id, "ClientName": "bad (name)"}).encode()
    response = raw_create_client(standin, body)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    assert response.headers["x-amzn-errortype"] == "InvalidParameterException"
    assert response.headers["x-amzn-requestid"]
    body = response.json()
    assert body["__type"] == "InvalidParameterException"
    assert "clientName" in body["message"]


def test_malformed_json_is_a_serialization_error(standin):
    response = raw_create_client(standin, b"{not json")
    assert response.status_code == 400
    assert response.json()["__type"] == "SerializationException"


@pytest.fixture(scope="module")
def small_quota() -> Iterator[CognitoStandIn]:
    with CognitoStandIn(client_quota=2) as running:
        yield running


def test_client_quota_is_limit_exceeded(small_quota, make_flow):
    quota_flow = make_flow(small_quota)
    quota_flow.client()
    quota_flow.client()
    with pytest.raises(ClientError) as raised:
        quota_flow.client()
    assert error_code(raised) == "LimitExceededException"
    # Deleting a client frees its place.
    first = quota_flow.idp.list_user_pool_clients(UserPoolId=quota_flow.pool.pool_id)
    quota_flow.idp.delete_user_pool_client(
        UserPoolId=quota_flow.pool.pool_id, ClientId=first["UserPoolClients"][0]["ClientId"]
    )
    assert quota_flow.client()["ClientId"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[1, 2]", "SerializationException"),
        (json.dumps({"UserPoolId": 7, "ClientName": "x"}).encode(), "ResourceNotFoundException"),
        (
            b'{"UserPoolId": "POOL", "ClientName": "x", "CallbackURLs": "x"}',
            "InvalidParameterException",
        ),
        (b'{"UserPoolId": "POOL", "ClientName": 5}', "InvalidParameterException"),
    ],
    ids=["array", "pool-id-number", "urls-string", "name-number"],
)
def test_malformed_raw_requests_get_aws_errors_not_500(standin, pool, body, error):
    response = raw_create_client(standin, body.replace(b"POOL", pool.pool_id.encode()))
    assert response.status_code == 400
    assert response.json()["__type"] == error


def test_app_clients_carry_creation_and_modification_dates(standin, pool):
    idp = standin.cognito_idp()
    created = idp.create_user_pool_client(UserPoolId=pool.pool_id, ClientName="dated")[
        "UserPoolClient"
    ]
    described = idp.describe_user_pool_client(
        UserPoolId=pool.pool_id, ClientId=created["ClientId"]
    )["UserPoolClient"]
    assert described["CreationDate"] == created["CreationDate"]
    idp.update_user_pool_client(
        UserPoolId=pool.pool_id, ClientId=created["ClientId"], ClientName="renamed"
    )
    updated = idp.describe_user_pool_client(UserPoolId=pool.pool_id, ClientId=created["ClientId"])
    assert updated["UserPoolClient"]["CreationDate"] == created["CreationDate"]
    assert updated["UserPoolClient"]["LastModifiedDate"] >= created["CreationDate"]
