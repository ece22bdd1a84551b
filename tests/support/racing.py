"""Races, made deterministic: the real façade over HTTP with a registration store that holds a
chosen call until the test lets it go (design D9).

``facade(tmp_path, kind)`` runs the façade (``create_app``) on 127.0.0.1 against the Cognito
stand-in, its store SQLite or DynamoDB (on the stand-in's moto). The façade's store is wrapped in
a :class:`HeldStore`; the test holds, say, the ``get_registration`` of one request, does what an
operator or another request would do meanwhile through the unwrapped store, then releases it.
Nothing is replaced: every call still reaches the real store, only later.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import boto3
from botocore.awsrequest import AWSResponse

from authproxy.app import create_app
from authproxy.cognito_admin import CognitoAdmin, deployment_mark
from authproxy.settings import Settings
from authproxy.store import Store, open_store
from authproxy.store.dynamodb import DynamoDBStore, create_table
from devstack.cognito import CognitoStandIn
from devstack.stack import FAKE_AWS, DevOptions, stack_environment

from .serving import bound_socket, serve
from .stack import Stack, StatusRecorder

STORES = ("sqlite", "dynamodb")
#: Bounds, never expected to be reached: a held call goes on after this, a wait fails after it.
HOLD_LIMIT = 60.0
WAIT_LIMIT = 60.0


class Gate:
    """Where the held calls of one store method wait for :meth:`release`."""

    def __init__(
        self, method: str, match: Callable[..., bool], calls: int | None, after: bool
    ) -> None:
        self.method = method
        self.match = match
        self.calls = calls  # how many matching calls to hold; None: every one
        self.after = after  # hold once the real call has returned (a read that has happened)
        self.arrived = 0
        self.changed = threading.Condition()
        self._released = threading.Event()

    def takes(self, method: str, args: tuple[Any, ...]) -> bool:
        with self.changed:
            if method != self.method or self._released.is_set() or not self.match(*args):
                return False
            if self.calls is not None and self.arrived >= self.calls:
                return False
            self.arrived += 1
            self.changed.notify_all()
            return True

    def hold(self) -> None:
        self._released.wait(HOLD_LIMIT)

    def wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait until ``condition`` holds; callers that change what it reads call :meth:`poke`."""
        with self.changed:
            assert self.changed.wait_for(condition, timeout=WAIT_LIMIT), f"{self.method}: stuck"

    def wait_arrivals(self, count: int = 1) -> None:
        self.wait_until(lambda: self.arrived >= count)

    def poke(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def release(self) -> None:
        self._released.set()


class HeldStore:
    """A store whose chosen calls wait at a :class:`Gate` before reaching the real store, or
    after it answered."""

    #: A held call blocks its thread: never on the façade's event loop.
    local_reads = False

    def __init__(self, store: Store) -> None:
        self.store = store
        self._gates: list[Gate] = []

    def hold(
        self,
        method: str,
        match: Callable[..., bool] = lambda *args: True,
        calls: int | None = 1,
        *,
        after: bool = False,
    ) -> Gate:
        gate = Gate(method, match, calls, after)
        self._gates.append(gate)
        return gate

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.store, name)
        if not callable(real):
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            gates = [gate for gate in self._gates if gate.takes(name, args)]
            for gate in gates:
                if not gate.after:
                    gate.hold()
            result = real(*args, **kwargs)
            for gate in gates:
                if gate.after:
                    gate.hold()
            return result

        return call


@dataclass
class Facade:
    stack: Stack  # the façade's environment, for the helpers that take a stack
    store: Store  # the real store, as an operator's command opens it
    held: HeldStore  # the same store as the façade sees it
    admin: CognitoAdmin
    standin: CognitoStandIn
    owner: str  # this deployment's owner mark

    @property
    def issuer(self) -> str:
        return self.stack.issuer

    @contextlib.contextmanager
    def writes_failing(self) -> Iterator[None]:
        """Registration updates fail as a busy store fails them: SQLite with "database is
        locked" (another connection holds the write lock, so the façade's waits out its busy
        timeout), DynamoDB with ``ProvisionedThroughputExceededException`` for UpdateItem."""
        if isinstance(self.store, DynamoDBStore):
            events = self.store._db.meta.events
            events.register("before-call.dynamodb.UpdateItem", _throttled)
            try:
                yield
            finally:
                events.unregister("before-call.dynamodb.UpdateItem", _throttled)
            return
        locker = sqlite3.connect(self.stack["AUTHPROXY_STORE"].removeprefix("sqlite:///"))
        try:
            locker.execute("BEGIN IMMEDIATE")
            yield
        finally:
            locker.rollback()
            locker.close()


def _throttled(**kwargs: Any) -> tuple[AWSResponse, dict[str, Any]]:
    """What DynamoDB answers a write over its capacity (a botocore before-call response)."""
    error = {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}
    return AWSResponse("", 400, {}, None), {
        "Error": error,
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }


def dynamodb_client(standin: CognitoStandIn, region: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=standin.endpoint,
        region_name=region,
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
    )


def open_test_store(
    kind: str, tmp_path: Path, standin: CognitoStandIn, region: str
) -> tuple[str, Store]:
    """A fresh store of ``kind``: its ``AUTHPROXY_STORE`` URL and the store itself."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / f'authproxy-{secrets.token_hex(4)}.db'}"
        return url, open_store(url)
    table = f"registrations-{secrets.token_hex(4)}"
    client = dynamodb_client(standin, region)
    create_table(client, table)
    return f"dynamodb://{table}", DynamoDBStore(table, client=client)


@contextlib.contextmanager
def facade(
    tmp_path: Path,
    kind: str,
    env: dict[str, str] | None = None,
    standin: CognitoStandIn | None = None,
    pool: dict[str, str] | None = None,
) -> Iterator[Facade]:
    """The façade on 127.0.0.1 with a ``kind`` store ("sqlite" or "dynamodb"); ``env``
    overrides its variables. Given a running ``standin`` and the ``pool`` variables of another
    façade, it shares that user pool (two deployments, one pool). Any 500 fails the test."""
    with contextlib.ExitStack() as stack:
        if standin is None:
            standin = stack.enter_context(CognitoStandIn())
        sock = bound_socket()
        port = sock.getsockname()[1]
        variables = stack_environment(DevOptions(port=0), standin, port, "unused.db")
        variables.update(pool or {})
        region = variables["AWS_REGION"]
        url, store = open_test_store(kind, tmp_path, standin, region)
        variables.update({"AUTHPROXY_STORE": url, **(env or {})})
        settings = Settings.from_env(variables)
        idp = boto3.client(
            "cognito-idp",
            endpoint_url=standin.endpoint,
            region_name=region,
            aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        )
        admin = CognitoAdmin(settings.user_pool_id, region, client=idp)
        held = HeldStore(store)
        app = StatusRecorder(create_app(settings, store=cast(Store, held), admin=admin))
        with serve(app, sock):
            yield Facade(
                stack=Stack(env=variables, standin=standin),
                store=store,
                held=held,
                admin=admin,
                standin=standin,
                owner=deployment_mark(url, region),
            )
        failed = [path for path, status in app.statuses if status == 500]
        assert not failed, f"the façade answered 500 on {failed}"


def pool_variables(stack: Stack) -> dict[str, str]:
    """The variables naming a stack's user pool, to give a second façade the same pool."""
    names = (
        "USER_POOL_ID",
        "COGNITO_ISSUER",
        "COGNITO_DOMAIN",
        "JWKS_URL",
        "AWS_REGION",
        "AUTHPROXY_RESOURCES",
    )
    return {name: stack[name] for name in names}
