import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from mcpserver.settings import Settings, SettingsError

BASE = {
    "MCP_URL": "https://mcp.example.com/mcp",
    "ISSUER": "https://mcp.example.com",
    "USER_POOL_ID": "eu-west-1_AbCdEf123",
    "MCP_SESSION_SECRET": "k" * 32,
}


def settings(**changes: str | None) -> Settings:
    env = {**BASE, **changes}
    return Settings.from_env({k: v for k, v in env.items() if v is not None})


def refused_variable(**changes: str | None) -> str:
    with pytest.raises(SettingsError) as refused:
        settings(**changes)
    return refused.value.variable


def test_defaults_follow_from_the_pool_and_the_url() -> None:
    s = settings()
    assert s.region == "eu-west-1"
    assert s.cognito_issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
    assert s.jwks_url == f"{s.cognito_issuer}/.well-known/jwks.json"
    assert s.scopes == ("read", "write")
    assert s.allowed_hosts == ("mcp.example.com",)
    assert s.allowed_origins == ("https://mcp.example.com",)
    assert s.allowed_client_ids is None
    assert s.path == "/mcp"


def test_scope_strings_carry_the_canonical_uri() -> None:
    s = settings()
    assert s.supported_scopes == (
        "https://mcp.example.com/mcp/read",
        "https://mcp.example.com/mcp/write",
    )
    assert s.required_scopes == ("https://mcp.example.com/mcp/read",)
    assert s.destructive_scopes == ("https://mcp.example.com/mcp/write",)


def test_explicit_values_win() -> None:
    s = settings(
        USER_POOL_ID=None,
        COGNITO_ISSUER="http://127.0.0.1:9000/local_pool",
        JWKS_URL="http://127.0.0.1:9000/keys",
        AWS_REGION="us-west-2",
        MCP_SCOPES="use, write, admin",
        MCP_ALLOWED_CLIENT_IDS="a, b",
        MCP_ALLOWED_HOSTS="mcp.example.com,alias.example.com",
        MCP_ALLOWED_ORIGINS="https://app.example.com",
    )
    assert s.cognito_issuer == "http://127.0.0.1:9000/local_pool"
    assert s.jwks_url == "http://127.0.0.1:9000/keys"
    assert s.region == "us-west-2"
    assert s.scopes == ("use", "write", "admin")
    assert s.allowed_client_ids == frozenset({"a", "b"})
    assert s.allowed_hosts == ("mcp.example.com", "alias.example.com")
    assert s.allowed_origins == ("https://app.example.com",)


def test_region_comes_from_a_cognito_issuer_url() -> None:
    s = settings(
        USER_POOL_ID=None,
        COGNITO_ISSUER="https://cognito-idp.ap-south-1.amazonaws.com/ap-south-1_X",
    )
    assert s.region == "ap-south-1"


def test_the_secret_is_not_in_the_repr() -> None:
    assert "k" * 32 not in repr(settings())


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"MCP_URL": None}, "MCP_URL"),
        ({"MCP_URL": "mcp.example.com/mcp"}, "MCP_URL"),
        ({"MCP_URL": "https://mcp.example.com/mcp?x=1"}, "MCP_URL"),
        ({"ISSUER": None}, "ISSUER"),
        ({"USER_POOL_ID": "not-a-pool"}, "USER_POOL_ID"),
        ({"USER_POOL_ID": None, "AWS_REGION": "eu-west-1"}, "COGNITO_ISSUER"),
        ({"USER_POOL_ID": None, "COGNITO_ISSUER": "http://127.0.0.1:9000/p"}, "AWS_REGION"),
        ({"MCP_SESSION_SECRET": None}, "MCP_SESSION_SECRET"),
        ({"MCP_SESSION_SECRET": "short"}, "MCP_SESSION_SECRET"),
        ({"MCP_SESSION_SECRET": f"{'n' * 40},short"}, "MCP_SESSION_SECRET"),
        ({"MCP_SCOPES": "read"}, "MCP_SCOPES"),
        ({"MCP_SCOPES": "write,read"}, "MCP_SCOPES"),
        ({"MCP_SCOPES": "read/all,write"}, "MCP_SCOPES"),
        ({"MCP_LOG_LEVEL": "chatty"}, "MCP_LOG_LEVEL"),
        ({"MCP_JWKS_FILE": "/nonexistent/jwks.json"}, "MCP_JWKS_FILE"),
    ],
)
def test_bad_configuration_names_the_variable(
    changes: dict[str, str | None], variable: str
) -> None:
    assert refused_variable(**changes) == variable


def test_a_jwks_file_must_be_a_key_set(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"kty": "RSA"}))
    assert refused_variable(MCP_JWKS_FILE=str(path)) == "MCP_JWKS_FILE"
    path.write_text(json.dumps({"keys": []}))
    assert settings(MCP_JWKS_FILE=str(path)).jwks_file == str(path)


def test_the_session_secret_takes_the_current_key_then_previous_ones() -> None:
    current, previous = "n" * 40, "o" * 40
    assert settings(MCP_SESSION_SECRET=f"{current},{previous}").session_keys.keys == (
        current,
        previous,
    )


def test_the_session_secret_is_read_from_secrets_manager() -> None:
    with mock_aws():
        arn = boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
            Name="mcp-session", SecretString="v" * 48
        )["ARN"]
        s = settings(MCP_SESSION_SECRET=None, MCP_SESSION_SECRET_ARN=arn)
        assert s.session_keys.keys == ("v" * 48,)
        missing = arn.replace("mcp-session", "missing")
        assert refused_variable(MCP_SESSION_SECRET=None, MCP_SESSION_SECRET_ARN=missing) == (
            "MCP_SESSION_SECRET_ARN"
        )


def test_bedrock_log_group_default_custom_and_off() -> None:
    assert settings().bedrock_log_group == "/aws/bedrock/modelinvocations"
    assert settings(MCP_BEDROCK_LOG_GROUP="/custom/bedrock").bedrock_log_group == "/custom/bedrock"
    assert settings(MCP_BEDROCK_LOG_GROUP="").bedrock_log_group is None
    assert refused_variable(MCP_BEDROCK_LOG_GROUP="not a group!") == "MCP_BEDROCK_LOG_GROUP"


async def test_without_a_log_group_there_is_no_usage_tool() -> None:
    from mcpserver.server import build_server

    on = {tool.name for tool in await build_server(settings()).list_tools()}
    off = {
        tool.name for tool in await build_server(settings(MCP_BEDROCK_LOG_GROUP="")).list_tools()
    }
    assert on - off == {"bedrock_usage_report"}


async def test_tool_and_argument_descriptions_read_as_prose() -> None:
    """Clients show these to people and models: no source indentation or line breaks, and every
    argument says what it is (a description inside one anyOf branch is not shown)."""
    from mcpserver.server import build_server

    for tool in await build_server(settings()).list_tools():
        assert tool.description
        assert "\n" not in tool.description
        assert "  " not in tool.description
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{tool.name}.{name} has no description"
