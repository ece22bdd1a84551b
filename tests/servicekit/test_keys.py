"""Key rings (design D3, key rotation): the current key first, re-read from Secrets Manager when
stale and after a SnapStart restore, through the runtime-hooks module Lambda's runtime ships."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import snapshot_restore_py
from moto import mock_aws

from servicekit.env import SettingsError, read_secret_keys
from servicekit.keys import REFRESH_AFTER, RETRY_AFTER, KeyRing, key_ring, refresh_after_restore

OLD, NEW = "o" * 40, "n" * 40


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="eu-west-1")


def ring_for(arn: str, clock: Clock) -> KeyRing:
    return KeyRing(
        lambda: read_secret_keys(arn, "KEY_ARN", min_length=32), max_age=REFRESH_AFTER, clock=clock
    )


def run_after_restore_hooks(since: int) -> None:
    """What Lambda's runtime does after restoring a snapshot: call each registered hook."""
    for func, args, kwargs in snapshot_restore_py.get_after_restore()[since:]:
        func(*args, **kwargs)


def test_a_fixed_ring_puts_the_current_key_first_and_hides_its_keys() -> None:
    ring = KeyRing.fixed(NEW, OLD, NEW)
    assert ring.keys == (NEW, OLD)
    assert ring.current == NEW
    assert NEW not in repr(ring)
    assert key_ring((NEW, OLD), None, variable="V", min_length=32).keys == (NEW, OLD)
    with pytest.raises(SettingsError, match=r"^V: "):
        key_ring((), None, variable="V", min_length=32)


def test_keys_from_secrets_manager_are_read_again_once_stale(secrets: Any) -> None:
    arn = secrets.create_secret(Name="key", SecretString=OLD)["ARN"]
    clock = Clock()
    ring = ring_for(arn, clock)
    secrets.put_secret_value(SecretId=arn, SecretString=NEW)
    clock.now += REFRESH_AFTER - 1
    assert ring.keys == (OLD,)  # still fresh: no read
    clock.now += 1
    assert ring.current == NEW
    assert OLD in ring.keys  # AWSPREVIOUS still opens


def test_a_failed_read_keeps_the_keys_in_hand_and_retries_later(
    secrets: Any, caplog: pytest.LogCaptureFixture
) -> None:
    arn = secrets.create_secret(Name="key", SecretString=OLD)["ARN"]
    clock = Clock()
    ring = ring_for(arn, clock)
    secrets.delete_secret(SecretId=arn, RecoveryWindowInDays=7)  # unreadable until restored
    clock.now += REFRESH_AFTER
    assert ring.keys == (OLD,)
    assert "keys not read again" in caplog.text
    assert OLD not in caplog.text
    secrets.restore_secret(SecretId=arn)
    secrets.put_secret_value(SecretId=arn, SecretString=NEW)
    clock.now += RETRY_AFTER - 1
    assert ring.keys == (OLD,)  # no read on every request while Secrets Manager fails
    clock.now += 1
    assert ring.keys == (NEW, OLD)


def test_the_after_restore_hook_reads_the_keys_again(secrets: Any) -> None:
    arn = secrets.create_secret(Name="key", SecretString=OLD)["ARN"]
    ring = key_ring((), arn, variable="KEY_ARN", min_length=32)  # read at init, then snapshotted
    since = len(snapshot_restore_py.get_after_restore())
    assert refresh_after_restore(ring)
    secrets.put_secret_value(SecretId=arn, SecretString=NEW)  # rotated while the snapshot slept
    run_after_restore_hooks(since)
    assert ring.keys == (NEW, OLD)


def test_a_restore_that_cannot_read_the_keys_fails(secrets: Any) -> None:
    arn = secrets.create_secret(Name="key", SecretString=OLD)["ARN"]
    ring = key_ring((), arn, variable="KEY_ARN", min_length=32)
    since = len(snapshot_restore_py.get_after_restore())
    refresh_after_restore(ring)
    secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    # Serving with the snapshot's keys could accept a key removed since: the restore fails.
    with pytest.raises(SettingsError, match=r"^KEY_ARN: "):
        run_after_restore_hooks(since)
