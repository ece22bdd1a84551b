"""The reference MCP "everything" server (``@modelcontextprotocol/server-everything``, pinned in
``package.json``) as an upstream the gateway protects: Streamable HTTP on a loopback port, with no
authorization of its own."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from .node_tools import SHIMS, node, package_bin
from .serving import START_TIMEOUT, free_port

PACKAGE = "@modelcontextprotocol/server-everything"
VERSION = "2026.8.31"


@contextlib.contextmanager
def everything_server(log: Path) -> Iterator[str]:
    """Run the server as ``streamableHttp`` on 127.0.0.1 only; yield its MCP URL."""
    port = free_port()
    script = package_bin(PACKAGE, "mcp-server-everything")
    env = {
        **os.environ,
        "PORT": str(port),
        # It listens on every interface by default; the shim binds it to loopback.
        "NODE_OPTIONS": f"--import={SHIMS / 'loopback-listen-shim.mjs'}",
    }
    with log.open("w") as output:
        process = subprocess.Popen(
            [node(), str(script), "streamableHttp"], stdout=output, stderr=output, env=env
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                assert process.poll() is None, f"the everything server exited: {log.read_text()}"
                assert time.monotonic() < deadline, "the everything server did not start in time"
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
