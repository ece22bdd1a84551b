"""Well-formed text: what both deployables accept in any string a request carries.

JSON texts are UTF-8 (RFC 8259 §8.1), but a JSON string may still escape a lone UTF-16 surrogate
(``"\\ud800"``), which RFC 8259 §8.2 leaves with unpredictable behaviour: Python decodes it, and
the value then cannot be encoded again, so a stored registration or a logged field holding one
fails later, far from the request that brought it. NUL is refused too: no OAuth or MCP value
needs it, and C-string consumers (Cognito, SQLite's text functions) truncate at it.
"""

from __future__ import annotations

import unicodedata

PROBLEM = "strings must be well-formed Unicode without NUL"


def well_formed(text: str) -> bool:
    """Whether ``text`` is a sequence of Unicode scalar values (no lone surrogate) without NUL."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")  # strict: a surrogate code point cannot be encoded
    except UnicodeEncodeError:
        return False
    return True


def json_text_surely_well_formed(body: bytes) -> bool:
    """Whether the strings of the JSON text ``body`` are well formed, judged from its bytes alone.

    ASCII without a ``\\u`` escape cannot decode to a surrogate or to NUL: apart from ``\\u``
    escapes a JSON string holds its characters as they are, and a control character may appear in
    one only escaped (RFC 8259 §7). That holds for UTF-8 only: ``json.loads`` (and the SDK's
    2026-07-28 path with it) reads a text with NUL bytes as UTF-16 or UTF-32, where an escape is
    ASCII bytes with a NUL between the backslash and the ``u``; a UTF-8 text holds no NUL byte.
    False means only that :func:`json_well_formed` must walk the decoded value.
    """
    return body.isascii() and b"\\u" not in body and b"\x00" not in body


def json_well_formed(value: object) -> bool:
    """Whether every string in a decoded JSON value, member names included, is well formed.

    Walks with an explicit stack: a value as deep as ``json.loads`` allows must not exhaust the
    recursion limit here.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not well_formed(item):
                return False
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def inert(text: str) -> str:
    """``text`` for a terminal, with every control, format or unassigned character escaped.

    Operator tools print what clients chose (a registration's ``client_name``, a ``client_id`` or
    a relayed ``error`` in the logs, the answers of a deployment under check): printed raw, an
    escape sequence, newline or bidi override would draw what its author wanted on the
    operator's screen, or write to the clipboard (OSC 52)."""
    return "".join(
        ch if unicodedata.category(ch)[0] != "C" else ch.encode("unicode_escape").decode()
        for ch in text
    )
