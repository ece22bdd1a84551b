"""The web hosts of the MCP clients that identify themselves by a Client ID Metadata Document
(Claude.ai, Claude Code, VS Code), for the local stack.

On AWS the façade fetches ``https://claude.ai/oauth/mcp-oauth-client-metadata`` and its kin from
the clients' own hosts. The local stack works offline, so it serves its own copies of those
documents (``clients/*.json``, written from the clients' public documentation, not copied from
the live documents), the way the Cognito stand-in serves Cognito: ``authproxy dev`` hands the
façade a resolver that sends these host names, and only these, to loopback and a transport that
answers from the copies. No setting reaches either (``authproxy.app.create_app``'s
``cimd_resolver`` and ``cimd_transport``); a deployment always fetches the real documents. The
end-to-end tests serve the same copies over real HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from authproxy.cimd import system_resolver

DOCUMENTS_DIR = Path(__file__).parent / "clients"


def documents() -> dict[tuple[str, str], dict[str, Any]]:
    """Each document by the host and path of its ``client_id`` URL."""
    found = {}
    for path in sorted(DOCUMENTS_DIR.glob("*.json")):
        document = json.loads(path.read_text())
        url = urlsplit(document["client_id"])
        found[(url.hostname or "", url.path)] = document
    return found


def hosts() -> frozenset[str]:
    return frozenset(host for host, _ in documents())


def document_app() -> Starlette:
    """The clients' hosts as one app: the document at its client id's path, chosen by ``Host``."""
    served = documents()

    async def document(request: Request) -> Response:
        found = served.get((request.headers.get("host", "").split(":")[0], request.url.path))
        if found is None:
            return Response(status_code=404)
        return JSONResponse(found, headers={"Cache-Control": "max-age=300"})

    return Starlette(routes=[Route("/{path:path}", document, methods=["GET"])])


async def resolve(host: str, port: int) -> list[str]:
    """The façade's resolver in the local stack: the client hosts are on loopback (which
    ``AUTHPROXY_CIMD_ALLOW_LOOPBACK`` admits there); any other name resolves as usual, and the
    façade's address check judges it as it would anywhere."""
    if host in hosts():
        return ["127.0.0.1"]
    return await system_resolver(host, port)


class _Transport(httpx.AsyncBaseTransport):
    """The client hosts' documents in-process; anything else over the network as usual."""

    def __init__(self) -> None:
        self._documents = httpx.ASGITransport(app=document_app())
        self._network = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        ours = request.headers.get("host", "").split(":")[0] in hosts()
        return await (self._documents if ours else self._network).handle_async_request(request)

    async def aclose(self) -> None:
        await self._network.aclose()


def transport() -> httpx.AsyncBaseTransport:
    """The façade's fetch in the local stack: the client hosts answered in-process by
    :func:`document_app`, other hosts fetched for real."""
    return _Transport()
