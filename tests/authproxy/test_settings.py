"""The settings object: built from the environment, errors name the variable."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authproxy.settings import RESOURCE_KEYS, Settings, SettingsError

BASE = {
    "ISSUER": "https://mcp.example.com/",
    "USER_POOL_ID": "eu-west-1_AbCdEf123",
    "COGNITO_DOMAIN": "https://auth.example.com",
    "AUTHPROXY_SECRET_KEY": "s" * 40,
    "AUTHPROXY_RESOURCES": json.dumps([{"resource": "https://mcp.example.com/mcp"}]),
}


def test_defaults() -> None:
    settings = Settings.from_env(BASE)
    assert settings.issuer == "https://mcp.example.com"
    assert settings.region == "eu-west-1"
    assert (
        settings.cognito_issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
    )
    assert settings.jwks_url == settings.cognito_issuer + "/.well-known/jwks.json"
    assert settings.callback_url == "https://mcp.example.com/callback"
    assert settings.client_policy == "pooled"
    assert settings.default_resource.scopes == ("read", "write")
    assert settings.default_resource.default_scopes == ("read",)
    assert settings.secure_cookies


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"ISSUER": ""}, "ISSUER"),
        ({"ISSUER": "mcp.example.com"}, "ISSUER"),
        ({"USER_POOL_ID": "nope"}, "USER_POOL_ID"),
        ({"COGNITO_DOMAIN": "ftp://x"}, "COGNITO_DOMAIN"),
        ({"AUTHPROXY_SECRET_KEY": "short"}, "AUTHPROXY_SECRET_KEY"),
        ({"AUTHPROXY_SECRET_KEY": ""}, "AUTHPROXY_SECRET_KEY"),
        ({"AUTHPROXY_SECRET_KEY": f"{'n' * 40},short"}, "AUTHPROXY_SECRET_KEY"),
        ({"AUTHPROXY_RESOURCES": "not json"}, "AUTHPROXY_RESOURCES"),
        ({"AUTHPROXY_RESOURCES": "[]"}, "AUTHPROXY_RESOURCES"),
        ({"AUTHPROXY_RESOURCES": '[{"resource": "x"}]'}, "AUTHPROXY_RESOURCES"),
        (
            {"AUTHPROXY_RESOURCES": '[{"resource": "https://a/mcp", "scopes": ["a/b"]}]'},
            "AUTHPROXY_RESOURCES",
        ),
        (
            {
                "AUTHPROXY_RESOURCES": (
                    '[{"resource": "https://a/mcp", "scopes": ["r"], "default_scopes": ["w"]}]'
                )
            },
            "AUTHPROXY_RESOURCES",
        ),
        ({"AUTHPROXY_CLIENT_POLICY": "shared"}, "AUTHPROXY_CLIENT_POLICY"),
        ({"AUTHPROXY_STORE": "postgres://x"}, "AUTHPROXY_STORE"),
        ({"AUTHPROXY_MAX_BACKING_CLIENTS": "many"}, "AUTHPROXY_MAX_BACKING_CLIENTS"),
        ({"AUTHPROXY_MAX_BACKING_CLIENTS": "0"}, "AUTHPROXY_MAX_BACKING_CLIENTS"),
        ({"AUTHPROXY_RESOURCE_BINDING": "maybe"}, "AUTHPROXY_RESOURCE_BINDING"),
        ({"AUTHPROXY_LOG_LEVEL": "LOUD"}, "AUTHPROXY_LOG_LEVEL"),
    ],
)
def test_errors_name_the_variable(change: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**BASE, **change})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)


def test_secret_arn_instead_of_key() -> None:
    env = {**BASE, "AUTHPROXY_SECRET_KEY": "", "AUTHPROXY_SECRET_ARN": "arn:aws:secretsmanager:x"}
    assert Settings.from_env(env).secret_arn


def test_the_secret_key_takes_the_current_key_then_previous_ones() -> None:
    current, previous = "n" * 40, "o" * 40
    settings = Settings.from_env({**BASE, "AUTHPROXY_SECRET_KEY": f"{current}, {previous}"})
    assert settings.secret_keys == (current, previous)
    assert current not in repr(settings)


def test_issuer_with_path_and_lists() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "ISSUER": "https://example.com/auth",
            "AUTHPROXY_TRUSTED_REDIRECT_HOSTS": "claude.ai, Claude.com",
            "AUTHPROXY_IDENTITY_PROVIDERS": "COGNITO,Okta",
        }
    )
    assert settings.issuer_path == "/auth"
    assert settings.trusted_redirect_hosts == {"claude.ai", "claude.com"}
    assert settings.identity_providers == ("COGNITO", "Okta")


def _resources(*entries: dict) -> dict[str, str]:
    return {**BASE, "AUTHPROXY_RESOURCES": json.dumps(list(entries))}


MCP = "https://mcp.example.com/mcp"


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("scope", "scopes"), ("default_scope", "default_scopes"), ("nmae", "name"), ("uri", None)],
)
def test_an_unknown_resource_key_is_an_error_with_the_close_match(
    typo: str, suggestion: str | None
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(_resources({"resource": MCP}, {"resource": MCP + "2", typo: ["read"]}))
    message = str(caught.value)
    assert caught.value.variable == "AUTHPROXY_RESOURCES"
    assert message.startswith(f"AUTHPROXY_RESOURCES: entry 1 ({MCP}2): unknown key {typo!r}")
    if suggestion:
        assert f"(did you mean {suggestion!r}?)" in message
    else:
        assert "did you mean" not in message
    assert "the keys are resource, name, scopes, default_scopes" in message


def test_every_unknown_key_of_an_entry_is_named() -> None:
    with pytest.raises(SettingsError, match=r"unknown keys 'scope' \(did you mean 'scopes'\?\), "):
        Settings.from_env(_resources({"resource": MCP, "scope": ["read"], "colour": "blue"}))


@given(key=st.text(min_size=1, max_size=40).filter(lambda k: k not in RESOURCE_KEYS))
def test_no_unknown_key_is_ignored(key: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(_resources({"resource": MCP, key: 1}))
    assert repr(key) in str(caught.value)


def test_scopes_may_carry_descriptions() -> None:
    resource = Settings.from_env(
        _resources({"resource": MCP, "scopes": {"read": " See things ", "write": "Stop things"}})
    ).default_resource
    assert resource.scopes == ("read", "write")
    assert resource.default_scopes == ("read",)  # the first, as with a list
    assert resource.describe("read") == "See things"
    assert resource.describe("write") == "Stop things"


def test_scopes_listed_without_descriptions_get_generic_words() -> None:
    resource = Settings.from_env(_resources({"resource": MCP})).default_resource
    assert resource.describe("read") == "Read information through this server's tools"
    assert resource.describe("write") == "Make changes through this server's tools"


@pytest.mark.parametrize(
    "scopes",
    [{}, [], {"read": ""}, {"read": "   "}, {"read": 3}, {"read": "x" * 257}, {"a/b": "x"}, "read"],
)
def test_bad_scope_descriptions_are_errors(scopes: object) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(_resources({"resource": MCP, "scopes": scopes}))
    assert str(caught.value).startswith(f"AUTHPROXY_RESOURCES: entry 0 ({MCP}): ")
