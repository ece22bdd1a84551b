"""Structured JSON logs, one object per line, each carrying the id of the request it belongs to.

Log records never contain tokens, session ids, secrets or request bodies: callers log outcomes
and identifiers (subject, client id, tool name), not credentials.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: ContextVar[str | None] = ContextVar("mcpserver_request_id", default=None)

# Headers a front door sets to identify the request; the first one present is reused so logs of
# API Gateway, CloudFront and this server can be joined.
_REQUEST_ID_HEADERS = ("x-request-id", "x-amzn-requestid", "x-amzn-trace-id")
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

access_log = logging.getLogger("mcpserver.access")


class JSONFormatter(logging.Formatter):
    """Render a record as one JSON object: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        document.update(
            (key, value) for key, value in record.__dict__.items() if key not in _RESERVED
        )
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def configure(level: str) -> None:
    """Write this package's logs, and the MCP SDK's and Mangum's warnings, to stderr as JSON.

    The SDK and Mangum log every lifespan start and stop at INFO, which on Lambda is every
    invocation; only their warnings and errors are kept, unless ``level`` is DEBUG.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    library_level = level if level == "DEBUG" else "WARNING"
    for name, logger_level in (
        ("mcpserver", level),
        ("mcp", library_level),
        ("mangum", library_level),
    ):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(logger_level)
        # The host (uvicorn, the Lambda runtime, a dev stack) may log the root logger its own way;
        # these records are already written once, as JSON.
        logger.propagate = False


def _request_id(scope: Scope) -> str:
    """Lambda's request id when Mangum serves the request, else the front door's, else a new one."""
    lambda_context = scope.get("aws.context")
    if getattr(lambda_context, "aws_request_id", None):
        return str(lambda_context.aws_request_id)
    headers = Headers(scope=scope)
    found = next((headers[name] for name in _REQUEST_ID_HEADERS if name in headers), None)
    return found[:128] if found else uuid.uuid4().hex


class RequestLogMiddleware:
    """ASGI middleware that assigns the request id and writes one access log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = request_id_var.set(_request_id(scope))
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            user = scope.get("user")
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "subject": getattr(getattr(user, "access_token", None), "subject", None),
                },
            )
            request_id_var.reset(token)
