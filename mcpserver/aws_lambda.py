"""Serving the application to AWS Lambda: API Gateway HTTP API (payload v2), Lambda Function URL
and Application Load Balancer events, through Mangum.

The application's lifespan (the SDK's session managers) is entered once per execution environment,
in the init phase, with Mangum's own lifespan cycle on the event loop Mangum serves every invocation
on, and never left: Lambda ends the environment, not the application. Mangum itself runs no
lifespan per invocation, which cost warm invocations a startup and a shutdown each (and fresh SDK
session managers, which can run only once: python-sdk #3121). Then the first requests of every
protocol revision are rehearsed (:mod:`mcpserver.rehearsal`), so a SnapStart snapshot holds what the
first tool call would otherwise import, build and run cold.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from mangum import Mangum
from mangum.protocols.lifespan import LifespanCycle

from mcpserver.app import create_app, keep_from_collector
from mcpserver.rehearsal import rehearse
from mcpserver.settings import Settings
from servicekit.keys import run_after_restore

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def without_stage(event: dict[str, Any], mcp_path: str) -> dict[str, Any]:
    """The event with its API Gateway stage prefix removed from the path, if it has one.

    An HTTP API on a named stage delivers ``/<stage>/mcp``; when ``MCP_URL`` itself does not
    include the stage (a custom domain mapped to the stage), the application expects ``/mcp``.
    The ``$default`` stage and Function URLs carry no prefix.
    """
    context = event.get("requestContext", {})
    stage = context.get("stage")
    if not stage or stage == "$default":
        return event
    prefix = f"/{stage}"
    path = context.get("http", {}).get("path", "")
    if not path.startswith(f"{prefix}/") or mcp_path.startswith(f"{prefix}/"):
        return event
    http = {**context["http"], "path": path.removeprefix(prefix)}
    raw_path = event.get("rawPath", "")
    return {
        **event,
        "rawPath": raw_path.removeprefix(prefix) if raw_path.startswith(f"{prefix}/") else raw_path,
        "requestContext": {**context, "http": http},
    }


# Event-loop turns the tasks of the rehearsed requests may take to wind down.
_SETTLE_TURNS = 100


async def _settled(running: set[asyncio.Task[Any]]) -> None:
    """Yield to the loop until no task but ``running`` (and this one) is left, a bounded number
    of times."""
    for _ in range(_SETTLE_TURNS):
        if not asyncio.all_tasks() - running - {asyncio.current_task()}:
            return
        await asyncio.sleep(0)


class LambdaApp:
    """The Lambda handler: ``create_app(settings)`` behind Mangum, started when it is built.

    The lifespan is entered, and the first requests rehearsed, on the event loop Mangum serves
    invocations on; a host that replaced that loop gets the application started again on the new
    one.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.adapter = Mangum(self.app, lifespan="off")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ensure_started()
        # The snapshot holds the key set fetched at init, and may be restored weeks later: the
        # set is fetched again right after a restore, so a key the issuer removed meanwhile
        # verifies nothing (as the session keys are read again: servicekit.keys).
        run_after_restore(self._reload_keys)

    def _reload_keys(self) -> None:
        assert self._loop is not None
        self._loop.run_until_complete(self.app.state.keys.reload())

    def _ensure_started(self) -> None:
        loop = asyncio.get_event_loop()
        if loop is self._loop:
            return
        LifespanCycle(self.app, "on").__enter__()
        running = asyncio.all_tasks(loop)
        # The issuer's key set, fetched now rather than by the first call: a SnapStart snapshot
        # holds it (a failed fetch is left for the first request to retry).
        loop.run_until_complete(self.app.state.keys.load())
        if self.settings.rehearse:
            rehearse(self.settings, self.app.state.transport)
            # The SDK's per-request server tasks wind down after their answers; let them finish
            # now rather than in the first invocation.
            loop.run_until_complete(_settled(running))
            # The lifespan kept the build from the collector; the rehearsal's objects now too
            # (collecting the whole build only now would leave the first call a cold cache).
            keep_from_collector()
        self._loop = loop

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self._ensure_started()
        return self.adapter(without_stage(event, self.settings.path), context)


def build_handler(settings: Settings) -> LambdaHandler:
    """A Lambda handler serving ``create_app(settings)``, started before it returns."""
    return LambdaApp(settings)
