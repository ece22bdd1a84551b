"""Serving a deployable from the command line (uvicorn), shared by ``authproxy serve``,
``authproxy dev`` and the gateway, so none of them imports another's command line."""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
from collections.abc import Iterator


class StartupError(Exception):
    """The command cannot start; the message is one line naming the cause and what to fix."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: the kernel picks one), or a one-line
    :class:`StartupError` naming ``--port`` when something else holds it.

    Its connections send without Nagle's delay (``TCP_NODELAY``, which accepted connections
    inherit): uvicorn writes a response's headers and body separately and sets the option only on
    sockets it creates, so on a handed-in socket every keep-alive response after the first would
    wait for the client's delayed ACK, about 40 ms."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"{host}:{port} is already in use; stop what listens there or choose another "
                "--port (--port 0 picks a free one)"
            ) from None
        if exc.errno == errno.EACCES:
            raise StartupError(
                f"{host}:{port} needs privileges to listen on; choose a --port above 1023"
            ) from None
        raise StartupError(
            f"cannot listen on {host}:{port} ({exc.strerror}); check --host"
        ) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


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
