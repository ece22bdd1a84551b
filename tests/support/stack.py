"""The local stack as the tests use it.

``dev_stack()`` runs the real ``authproxy dev`` command in a subprocess and reads its
``export KEY=value`` block, exactly as a user would. ``local_stack()`` runs the same pieces in
this process (the Cognito stand-in and the one-origin app on a uvicorn thread), so tests can also
inject faults and move the stand-in's clock.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import boto3
import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from devstack.cognito import CognitoStandIn
from devstack.stack import FAKE_AWS, DevOptions, build_app, stack_environment

from .person import Person
from .serving import START_TIMEOUT, bound_socket, serve


@dataclass
class Stack:
    env: dict[str, str]
    standin: CognitoStandIn | None = None
    process: subprocess.Popen[str] | None = None
    #: ``dev_stack``: the file the process's stderr (every log line it writes) goes to.
    log: IO[str] | None = None
    #: ``dev_stack``: the block exactly as printed, for a shell to ``eval``.
    block: str = ""

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

    def aws(self, service: str) -> Any:
        """A boto3 client for ``service`` on the stand-in's moto (Cognito, EC2, CloudWatch Logs)."""
        return boto3.client(
            service,
            endpoint_url=self.env["COGNITO_ENDPOINT"],
            region_name=self.env["AWS_REGION"],
            aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        )

    def log_text(self) -> str:
        """Everything ``authproxy dev`` has written to stderr so far."""
        assert self.log is not None, "only dev_stack() captures the process's output"
        # pread leaves alone the file offset the running process shares and writes at.
        fd = self.log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")

    def launch_instance(self) -> str:
        """An EC2 instance in the stand-in's moto, which the MCP server's tools reach too."""
        ec2 = self.aws("ec2")
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        reservation = ec2.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro"
        )
        return str(reservation["Instances"][0]["InstanceId"])

    def authproxy(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``authproxy ARGS`` as an operator runs it, with the stack's block exported."""
        command = [str(Path(sys.executable).with_name("authproxy")), *args]
        return subprocess.run(
            command, env=self.shell_env(), capture_output=True, text=True, timeout=60, check=False
        )

    def shell_env(self) -> dict[str, str]:
        """The process environment a user gets by exporting the block."""
        return {**os.environ, **self.env}


def parse_block(block: str) -> dict[str, str]:
    """The ``export KEY=value`` lines ``authproxy dev`` prints (or ``KEY=value`` lines, as
    ``--env-file`` writes them), unquoted as the shell would."""
    env: dict[str, str] = {}
    for word in shlex.split(block):
        if word == "export":
            continue
        key, sep, value = word.partition("=")
        assert sep, f"not a KEY=value assignment: {word!r}"
        env[key] = value
    return env


def server_errors(log_lines: list[str]) -> list[dict[str, Any]]:
    """Access-log entries with status 500: the suite must produce none."""
    found = []
    for line in log_lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("status") == 500:
            found.append(entry)
    return found


@contextlib.contextmanager
def dev_stack(
    *args: str, env: dict[str, str] | None = None, output: list[str] | None = None
) -> Iterator[Stack]:
    """``authproxy dev --port 0 ARGS``, stopped with SIGTERM afterwards. Its JSON logs are read at
    the end: any request answered 500 fails the test that used the stack. ``env`` adds to its
    environment; ``output``, if given, receives the lines it wrote to stderr once it stopped."""
    command = [str(Path(sys.executable).with_name("authproxy")), "dev", "--port", "0", *args]
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        try:
            block = "\n".join(_read_block(process))
            yield Stack(env=parse_block(block), process=process, log=log, block=block)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.seek(0)
        lines = log.read().splitlines()
        if output is not None:
            output.extend(lines)
        errors = server_errors(lines)
    assert not errors, f"authproxy dev answered 500: {errors}"


def _read_block(process: subprocess.Popen[str]) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"authproxy dev exited with {process.wait()}: {lines}")
        if not line.strip():
            return lines
        lines.append(line.rstrip("\n"))
    raise RuntimeError("authproxy dev did not print its block in time")


class StatusRecorder:
    """Remembers every response status the app sends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.statuses: list[tuple[str, int]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.statuses.append((scope.get("path", ""), message["status"]))
            await send(message)

        await self.app(scope, receive, record)


@contextlib.contextmanager
def local_stack(
    tmp_path: Path,
    env: dict[str, str] | None = None,
    client_quota: int = 1000,
    prepare: Callable[[CognitoStandIn], dict[str, str]] | None = None,
    facade_options: dict[str, Any] | None = None,
    adjust: Callable[[dict[str, str]], dict[str, str]] | None = None,
    **options: Any,
) -> Iterator[Stack]:
    """The stack in this process; ``options`` are :class:`DevOptions` fields, ``env`` overrides
    the variables the deployables read, ``client_quota`` is the pool's app-client quota,
    ``prepare`` sets up more in the stand-in's moto before the deployables start (secrets) and
    returns more variables; ``facade_options`` go to the façade's ``create_app``; ``adjust``
    rewrites the variables once the ports are known. Any request answered 500 fails the test."""
    dev = DevOptions(port=0, **options)
    with CognitoStandIn(
        resource_binding=dev.resource_binding,
        token_ttl_override=dev.token_ttl,
        client_quota=client_quota,
    ) as standin:
        sock = bound_socket(dev.host)
        port = sock.getsockname()[1]
        env = {
            **stack_environment(dev, standin, port, str(tmp_path / "authproxy.db")),
            **(env or {}),
            **(prepare(standin) if prepare else {}),
        }
        if adjust is not None:
            env = adjust(env)
        saved = {k: os.environ.get(k) for k in FAKE_AWS}
        os.environ.update(FAKE_AWS)
        app = StatusRecorder(build_app(env, **(facade_options or {})))
        try:
            with serve(app, sock):
                yield Stack(env=env, standin=standin)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        failed = [path for path, status in app.statuses if status == 500]
        assert not failed, f"the stack answered 500 on {failed}"
