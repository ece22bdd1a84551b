"""servicekit.serving: the socket ``authproxy serve`` and ``authproxy dev`` hand to uvicorn."""

import socket

from servicekit.serving import listening_socket


def test_accepted_connections_send_without_nagle_delay() -> None:
    """uvicorn sets ``TCP_NODELAY`` only on sockets it creates; on the one handed to it, every
    keep-alive response (headers and body written separately) waited for the client's delayed
    ACK. Accepted connections inherit the option from the listening socket."""
    with (
        listening_socket("127.0.0.1", 0) as server,
        socket.create_connection(server.getsockname()[:2]),
    ):
        accepted, _ = server.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
