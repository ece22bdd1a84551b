"""The bytes-level shortcut of the well-formed-text check never vouches for a bad string."""

from __future__ import annotations

import json

from hypothesis import example, given
from hypothesis import strategies as st

from resourcekit.jsonrpc import NOT_JSON, decode
from servicekit import text

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
UTF_16_32 = ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"]


@given(
    st.one_of(
        st.binary(max_size=200),
        JSON.map(lambda v: json.dumps(v).encode()),
        JSON.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
        # json.loads reads UTF-16 and UTF-32 too (RFC 8259 §8.1 leaves them to closed systems),
        # guessing the encoding from NUL bytes: ASCII bytes, and "\\u" never adjacent.
        st.tuples(JSON, st.sampled_from(UTF_16_32)).map(
            lambda v: json.dumps(v[0]).encode(v[1], "surrogatepass")
        ),
    )
)
@example(b'{"a": "\\ud800"}')
@example(b'["\\u0000"]')
@example('["\ud800"]'.encode("utf-8", "surrogatepass"))
@example(b'["\\\\u0000"]')
@example('["\\u0000"]'.encode("utf-16-le"))
@example('["\\ud800"]'.encode("utf-32-be"))
def test_the_bytes_shortcut_agrees_with_the_walk(body: bytes) -> None:
    decoded = decode(body)
    if decoded is not NOT_JSON and text.json_text_surely_well_formed(body):
        assert text.json_well_formed(decoded)


def test_the_bytes_shortcut_leaves_escapes_and_non_ascii_to_the_walk() -> None:
    assert text.json_text_surely_well_formed(b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}')
    assert not text.json_text_surely_well_formed(b'{"a": "\\u0041"}')
    assert not text.json_text_surely_well_formed('{"a": "é"}'.encode())


def test_rfc8259_8_1_json_in_utf_16_or_32_is_left_to_the_walk() -> None:
    """An escaped NUL or lone surrogate in a UTF-16 or UTF-32 text is ASCII bytes with NULs
    between the backslash and the ``u``: the shortcut must not vouch for it."""
    for encoding in UTF_16_32:
        for escaped in ('["\\u0000"]', '["\\ud800"]'):
            body = escaped.encode(encoding)
            assert not text.json_text_surely_well_formed(body), (encoding, escaped)
            assert not text.json_well_formed(decode(body))
