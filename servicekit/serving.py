"""Serving a deployable from the command line (uvicorn), shared by ``authproxy serve``,
``authproxy dev`` and the gateway, so none of them imports another's command line."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    """uvicorn shuts down gracefully on SIGINT and SIGTERM, then raises the signal again; these
    handlers turn that into a normal exit, so cleanup runs and the exit status is 0."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
