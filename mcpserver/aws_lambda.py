"""Serving the application to AWS Lambda: API Gateway HTTP API (payload v2), Lambda Function URL
and Application Load Balancer events, through Mangum.

Mangum runs the application's lifespan around every invocation, and the transport takes fresh SDK
session managers each time, so warm invocations never meet the SDK's run-once guard
(python-sdk #3121).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mangum import Mangum

from mcpserver.app import create_app
from mcpserver.settings import Settings

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


def build_handler(settings: Settings) -> LambdaHandler:
    """A Lambda handler serving ``create_app(settings)``."""
    adapter = Mangum(create_app(settings), lifespan="auto")

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return adapter(without_stage(event, settings.path), context)

    return handle
