"""Sealed envelopes (design D3) and the at-rest box for backing secrets."""

import time
from types import SimpleNamespace

import itsdangerous.timed
import pytest

from authproxy.sealing import EnvelopeError, Purpose, Sealer, SecretBox

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
