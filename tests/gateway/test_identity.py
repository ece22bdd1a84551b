"""The identity header an upstream receives (gateway.identity): what it proves and what it does
not let through."""

import base64
import json

import pytest
from mcp.server.auth.provider import AccessToken

from gateway.identity import InvalidIdentity, sign_identity, upstream_key, verify_identity
from gateway.sessions import BoundSessions

SECRET = "k" * 40
NOTES = "https://mcp.example.com/mcp/notes"
FILES = "https://mcp.example.com/mcp/files"
NOW = 1_800_000_000


def access_token() -> AccessToken:
    return AccessToken(
        token="the-bearer-token",
        client_id="client-1",
        scopes=[f"{NOTES}/read"],
        expires_at=NOW + 3600,
        subject="user-1",
        claims={"username": "alice"},
    )


def signed(resource: str = NOTES, at: int = NOW) -> str:
    return sign_identity(
        access_token(),
        key=upstream_key(SECRET, resource),
        issuer="https://mcp.example.com",
        resource=resource,
        clock=lambda: at,
    )


def test_an_upstream_reads_who_called_and_never_the_token() -> None:
    value = signed()
    claims = verify_identity(
        value, key=upstream_key(SECRET, NOTES), audience=NOTES, clock=lambda: NOW
    )
    assert claims["sub"] == "user-1"
    assert claims["client_id"] == "client-1"
    assert claims["username"] == "alice"
    assert claims["scope"] == f"{NOTES}/read"
    assert "the-bearer-token" not in value


def test_each_upstream_has_its_own_key() -> None:
    assert upstream_key(SECRET, NOTES) != upstream_key(SECRET, FILES)
    assert len(upstream_key(SECRET, NOTES)) == 64


@pytest.mark.parametrize(
    ("value", "key", "audience", "now"),
    [
        (signed(), upstream_key(SECRET, FILES), NOTES, NOW),  # another upstream's key
        (signed(FILES), upstream_key(SECRET, FILES), NOTES, NOW),  # meant for another upstream
        (signed(), upstream_key(SECRET, NOTES), NOTES, NOW + 120),  # expired
        ("not a jws", upstream_key(SECRET, NOTES), NOTES, NOW),
        ("", upstream_key(SECRET, NOTES), NOTES, NOW),
    ],
)
def test_rfc8725_identity_refused(value: str, key: str, audience: str, now: int) -> None:
    with pytest.raises(InvalidIdentity):
        verify_identity(value, key=key, audience=audience, clock=lambda: now)


def test_rfc8725_2_1_identity_with_alg_none_is_refused() -> None:
    none = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=")
    forged = ".".join([none.decode(), signed().split(".")[1], ""])
    with pytest.raises(InvalidIdentity):
        verify_identity(forged, key=upstream_key(SECRET, NOTES), audience=NOTES, clock=lambda: NOW)


def test_mcp_security_session_hijacking_bound_session_ids() -> None:
    sessions = BoundSessions(SECRET, NOTES)
    wrapped = sessions.wrap("upstream-123", "user-1")
    assert sessions.unwrap(wrapped, "user-1") == "upstream-123"
    assert sessions.unwrap(wrapped, "user-2") is None
    assert BoundSessions(SECRET, FILES).unwrap(wrapped, "user-1") is None
    assert sessions.unwrap("upstream-123", "user-1") is None
    assert all(0x21 <= ord(c) <= 0x7E for c in wrapped)
