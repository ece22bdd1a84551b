"""Structured JSON logs, one object per line, each carrying the id of its request.

Fields: ``time``, ``level``, ``logger``, ``message``, ``request_id`` and whatever the call passed
as ``extra``. The access log records method, path, status and duration, never the query string,
headers or body, where codes, state and tokens travel. Callers log outcomes and identifiers, never
credentials.

Only the deployable's own loggers follow its log level. Libraries log what passes through them at
DEBUG (botocore whole response bodies, a backing client's ``ClientSecret`` among them; httpcore
headers; the MCP SDK messages; uvicorn's access log query strings), so they are held to warnings
at every level, and the root logger is never configured: a host that configures it (or a library
that calls ``logging.basicConfig``) cannot turn them up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.headers import request_headers

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# Headers a front door sets to identify the request; the first present is reused, so the logs of
# the load balancer, the gateway and the function can be joined.
REQUEST_ID_HEADERS = ("x-request-id", "x-amzn-requestid", "x-amzn-trace-id")


def _json_answer(
    status: int, payload: dict[str, str], *extra: tuple[bytes, bytes]
) -> list[Message]:
    """The ASGI messages of a complete JSON answer, for answers this layer gives itself."""
    body = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *extra,
    ]
    return [
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    ]


_SERVER_ERROR = _json_answer(
    500, {"error": "server_error", "error_description": "unexpected error; quote the X-Request-Id"}
)
_BAD_HOST = _json_answer(
    400,
    {
        "error": "invalid_request",
        "error_description": "a request carries exactly one Host header (RFC 9112, section 3.2)",
    },
    (b"connection", b"close"),
)
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JSONFormatter(logging.Formatter):
    """Render a record as one JSON object."""

    def __init__(self) -> None:
        super().__init__()
        # The second a line was written in, formatted once per second (strftime is the costliest
        # part of a line): (whole second, "<date>T<time>", "<utc offset>").
        self._second: tuple[int, str, str] = (-1, "", "")

    def _time(self, record: logging.LogRecord) -> str:
        """``%Y-%m-%dT%H:%M:%S.<ms>%z`` in local time, as :meth:`formatTime` would write it."""
        second = int(record.created)
        if second != self._second[0]:
            moment = self.converter(record.created)
            self._second = (
                second,
                time.strftime("%Y-%m-%dT%H:%M:%S", moment),
                time.strftime("%z", moment),
            )
        return f"{self._second[1]}.{int(record.msecs):03d}{self._second[2]}"

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            # Milliseconds: lines of one sign-in from two deployables interleave within a second.
            "time": self._time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
        }
        document.update((k, v) for k, v in record.__dict__.items() if k not in _RESERVED)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


# Libraries either deployable runs on whose DEBUG (or INFO) records carry request or response
# bodies, headers or URLs with query strings. A logger's children follow it unless given a level
# of their own; uvicorn's are named because uvicorn.Config sets levels on them.
LIBRARIES = (
    "authlib",
    "boto3",
    "botocore",
    "httpcore",
    "httpx",
    "mangum",
    "mcp",
    "s3transfer",
    "sse_starlette",
    "urllib3",
    "uvicorn",
    "uvicorn.access",
    "uvicorn.asgi",
    "uvicorn.error",
)


# Files every configured logger also writes to (``--log-file`` of ``authproxy serve`` and ``dev``).
_ALSO: list[logging.Handler] = []


def also_write_to(path: str) -> None:
    """Append every JSON line to the file at ``path`` too, for loggers configured before or after
    (``authproxy trace --log-file`` reads it)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JSONFormatter())
    _ALSO.append(handler)
    for logger in logging.Logger.manager.loggerDict.values():
        if isinstance(logger, logging.Logger) and _ours(logger):
            logger.handlers = [*logger.handlers, handler]


def _ours(logger: logging.Logger) -> bool:
    return any(isinstance(h.formatter, JSONFormatter) for h in logger.handlers)


def configure(package: str, level: str) -> None:
    """Write ``package``'s records at ``level``, and the :data:`LIBRARIES`' warnings, to stderr as
    JSON, whatever the root logger is set to. Idempotent: a warm Lambda or a test may call it again.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    for name, logger_level in ((package, level), *((lib, "WARNING") for lib in LIBRARIES)):
        logger = logging.getLogger(name)
        logger.handlers = [handler, *_ALSO]
        logger.setLevel(logger_level)
        # The host (uvicorn, the Lambda runtime, the dev stack) may log the root logger its own
        # way and at its own level; these records are written once, as JSON, at the level set here.
        logger.propagate = False


@contextlib.contextmanager
def root_logger_kept() -> Iterator[None]:
    """Undo whatever the block does to the root logger's handlers and level.

    The MCP SDK's ``MCPServer`` calls ``logging.basicConfig`` when it is constructed, which on a
    fresh process (Lambda, ``authproxy serve``) installs a handler on the root logger at the SDK's
    log level: every library without a level of its own then logs there.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for added in [h for h in root.handlers if h not in handlers]:
            added.close()
        root.handlers = handlers
        root.setLevel(level)


def _request_id(scope: Scope) -> str:
    """Lambda's request id under Mangum, else the front door's, else a new one."""
    lambda_context = scope.get("aws.context")
    if getattr(lambda_context, "aws_request_id", None):
        return str(lambda_context.aws_request_id)
    headers = request_headers(scope)
    found = next((headers[name] for name in REQUEST_ID_HEADERS if name in headers), "")
    cleaned = "".join(ch for ch in found[:128] if ch.isalnum() or ch in "-_.:=;")
    return cleaned or uuid.uuid4().hex


def one_host(scope: Scope) -> bool:
    """RFC 9112 §3.2: an HTTP/1.1 request has exactly one ``Host`` field line. httptools (under
    uvicorn) passes on a request with none or several, and layers that read the first (the MCP
    SDK's DNS-rebinding check) would judge a different host than a proxy that read the last."""
    if scope.get("http_version") != "1.1":
        return True  # HTTP/1.0 may omit it; HTTP/2 and later carry ":authority"
    return sum(1 for name, _ in scope["headers"] if name == b"host") == 1


class RequestLogMiddleware:
    """Assigns the request id, returns it as ``X-Request-Id``, and writes one access log line.

    As the first layer every request meets, it also refuses (400) an HTTP/1.1 request without
    exactly one ``Host`` header (:func:`one_host`).

    ``describe`` adds fields of the caller's choosing (e.g. the authenticated subject) from the
    ASGI scope once the request is answered.
    """

    def __init__(
        self,
        app: ASGIApp,
        logger: str,
        describe: Callable[[Scope], dict[str, Any]] | None = None,
    ) -> None:
        self.app = app
        self.log = logging.getLogger(logger)
        self.describe = describe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            if one_host(scope):
                await self.app(scope, receive, send_with_id)
            else:
                for message in _BAD_HOST:
                    await send_with_id(dict(message))
        except Exception:
            # A bug: logged here, with the request id, and answered without a trace; the id in
            # the answer finds the log line.
            self.log.exception("unhandled error")
            if not status:
                for message in _SERVER_ERROR:
                    await send_with_id(dict(message))
            status = status or 500
        finally:
            self.log.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    **(self.describe(scope) if self.describe else {}),
                },
            )
            request_id.reset(token)
