"""Peer for the side-by-side bench: FastMCP 4.1.2 with its own JWT verifier and one ``echo`` tool.

Runs in its own virtual environment (``requirements-fastmcp.txt``); ``app`` is served by uvicorn,
``handler`` is the Lambda entry point through Mangum. Configured from the environment the bench
sets for all three systems: ``MCP_URL``, ``COGNITO_ISSUER`` and ``BENCH_PUBLIC_KEY_FILE`` (the PEM
form of the key in ``MCP_JWKS_FILE``; FastMCP's verifier takes a PEM key or a JWKS URL). Stateless
and JSON responses, like ours.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from fastmcp import FastMCP
from fastmcp.server.auth.providers.jwt import JWTVerifier
from mangum import Mangum

MCP_URL = os.environ["MCP_URL"]

server = FastMCP(
    "fastmcp-peer",
    auth=JWTVerifier(
        public_key=Path(os.environ["BENCH_PUBLIC_KEY_FILE"]).read_text(),
        issuer=os.environ["COGNITO_ISSUER"],
        algorithm="RS256",
        required_scopes=[f"{MCP_URL}/read"],
    ),
)


@server.tool
def echo(text: str) -> str:
    """Return ``text``."""
    return text


app = server.http_app(
    path=urlsplit(MCP_URL).path,
    stateless_http=True,
    json_response=True,
    allowed_hosts=[urlsplit(MCP_URL).netloc],
)
handler = Mangum(app, lifespan="auto")
