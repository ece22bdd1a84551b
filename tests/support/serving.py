"""Serving an ASGI app on 127.0.0.1 for a test, and ports for the tools that bind their own.

A socket is bound before anything learns its port and handed to uvicorn as it is: picking a free
port, closing it and binding it later leaves a gap in which another test can take it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

START_TIMEOUT = 60


def bound_socket(host: str = "127.0.0.1") -> socket.socket:
    """A socket bound to an ephemeral port, not yet listening (connections to it are refused)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this; without it keep-alive requests wait on delayed ACKs.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, 0))
    return sock


def origin_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now, for a tool that must bind it itself (a client's loopback
    callback). The race above is accepted here: the tool takes the number, not a socket."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serve(app: ASGIApp, sock: socket.socket) -> Iterator[str]:
    """Run ``app`` with uvicorn on ``sock`` in a background thread; yield its origin."""
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        assert thread.is_alive(), "the server thread died while starting"
        assert time.monotonic() < deadline, "the server did not start in time"
        time.sleep(0.02)
    try:
        yield origin_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
