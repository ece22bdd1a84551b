"""Request bodies, read once and bounded: form-encoded (RFC 6749 §3.2, HTML forms) and JSON
(RFC 7591 §3.1). Each endpoint decides which OAuth error a bad body is."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.requests import Request

from servicekit.bodies import BodyTooLarge, read_bounded


class BadBody(ValueError):
    """The body is too large, or not what its content type says."""


async def read(request: Request, limit: int) -> bytes:
    """The whole body, refused as soon as it passes ``limit`` bytes (nothing larger is held)."""
    try:
        return await read_bounded(request.stream(), limit)
    except BodyTooLarge as exc:
        raise BadBody(str(exc)) from None


def json_value(raw: bytes) -> object:
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadBody("the request body is not JSON") from None


def form_fields(raw: bytes) -> dict[str, str]:
    """``application/x-www-form-urlencoded`` fields; repeating one is an error (RFC 6749 §3.1)."""
    try:
        pairs = parse_qsl(raw.decode(), keep_blank_values=True, max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        raise BadBody("the request body is not form-encoded") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            raise BadBody(f"{key} must not be repeated")
        fields[key] = value
    return fields


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()
