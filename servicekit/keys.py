"""Keys that can be rotated: the current key signs and seals, older ones still open (design D3).

Both deployables keep their key in a :class:`KeyRing`: the first key is the current one, used for
every new value; every key in the ring is accepted when a value is opened. Keys set in the
environment are fixed for the life of the process (changing them means a new deployment, and on
Lambda a new published version with its own snapshot). Keys held in AWS Secrets Manager are read
again once they are older than :data:`REFRESH_AFTER`, and right after a Lambda SnapStart restore,
so a rotation reaches every instance within minutes and a restored snapshot never keeps the keys
it was taken with.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .env import SettingsError, read_secret_keys

__all__ = [
    "REFRESH_AFTER",
    "KeyRing",
    "as_ring",
    "key_ring",
    "refresh_after_restore",
    "run_after_restore",
]

log = logging.getLogger(__name__)

#: Seconds before keys read from Secrets Manager are read again. The rotation procedure in the
#: README waits this long between its steps.
REFRESH_AFTER = 300.0
#: After a failed re-read, seconds before the next attempt (not one per request).
RETRY_AFTER = 30.0


class KeyRing:
    """The keys of one deployable, the current one first.

    ``load`` returns the keys; it runs once now (so a bad key fails start-up, naming its
    variable) and again whenever the keys are older than ``max_age`` seconds (``None``: never).
    ``clock`` is wall-clock time, not a monotonic clock: after a SnapStart restore the snapshot's
    read time is far in the past, so the first use reads again even without the restore hook.
    """

    def __init__(
        self,
        load: Callable[[], tuple[str, ...]],
        *,
        max_age: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._load = load
        self._max_age = max_age
        self._clock = clock
        self._keys = self._loaded()
        self._read_at = clock()

    @classmethod
    def fixed(cls, *keys: str) -> KeyRing:
        """A ring that never changes: keys from the environment, or one key in a test."""
        return cls(lambda: keys)

    def __repr__(self) -> str:
        return f"KeyRing({len(self._keys)} keys)"  # never the keys themselves

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key accepted for opening, the current one first; read again first if stale."""
        if self._max_age is not None and self._clock() - self._read_at >= self._max_age:
            try:
                self.refresh()
            except SettingsError as exc:
                # Keep the keys in hand rather than refuse every request while Secrets Manager
                # does not answer; a restore, where they may be old, fails instead (see
                # refresh_after_restore).
                log.error("keys not read again; using those in hand", extra={"why": str(exc)})
                self._read_at = self._clock() - self._max_age + RETRY_AFTER
        return self._keys

    @property
    def current(self) -> str:
        """The key that signs and seals every new value."""
        return self.keys[0]

    def refresh(self) -> None:
        """Read the keys from their source now; raises :class:`SettingsError` if it fails."""
        keys = self._loaded()
        if keys != self._keys:
            log.info(
                "keys changed",
                extra={"key_count": len(keys), "current_changed": keys[0] != self._keys[0]},
            )
        self._keys, self._read_at = keys, self._clock()

    def _loaded(self) -> tuple[str, ...]:
        keys = tuple(dict.fromkeys(self._load()))
        if not keys:
            raise ValueError("a key ring needs at least one key")
        return keys


def as_ring(keys: KeyRing | str) -> KeyRing:
    """A ring as given, or a fixed ring of one key (tests, and deployments that never rotated)."""
    return keys if isinstance(keys, KeyRing) else KeyRing.fixed(keys)


def key_ring(keys: tuple[str, ...], arn: str | None, *, variable: str, min_length: int) -> KeyRing:
    """The ring for keys set in the environment, or else for the Secrets Manager secret ``arn``
    (``variable`` names it in errors), re-read every :data:`REFRESH_AFTER` seconds."""
    if keys:
        return KeyRing.fixed(*keys)
    if not arn:
        raise SettingsError(variable, "is required")
    return KeyRing(
        lambda: read_secret_keys(arn, variable, min_length=min_length), max_age=REFRESH_AFTER
    )


def refresh_after_restore(ring: KeyRing) -> bool:
    """Have Lambda read the keys again right after a SnapStart restore, before any request.

    A failed read then fails the restore (Lambda reports it and tries another environment) rather
    than serve with the keys frozen into the snapshot, which may include one an operator has since
    removed. Returns False outside Lambda's runtime, where ``snapshot_restore_py`` is absent.
    """
    return run_after_restore(ring.refresh)


def run_after_restore(hook: Callable[[], object]) -> bool:
    """Have Lambda call ``hook`` right after a SnapStart restore, before any request; False
    outside Lambda's runtime, where ``snapshot_restore_py`` is absent."""
    try:
        from snapshot_restore_py import register_after_restore
    except ImportError:
        return False
    register_after_restore(hook)
    return True
