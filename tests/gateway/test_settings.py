import json
from typing import Any

import pytest

from gateway.cli import main
from gateway.identity import upstream_key
from gateway.settings import Settings, SettingsError

SECRET = "g" * 40


def environment(*resources: dict[str, Any], **extra: str) -> dict[str, str]:
    return {
        "ISSUER": "https://mcp.example.com",
        "USER_POOL_ID": "eu-west-1_AbCdEf123",
        "AUTHPROXY_RESOURCES": json.dumps(list(resources)),
        "GATEWAY_SECRET": SECRET,
        **extra,
    }


NOTES = {
    "resource": "https://mcp.example.com/mcp/notes",
    "upstream": "http://10.0.0.5:3001/mcp",
    "scopes": ["read", "write"],
    "tool_scopes": {"delete_note": ["write"]},
    "name": "Notes",
}
BUILT_IN = {"resource": "https://mcp.example.com/mcp", "scopes": ["read", "write"]}


def test_upstreams_are_the_resources_with_an_upstream_url() -> None:
    settings = Settings.from_env(environment(BUILT_IN, NOTES))
    [notes] = settings.upstreams
    assert notes.path == "/mcp/notes"
    assert notes.url == "http://10.0.0.5:3001/mcp"
    assert notes.required_scopes == ("https://mcp.example.com/mcp/notes/read",)
    assert notes.cognito_tool_scopes == {"delete_note": ["https://mcp.example.com/mcp/notes/write"]}
    assert (
        settings.cognito_issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
    )
    assert settings.allowed_origins == ("https://mcp.example.com",)
    assert (settings.connect_timeout, settings.response_timeout) == (5.0, 60.0)


@pytest.mark.parametrize(
    ("resources", "extra", "variable"),
    [
        ((BUILT_IN,), {}, "AUTHPROXY_RESOURCES"),
        (
            ({**NOTES, "resource": "https://mcp.example.com/x/notes"},),
            {},
            "AUTHPROXY_RESOURCES",
        ),
        (({**NOTES, "resource": "https://mcp.example.com/mcp/no/te"},), {}, "AUTHPROXY_RESOURCES"),
        (({**NOTES, "upstream": "ftp://x"},), {}, "AUTHPROXY_RESOURCES"),
        (({**NOTES, "tool_scopes": {"x": ["admin"]}},), {}, "AUTHPROXY_RESOURCES"),
        (({**NOTES, "scopes": ["re ad"]},), {}, "AUTHPROXY_RESOURCES"),
        ((NOTES, NOTES), {}, "AUTHPROXY_RESOURCES"),
        ((NOTES,), {"GATEWAY_SECRET": "short"}, "GATEWAY_SECRET"),
        ((NOTES,), {"GATEWAY_RESPONSE_TIMEOUT": "0"}, "GATEWAY_RESPONSE_TIMEOUT"),
        ((NOTES,), {"ISSUER": ""}, "ISSUER"),
    ],
)
def test_errors_name_the_variable(
    resources: tuple[dict[str, Any], ...], extra: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(environment(*resources, **extra))
    assert error.value.variable == variable


def test_identity_key_prints_one_upstreams_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in environment(NOTES).items():
        monkeypatch.setenv(name, value)
    assert main(["identity-key", "notes"]) == 0
    assert capsys.readouterr().out.strip() == upstream_key(SECRET, NOTES["resource"])
    assert main(["identity-key", "files"]) == 1
