"""A request's headers, decoded once per request and shared by every layer through its ASGI scope.

Each of the request's layers (request id, bearer authentication, session binding, transport)
looks up a few headers; Starlette's ``Headers`` decodes and scans the whole list for each lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from starlette.types import Scope

# Where the decoded headers live in the ASGI scope.
_SCOPE_KEY: Final = "servicekit.headers"


def request_headers(scope: Scope) -> Mapping[str, str]:
    """The request's headers by their (ASGI: lower-case) names, latin-1 decoded; of a repeated
    header the first, as ``starlette.datastructures.Headers.get`` reads it. Built on first use and
    kept in ``scope``: no layer changes a request's headers."""
    held = scope.get(_SCOPE_KEY)
    if held is None:
        held = {}
        for name, value in scope["headers"]:
            held.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        scope[_SCOPE_KEY] = held
    return held
