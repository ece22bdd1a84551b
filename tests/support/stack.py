"""The local stack as the tests use it.

``dev_stack()`` runs the real ``authproxy dev`` command in a subprocess and reads its ``KEY=value``
block, exactly as a user would. ``local_stack()`` runs the same pieces in this process (the Cognito
stand-in and the one-origin app on a uvicorn thread), so tests can also inject faults and move the
stand-in's clock.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from devstack.cognito import CognitoStandIn
from devstack.stack import FAKE_AWS, DevOptions, build_app, free_port, stack_environment

from .person import Person

START_TIMEOUT = 60


@dataclass
class Stack:
    env: dict[str, str]
    standin: CognitoStandIn | None = None
    process: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)

    def __getitem__(self, key: str) -> str:
        return self.env[key]

    @property
    def issuer(self) -> str:
        return self.env["ISSUER"]

    @property
    def mcp_url(self) -> str:
        return self.env["MCP_URL"]

    def person(self) -> Person:
        return Person(
            username=self.env["DEMO_USER"],
            password=self.env["DEMO_PASSWORD"],
            own_origins=(self.env["ISSUER"], self.env["COGNITO_DOMAIN"]),
        )

    def register(self, **metadata: Any) -> dict[str, Any]:
        response = httpx.post(f"{self.issuer}/register", json=metadata, timeout=30)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def shell_env(self) -> dict[str, str]:
        """The process environment a user gets by exporting the block."""
        return {**os.environ, **self.env}


def _parse_block(lines: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            break
        key, sep, value = shlex.split(line)[0].partition("=")
        assert sep, f"not a KEY=value line: {line!r}"
        env[key] = value
    return env


@contextlib.contextmanager
def dev_stack(*args: str) -> Iterator[Stack]:
    """``authproxy dev --port 0 ARGS``, stopped with SIGTERM afterwards."""
    command = [str(Path(sys.executable).with_name("authproxy")), "dev", "--port", "0", *args]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"authproxy dev exited with {process.wait()}: {lines}")
            lines.append(line.rstrip("\n"))
            if not line.strip():
                break
        stack = Stack(env=_parse_block(lines), process=process, output=lines)
        yield stack
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def local_stack(tmp_path: Path, **options: Any) -> Iterator[Stack]:
    """The stack in this process; ``options`` are :class:`DevOptions` fields."""
    dev = DevOptions(port=0, store=str(tmp_path / "authproxy.db"), **options)
    with CognitoStandIn(
        resource_binding=dev.resource_binding, token_ttl_override=dev.token_ttl
    ) as standin:
        port = free_port(dev.host)
        env = stack_environment(dev, standin, port)
        saved = {k: os.environ.get(k) for k in FAKE_AWS}
        os.environ.update(FAKE_AWS)
        server = uvicorn.Server(
            uvicorn.Config(
                build_app(env),
                host=dev.host,
                port=port,
                log_config=None,
                access_log=False,
                lifespan="on",
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            assert time.monotonic() < deadline, "the stack did not start in time"
            assert thread.is_alive(), "the stack's server thread died"
            time.sleep(0.02)
        try:
            yield Stack(env=env, standin=standin)
        finally:
            server.should_exit = True
            thread.join(10)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
