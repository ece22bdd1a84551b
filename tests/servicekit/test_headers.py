"""servicekit.headers: one decoding of a request's headers, read as Starlette reads them."""

from starlette.datastructures import Headers

from servicekit.headers import request_headers


def test_headers_read_as_starlette_reads_them_and_are_decoded_once() -> None:
    raw = [
        (b"host", b"mcp.example.com"),
        (b"x-request-id", b"first"),
        (b"x-request-id", b"second"),
        (b"x-note", "caf\u00e9".encode("latin-1")),
    ]
    scope = {"type": "http", "headers": raw}
    headers = request_headers(scope)
    starlette = Headers(scope=scope)
    for name in ("host", "x-request-id", "x-note", "absent"):
        assert headers.get(name) == starlette.get(name)
    assert request_headers(scope) is headers
