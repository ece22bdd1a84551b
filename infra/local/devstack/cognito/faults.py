"""Fault injection: make chosen stand-in endpoints slow, throttled, failing or cut off, on request.

A fault targets either a path of the managed login (``/oauth2/token``) or of the issuer host
(``/<pool id>/.well-known/jwks.json``), or an admin API action (``CreateUserPoolClient``). A
``drop`` fault starts the answer and closes the connection mid-way (the admin API answers it as
an ``error``). A fault is consumed by the next ``count`` matching requests, or by every one until
cleared when ``count`` is ``None``. The registry is shared by the admin API's threads and the
managed-login event loop, hence the lock. Stopping the stand-in ends pending delays at once:
admin API ones through ``stopping``, managed-login ones through ``FaultInjection``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

FaultKind = Literal["delay", "throttle", "error", "drop"]
FAULT_KINDS: tuple[FaultKind, ...] = ("delay", "throttle", "error", "drop")
MAX_DELAY_SECONDS = 600.0


@dataclass
class Fault:
    """One injected fault: ``path`` (managed login) or ``action`` (admin API), exactly one set."""

    kind: FaultKind
    path: str | None = None
    action: str | None = None
    seconds: float = 0.0
    count: int | None = 1

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


def parse_fault(document: Any) -> Fault:
    """Build a fault from its JSON form; ``ValueError`` names the offending field."""
    if not isinstance(document, Mapping):
        raise ValueError("the body must be a JSON object")
    kind = document.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
    path, action = document.get("path"), document.get("action")
    if (path is None) == (action is None):
        raise ValueError("give exactly one of path (managed login) or action (admin API)")
    if path is not None and not (isinstance(path, str) and path.startswith("/")):
        raise ValueError("path must be an absolute path such as /oauth2/token")
    if action is not None and not (isinstance(action, str) and action.isalnum()):
        raise ValueError("action must be an admin API action name such as CreateUserPoolClient")
    seconds = document.get("seconds", 0)
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not 0 <= seconds <= MAX_DELAY_SECONDS
    ):
        raise ValueError(f"seconds must be a number from 0 to {MAX_DELAY_SECONDS:g}")
    if kind == "delay" and not seconds:
        raise ValueError("a delay needs seconds")
    count = document.get("count", 1)
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError("count must be a positive integer, or null for every request")
    return Fault(kind=kind, path=path, action=action, seconds=float(seconds), count=count)


class FaultRegistry:
    """The faults in force; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.stopping = threading.Event()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return [Fault(**asdict(fault)) for fault in self._faults]

    def take(self, *, path: str | None = None, action: str | None = None) -> Fault | None:
        """The first fault matching this request, counting it as used."""
        with self._lock:
            for fault in self._faults:
                if (path is not None and fault.path == path) or (
                    action is not None and fault.action == action
                ):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
        return None
