"""Request input, read once, bounded and checked as text: form-encoded bodies (RFC 6749 §3.2,
HTML forms), JSON bodies (RFC 7591 §3.1) and query strings (RFC 6749 §3.1). Each endpoint decides
which OAuth error or page a bad input is.

Every string that comes out of here is well-formed Unicode without NUL (:mod:`servicekit.text`):
the bytes must be UTF-8 (RFC 8259 §8.1; RFC 3986 §2.5 for percent-encoded octets), and no JSON
escape may leave a lone surrogate. Nothing downstream (stores, Cognito, response encoding, logs)
then meets text it cannot encode.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.datastructures import QueryParams
from starlette.requests import Request

from servicekit import text
from servicekit.bodies import BodyTooLarge, read_bounded


class BadBody(ValueError):
    """The input is too large, not what its content type says, or not well-formed text."""


async def read(request: Request, limit: int) -> bytes:
    """The whole body, refused as soon as it passes ``limit`` bytes (nothing larger is held)."""
    try:
        return await read_bounded(request.stream(), limit)
    except BodyTooLarge as exc:
        raise BadBody(str(exc)) from None


def json_value(raw: bytes) -> object:
    """The JSON value of a UTF-8 body (empty: null) whose strings are all well formed."""
    try:
        # Decoded strictly first: json.loads would let UTF-8-encoded surrogates through.
        value = json.loads(raw.decode("utf-8") or "null", parse_constant=_not_json)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BadBody("the request body is not JSON in UTF-8") from None
    if not text.json_well_formed(value):
        raise BadBody(f"the request body is not acceptable: {text.PROBLEM}")
    return value


def _not_json(constant: str) -> object:
    """Python's JSON decoder accepts NaN and ±Infinity, which RFC 8259 §6 does not."""
    raise ValueError(f"{constant} is not a JSON value")


def _pairs(encoded: bytes, what: str) -> list[tuple[str, str]]:
    """``application/x-www-form-urlencoded`` pairs, percent-decoded as strict UTF-8."""
    try:
        pairs = parse_qsl(
            encoded.decode("utf-8"), keep_blank_values=True, max_num_fields=100, errors="strict"
        )
    except ValueError:  # too many fields, or not UTF-8 (before or after percent-decoding)
        raise BadBody(f"the {what} is not form-encoded UTF-8") from None
    if not all(text.well_formed(key) and text.well_formed(value) for key, value in pairs):
        raise BadBody(f"the {what} is not acceptable: {text.PROBLEM}")
    return pairs


def form_fields(raw: bytes) -> dict[str, str]:
    """The fields of a form-encoded body; repeating one is an error (RFC 6749 §3.1)."""
    fields: dict[str, str] = {}
    for key, value in _pairs(raw, "request body"):
        if key in fields:
            raise BadBody(f"{key} must not be repeated")
        fields[key] = value
    return fields


def query(request: Request) -> QueryParams:
    """The query parameters, repeats kept (the endpoint decides whether one may repeat).

    Starlette's own ``request.query_params`` replaces invalid UTF-8 with U+FFFD and passes NUL.
    """
    return QueryParams(_pairs(request.scope.get("query_string", b""), "query string"))


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()
