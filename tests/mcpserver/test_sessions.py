import pytest
from mcp.server.request_state import AESGCMRequestStateCodec, InvalidRequestState

from mcpserver.sessions import RotatingRequestStateCodec, SessionIds
from servicekit.keys import KeyRing

RESOURCE = "https://mcp.example.com/mcp"
SECRET = "k" * 40


def test_a_session_id_verifies_for_its_subject_only() -> None:
    ids = SessionIds(SECRET, RESOURCE)
    session_id = ids.issue("alice")
    assert ids.is_valid(session_id, "alice")
    assert not ids.is_valid(session_id, "bob")


def test_session_ids_are_unique_and_visible_ascii() -> None:
    ids = SessionIds(SECRET, RESOURCE)
    issued = {ids.issue("alice") for _ in range(50)}
    assert len(issued) == 50
    assert all(0x21 <= ord(c) <= 0x7E for session_id in issued for c in session_id)


def test_any_instance_with_the_key_verifies_it() -> None:
    session_id = SessionIds(SECRET, RESOURCE).issue("alice")
    assert SessionIds(SECRET, RESOURCE).is_valid(session_id, "alice")
    assert not SessionIds("x" * 40, RESOURCE).is_valid(session_id, "alice")
    assert not SessionIds(SECRET, "https://other.example.com/mcp").is_valid(session_id, "alice")


def test_tampered_and_expired_ids_are_refused() -> None:
    ids = SessionIds(SECRET, RESOURCE)
    session_id = ids.issue("alice")
    # The last base64 character carries padding bits (A and B can decode alike): change the one
    # before it, which is all data.
    tampered = session_id[:-2] + ("A" if session_id[-2] != "A" else "B") + session_id[-1]
    assert not ids.is_valid(tampered, "alice")
    assert not ids.is_valid("not-a-session", "alice")
    assert not SessionIds(SECRET, RESOURCE, max_age=-1).is_valid(session_id, "alice")


OLD, NEW = "o" * 40, "n" * 40


def test_session_ids_survive_a_key_rotation_and_new_ones_use_the_new_key() -> None:
    issued_before = SessionIds(OLD, RESOURCE).issue("alice")
    rotated = SessionIds(KeyRing.fixed(NEW, OLD), RESOURCE)
    assert rotated.is_valid(issued_before, "alice")
    assert not rotated.is_valid(issued_before, "bob")
    issued_after = rotated.issue("alice")
    assert SessionIds(NEW, RESOURCE).is_valid(issued_after, "alice")
    assert not SessionIds(OLD, RESOURCE).is_valid(issued_after, "alice")


def test_request_state_follows_the_ring() -> None:
    keys = [(OLD,)]
    codec = RotatingRequestStateCodec(KeyRing(lambda: keys[0], max_age=0))
    sealed_before = codec.seal(b"state")
    keys[0] = (NEW, OLD)
    assert codec.unseal(sealed_before) == b"state"
    assert AESGCMRequestStateCodec([NEW]).unseal(codec.seal(b"next")) == b"next"
    keys[0] = (NEW,)
    with pytest.raises(InvalidRequestState):
        codec.unseal(sealed_before)


def test_mcp_session_hijacking_a_remembered_id_is_refused_once_its_key_is_removed() -> None:
    keys = [(OLD,)]
    ids = SessionIds(KeyRing(lambda: keys[0], max_age=0), RESOURCE)
    session_id = ids.issue("alice")
    assert ids.is_valid(session_id, "alice")
    assert ids.is_valid(session_id, "alice")  # remembered
    assert not ids.is_valid(session_id, "bob")  # remembered for alice only
    keys[0] = (NEW,)
    assert not ids.is_valid(session_id, "alice")


def test_remembered_session_ids_are_bounded() -> None:
    ids = SessionIds(SECRET, RESOURCE, cache_size=2)
    issued = [ids.issue(subject) for subject in ("alice", "bob", "carol")]
    for subject, session_id in zip(("alice", "bob", "carol"), issued, strict=True):
        assert ids.is_valid(session_id, subject)
    assert ids.is_valid(issued[0], "alice")  # forgotten, so verified again
    assert not ids.is_valid(issued[0], "carol")
