"""Key rotation (design D3; RFC 9700 §4.14 on refresh tokens; MCP security best practices on
session hijacking): rotating the façade's sealing key or the MCP server's session key ends nothing
a client holds, new values are sealed with the new key, and a value sealed with a key the operator
removed is refused. The keys live in Secrets Manager on the stand-in's moto, as
the template deploys them, and the rotation runs the README's steps; after each step Lambda's
SnapStart restore hooks run, as when a snapshot taken before the rotation is restored.
"""

from __future__ import annotations

import importlib
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import snapshot_restore_py
from moto import mock_aws

from authproxy.sealing import EnvelopeError, Purpose, Sealer
from devstack.cognito import CognitoStandIn
from devstack.stack import FAKE_AWS
from mcpserver.sessions import SessionIds
from support.oauth import obtain_code, token_request
from support.stack import Stack, local_stack

REDIRECT = "http://localhost:8403/cb"
OLD, NEW = secrets.token_urlsafe(48), secrets.token_urlsafe(48)


@dataclass
class Rotation:
    """The README's rotation steps on a secret, and Lambda's restore hooks."""

    secretsmanager: Any
    arn: str
    hooks_before: int

    def restore(self) -> None:
        """What Lambda's runtime does after restoring a snapshot: run the registered hooks."""
        for func, args, kwargs in snapshot_restore_py.get_after_restore()[self.hooks_before :]:
            func(*args, **kwargs)

    def versions(self, stage: str) -> list[str]:
        stages = self.secretsmanager.describe_secret(SecretId=self.arn)["VersionIdsToStages"]
        return [version for version, labels in stages.items() if stage in labels]

    def introduce(self, key: str) -> None:
        """Step 1: the new key as AWSPENDING, accepted everywhere before it signs anything."""
        self.secretsmanager.put_secret_value(
            SecretId=self.arn, SecretString=key, VersionStages=["AWSPENDING"]
        )

    def promote(self) -> None:
        """Step 2: the new key becomes AWSCURRENT; the old one becomes AWSPREVIOUS."""
        (pending,) = self.versions("AWSPENDING")
        (current,) = self.versions("AWSCURRENT")
        self.secretsmanager.update_secret_version_stage(
            SecretId=self.arn,
            VersionStage="AWSCURRENT",
            MoveToVersionId=pending,
            RemoveFromVersionId=current,
        )
        self.secretsmanager.update_secret_version_stage(
            SecretId=self.arn, VersionStage="AWSPENDING", RemoveFromVersionId=pending
        )

    def drop_previous(self) -> None:
        """Step 3: the old key removed."""
        (previous,) = self.versions("AWSPREVIOUS")
        self.secretsmanager.update_secret_version_stage(
            SecretId=self.arn, VersionStage="AWSPREVIOUS", RemoveFromVersionId=previous
        )


@pytest.fixture
def rotating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stack, Rotation]]:
    made: dict[str, Any] = {}

    def sealing_secret(standin: CognitoStandIn) -> dict[str, str]:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", standin.endpoint)
        client = boto3.client(
            "secretsmanager",
            endpoint_url=standin.endpoint,
            region_name=standin.region,
            aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        )
        name = f"authproxy-sealing-{secrets.token_hex(4)}"
        made.update(client=client, arn=client.create_secret(Name=name, SecretString=OLD)["ARN"])
        return {"AUTHPROXY_SECRET_KEY": "", "AUTHPROXY_SECRET_ARN": made["arn"]}

    hooks_before = len(snapshot_restore_py.get_after_restore())
    with local_stack(tmp_path, prepare=sealing_secret) as stack:
        yield stack, Rotation(made["client"], made["arn"], hooks_before)


def signed_in(stack: Stack) -> tuple[dict[str, Any], str]:
    """A public client that signed in: the client and its wrapped refresh token."""
    client = stack.register(
        client_name="key rotation",
        redirect_uris=[REDIRECT],
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
    )
    code, verifier, _ = obtain_code(stack, client)
    tokens = exchange(
        stack,
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT,
        },
    )
    assert tokens.status_code == 200, tokens.text
    return client, str(tokens.json()["refresh_token"])


def exchange(stack: Stack, client: dict[str, Any], form: dict[str, str]) -> httpx.Response:
    return token_request(stack.issuer, client, form)


def refresh(stack: Stack, client: dict[str, Any], refresh_token: str) -> httpx.Response:
    return exchange(stack, client, {"grant_type": "refresh_token", "refresh_token": refresh_token})


def sealed_with(key: str, refresh_token: str) -> bool:
    try:
        Sealer(key).open(Purpose.REFRESH, refresh_token)
    except EnvelopeError:
        return False
    return True


def test_key_rotation_refresh_tokens_sealed_before_rotation_still_refresh(
    rotating: tuple[Stack, Rotation],
) -> None:
    stack, rotation = rotating
    client, before = signed_in(stack)
    assert sealed_with(OLD, before)

    rotation.introduce(NEW)
    rotation.restore()
    # Accepted, not yet signing: instances still on the old key can open what this one seals.
    answered = refresh(stack, client, before)
    assert answered.status_code == 200, answered.text
    during = answered.json()["refresh_token"]
    assert sealed_with(OLD, during)

    rotation.promote()
    rotation.restore()
    answered = refresh(stack, client, during)
    assert answered.status_code == 200, answered.text
    after = answered.json()["refresh_token"]
    assert sealed_with(NEW, after)  # new values use the new key
    assert not sealed_with(OLD, after)


def test_key_rotation_snapstart_restore_reads_the_rotated_key(
    rotating: tuple[Stack, Rotation],
) -> None:
    """A snapshot holds the keys read at init; without the restore hook the new key would sign
    nothing for minutes (and, before this fix, never until a new version was published)."""
    stack, rotation = rotating
    client, token = signed_in(stack)
    rotation.introduce(NEW)
    rotation.promote()
    answered = refresh(stack, client, token)
    assert sealed_with(OLD, answered.json()["refresh_token"])  # the snapshot's key, until...
    rotation.restore()
    answered = refresh(stack, client, answered.json()["refresh_token"])
    assert answered.status_code == 200, answered.text
    assert sealed_with(NEW, answered.json()["refresh_token"])


def test_key_rotation_removed_key_is_refused(rotating: tuple[Stack, Rotation]) -> None:
    stack, rotation = rotating
    client, sealed_with_old = signed_in(stack)  # never used: only its key can make it fail
    rotation.introduce(NEW)
    rotation.restore()
    rotation.promote()
    rotation.restore()
    other, sealed_with_new = signed_in(stack)
    rotation.drop_previous()
    rotation.restore()

    refused = refresh(stack, client, sealed_with_old)
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "invalid_grant",
        "error_description": "refresh_token is invalid",
    }
    # An envelope forged under the removed key (a leaked old key) is refused just the same,
    # while the same payload under the current key still refreshes.
    payload = Sealer(NEW).open(Purpose.REFRESH, sealed_with_new)
    forged = refresh(stack, other, Sealer(OLD).seal(Purpose.REFRESH, payload))
    assert forged.json()["error_description"] == "refresh_token is invalid"
    assert refresh(stack, other, sealed_with_new).status_code == 200


def test_key_rotation_mcp_session_ids_follow_the_restored_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MCP server's entry point registers its session keys for re-reading after a restore:
    a session begun before the rotation goes on, one signed with a removed key is refused."""
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    for name, value in {
        **FAKE_AWS,
        "AWS_REGION": "eu-west-1",
        "MCP_URL": "https://mcp.example.com/mcp",
        "ISSUER": "https://mcp.example.com",
        "USER_POOL_ID": "eu-west-1_AbCdEf123",
        "MCP_JWKS_FILE": str(jwks),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MCP_SESSION_SECRET", raising=False)
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        arn = client.create_secret(Name="mcp-session", SecretString=OLD)["ARN"]
        monkeypatch.setenv("MCP_SESSION_SECRET_ARN", arn)
        hooks_before = len(snapshot_restore_py.get_after_restore())
        monkeypatch.delitem(sys.modules, "mcpserver.lambda_handler", raising=False)
        entry = importlib.import_module("mcpserver.lambda_handler")
        rotation = Rotation(client, arn, hooks_before)
        ids = SessionIds(entry.settings.session_keys, entry.settings.mcp_url)
        before = ids.issue("alice")

        rotation.introduce(NEW)
        rotation.promote()
        rotation.restore()
        assert ids.is_valid(before, "alice")
        after = ids.issue("alice")
        assert SessionIds(NEW, entry.settings.mcp_url).is_valid(after, "alice")

        rotation.drop_previous()
        rotation.restore()
        assert not ids.is_valid(before, "alice")
        assert ids.is_valid(after, "alice")
