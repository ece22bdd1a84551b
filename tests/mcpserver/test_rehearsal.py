"""The init-phase rehearsal of the Lambda handler (mcpserver.rehearsal): it speaks every protocol
revision through the application's own request path, and leaves nothing the served application
trusts or logs."""

import json
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from mcpserver import rehearsal
from mcpserver.aws_lambda import build_handler
from mcpserver.settings import Settings
from tests.mcpserver.test_aws_lambda import API_HOST, http_api_event, lambda_env, tools_list

MCP_URL = f"https://{API_HOST}/mcp"


@pytest.fixture
def jwks_file(tmp_path: Path, signing_key: RSAKey) -> str:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [signing_key.as_dict(private=False)]}))
    return str(path)


@pytest.fixture
def settings(jwks_file: str) -> Settings:
    return Settings.from_env(lambda_env(MCP_URL, jwks_file, "https://issuer.example/pool"))


def test_every_revision_is_rehearsed_and_answered(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first round covers initialize, tools/list and whoami on every revision the SDK
    serves; every rehearsed request succeeds (a failing rehearsal would warm the error path)."""
    sent: list[tuple[str, str, dict[str, Any]]] = []
    post = rehearsal._Client.post

    def recorded(client: Any, version: str, method: str, *args: Any) -> dict[str, Any]:
        answer = post(client, version, method, *args)
        sent.append((version, method, answer))
        return answer

    monkeypatch.setattr(rehearsal._Client, "post", recorded)
    build_handler(settings)
    versions = {version for version, _, _ in sent}
    assert versions == {*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS}
    assert {method for _, method, _ in sent} == {"initialize", "tools/list", "tools/call"}
    for version, method, answer in sent:
        assert answer["statusCode"] == 200, (version, method, answer)
        message = json.loads(answer["body"])
        assert "error" not in message, message
        assert not message["result"].get("isError"), message
    assert len([m for _, m, _ in sent if m == "tools/call"]) >= rehearsal.ROUNDS * 2


def test_mcp_security_token_validation_the_rehearsal_key_is_never_trusted(
    settings: Settings, signing_key: RSAKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MCP security best practices, token validation: a token signed with the rehearsal's key
    (were it ever to leak) is refused by the served application, under the rehearsal's issuer or
    the real one, while a token of the real issuer's key is accepted."""
    made: list[RSAKey] = []
    throwaway = rehearsal._throwaway_key

    def kept() -> tuple[RSAKey, dict[str, RSAKey]]:
        key, public = throwaway()
        made.append(key)
        return key, public

    monkeypatch.setattr(rehearsal, "_throwaway_key", kept)
    handler = build_handler(settings)
    (key,) = made
    now = int(time.time())

    def token(signer: RSAKey, issuer: str) -> str:
        claims = {
            "sub": "mallory",
            "iss": issuer,
            "client_id": "rehearsal",
            "token_use": "access",
            "scope": f"{MCP_URL}/read",
            "iat": now,
            "exp": now + 300,
        }
        return jwt.encode({"alg": "RS256", "kid": signer.kid}, claims, signer)

    for issuer in (rehearsal.ISSUER, settings.cognito_issuer):
        answer = handler(http_api_event("POST", "/mcp", **tools_list(token(key, issuer))), None)
        assert answer["statusCode"] == 401, issuer
    genuine = token(signing_key, settings.cognito_issuer)
    assert handler(http_api_event("POST", "/mcp", **tools_list(genuine)), None)["statusCode"] == 200


def test_the_rehearsal_writes_no_access_log_line_and_no_warning(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    """Operators see their clients' requests only: the rehearsal's own log goes nowhere, and its
    short key raises no warning in the function's log."""
    capfd.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_handler(settings)
    written = capfd.readouterr()
    assert "rehearsal" not in written.out + written.err
    assert '"logger": "mcpserver.access"' not in written.err


@pytest.mark.parametrize(
    ("initialization", "rehearsed"),
    [("on-demand", False), ("snap-start", True), ("provisioned-concurrency", True), (None, True)],
)
def test_the_rehearsal_runs_only_where_no_caller_waits_for_init(
    jwks_file: str, monkeypatch: pytest.MonkeyPatch, initialization: str | None, rehearsed: bool
) -> None:
    """An on-demand init is the first caller's wait, and the rehearsal costs more than it saves
    there; a SnapStart or provisioned-concurrency init is no one's wait."""
    env = lambda_env(MCP_URL, jwks_file, "https://issuer.example/pool")
    if initialization:
        env["AWS_LAMBDA_INITIALIZATION_TYPE"] = initialization
    sent: list[str] = []
    post = rehearsal._Client.post

    def recorded(client: Any, version: str, method: str, *args: Any) -> dict[str, Any]:
        sent.append(method)
        return post(client, version, method, *args)

    monkeypatch.setattr(rehearsal._Client, "post", recorded)
    build_handler(Settings.from_env(env))
    assert bool(sent) is rehearsed


def test_mcp_security_session_hijacking_a_rehearsal_session_id_is_unknown_to_the_served_app(
    settings: Settings, signing_key: RSAKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MCP security best practices, session hijacking: session ids are bound to the token's
    subject only, and the rehearsal's subject is a fixed name. Its ids are signed with keys of its
    own, so none is valid on the served application, even under a genuine token whose ``sub``
    happened to be that name (and no snapshot holds an id the served keys would accept)."""
    issued: list[str] = []
    post = rehearsal._Client.post

    def recorded(client: Any, *args: Any) -> dict[str, Any]:
        answer = post(client, *args)
        headers = {k.lower(): v for k, v in answer.get("headers", {}).items()}
        if "mcp-session-id" in headers:
            issued.append(headers["mcp-session-id"])
        return answer

    monkeypatch.setattr(rehearsal._Client, "post", recorded)
    handler = build_handler(settings)
    assert issued
    now = int(time.time())
    claims = {
        "sub": "rehearsal",
        "iss": settings.cognito_issuer,
        "client_id": "c-1",
        "token_use": "access",
        "scope": f"{MCP_URL}/read",
        "iat": now,
        "exp": now + 300,
    }
    token = jwt.encode({"alg": "RS256", "kid": signing_key.kid}, claims, signing_key)
    for session in issued:
        event = tools_list(token)
        event["headers"]["mcp-session-id"] = session
        answer = handler(http_api_event("POST", "/mcp", **event), None)
        assert answer["statusCode"] == 404, answer
    # The control: the same token without a session id is served.
    assert handler(http_api_event("POST", "/mcp", **tools_list(token)), None)["statusCode"] == 200
