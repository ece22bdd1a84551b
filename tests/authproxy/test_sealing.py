"""Sealed envelopes (design D3) and the at-rest box for backing secrets."""

import time
from types import SimpleNamespace

import itsdangerous.timed
import pytest

from authproxy.sealing import EnvelopeError, Purpose, Sealer, SecretBox
from servicekit.keys import KeyRing

KEY = "k" * 40


def test_round_trip() -> None:
    sealer = Sealer(KEY)
    assert sealer.open(Purpose.STATE, sealer.seal(Purpose.STATE, {"a": 1})) == {"a": 1}


def test_purposes_do_not_mix() -> None:
    sealer = Sealer(KEY)
    code = sealer.seal(Purpose.CODE, {"code": "x"})
    with pytest.raises(EnvelopeError):
        sealer.open(Purpose.STATE, code)


def test_forged_and_tampered_envelopes_fail() -> None:
    sealer = Sealer(KEY)
    forged = Sealer("x" * 40).seal(Purpose.STATE, {"a": 1})
    with pytest.raises(EnvelopeError) as caught:
        sealer.open(Purpose.STATE, forged)
    assert not caught.value.expired
    good = sealer.seal(Purpose.STATE, {"a": 1})
    with pytest.raises(EnvelopeError):
        sealer.open(Purpose.STATE, good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1])
    with pytest.raises(EnvelopeError):
        sealer.open(Purpose.STATE, "")


def test_expired_envelopes_fail_as_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    sealer = Sealer(KEY)
    envelope = sealer.seal(Purpose.CODE, {"code": "x"})
    later = time.time() + Purpose.CODE.max_age + 60
    monkeypatch.setattr(itsdangerous.timed, "time", SimpleNamespace(time=lambda: later))
    with pytest.raises(EnvelopeError) as caught:
        sealer.open(Purpose.CODE, envelope)
    assert caught.value.expired


def test_secret_box_round_trip_and_key_change() -> None:
    box = SecretBox(KEY)
    sealed = box.seal("s3cr3t")
    assert "s3cr3t" not in sealed
    assert box.open(sealed) == "s3cr3t"
    assert SecretBox("other-key-" * 4).open(sealed) is None
    assert box.open("not base64!") is None


OLD, NEW = "o" * 40, "n" * 40


def test_envelopes_sealed_with_a_previous_key_open_after_rotation() -> None:
    before = Sealer(KeyRing.fixed(OLD))
    after = Sealer(KeyRing.fixed(NEW, OLD))
    for purpose in Purpose:
        assert after.open(purpose, before.seal(purpose, {"p": purpose.name})) == {"p": purpose.name}


def test_new_envelopes_are_sealed_with_the_current_key() -> None:
    envelope = Sealer(KeyRing.fixed(NEW, OLD)).seal(Purpose.REFRESH, {"a": 1})
    assert Sealer(NEW).open(Purpose.REFRESH, envelope) == {"a": 1}
    with pytest.raises(EnvelopeError):
        Sealer(OLD).open(Purpose.REFRESH, envelope)


def test_a_sealer_follows_its_ring_when_the_keys_change() -> None:
    keys = [(OLD,)]
    sealer = Sealer(KeyRing(lambda: keys[0], max_age=0))
    old_envelope = sealer.seal(Purpose.STATE, {"a": 1})
    keys[0] = (NEW, OLD)
    assert sealer.open(Purpose.STATE, old_envelope) == {"a": 1}
    assert Sealer(NEW).open(Purpose.STATE, sealer.seal(Purpose.STATE, {"b": 2})) == {"b": 2}
    keys[0] = (NEW,)
    with pytest.raises(EnvelopeError):
        sealer.open(Purpose.STATE, old_envelope)


def test_secret_box_opens_under_previous_keys_and_seals_under_the_current_one() -> None:
    sealed_before = SecretBox(OLD).seal("s3cr3t")
    rotated = SecretBox(KeyRing.fixed(NEW, OLD))
    assert rotated.open(sealed_before) == "s3cr3t"
    sealed_after = rotated.seal("s3cr3t")
    assert SecretBox(NEW).open(sealed_after) == "s3cr3t"
    assert SecretBox(OLD).open(sealed_after) is None
    assert SecretBox(NEW).open(sealed_before) is None  # the old key dropped
