"""The Cognito admin adapter: names Cognito accepts, and refresh-token rotation only where the
pool (or the runtime's botocore) offers it."""

import boto3
import pytest
from botocore.stub import Stubber

from authproxy.cognito_admin import CognitoAdmin, CognitoAdminError, backing_client_name

POOL = "us-east-1_Example1"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("claudeai", "authproxy-0123456789-claudeai"),
        ("Claude (Desktop)", "authproxy-0123456789-Claude Desktop"),
        ("ünïcode ✓ tool", "authproxy-0123456789-n code tool"),
        ("", "authproxy-0123456789-client"),
        ("x" * 300, "authproxy-0123456789-" + "x" * 107),
    ],
)
def test_backing_client_names_fit_cognitos_pattern(name: str, expected: str) -> None:
    assert backing_client_name("0123456789", name) == expected


def created() -> dict:
    return {"UserPoolClient": {"ClientId": "c1", "ClientSecret": "s" * 40, "UserPoolId": POOL}}


def test_rotation_falls_back_when_the_pool_refuses_it() -> None:
    idp = boto3.client("cognito-idp", region_name="us-east-1")
    admin = CognitoAdmin(POOL, "us-east-1", client=idp)
    with Stubber(idp) as stub:
        stub.add_client_error(
            "create_user_pool_client",
            service_error_code="FeatureUnavailableInTierException",
            service_message="Refresh token rotation is not available in this tier",
        )
        stub.add_response("create_user_pool_client", created())
        stub.add_response("create_user_pool_client", created())
        first = admin.create_client(
            owner="0123456789",
            name="a",
            callback_url="https://x/callback",
            scopes=["openid"],
            identity_providers=["COGNITO"],
        )
        assert first.rotation is False
        # Remembered: the next creation does not try rotation again.
        second = admin.create_client(
            owner="0123456789",
            name="b",
            callback_url="https://x/callback",
            scopes=["openid"],
            identity_providers=["COGNITO"],
        )
        assert second.rotation is False
        stub.assert_no_pending_responses()


def test_other_errors_are_not_mistaken_for_missing_rotation() -> None:
    idp = boto3.client("cognito-idp", region_name="us-east-1")
    admin = CognitoAdmin(POOL, "us-east-1", client=idp)
    with Stubber(idp) as stub:
        stub.add_client_error(
            "create_user_pool_client",
            service_error_code="InvalidParameterException",
            service_message="CallbackURLs must be absolute",
        )
        with pytest.raises(CognitoAdminError) as caught:
            admin.create_client(
                owner="0123456789",
                name="a",
                callback_url="x",
                scopes=["openid"],
                identity_providers=["COGNITO"],
            )
    assert caught.value.operation == "CreateUserPoolClient"
    assert caught.value.code == "InvalidParameterException"


def test_a_botocore_without_the_parameter_is_reported_by_name() -> None:
    idp = boto3.client("cognito-idp", region_name="us-east-1")
    admin = CognitoAdmin(POOL, "us-east-1", client=idp)
    with pytest.raises(CognitoAdminError) as caught:
        admin._call("CreateUserPoolClient", ClientName="a", NotAParameter=True)
    assert caught.value.code == "ParamValidationError"
