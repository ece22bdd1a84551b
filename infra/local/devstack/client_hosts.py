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
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

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
    ``AUTHPROXY_CIMD_ALLOW_LOOPBACK`` admits there), any other name does not resolve."""
    if host not in hosts():
        raise socket.gaierror(f"{host} is not one of the local stack's client hosts")
    return ["127.0.0.1"]


def transport() -> httpx.AsyncBaseTransport:
    """The façade's fetch in the local stack, answered in-process by :func:`document_app`."""
    return httpx.ASGITransport(app=document_app())
