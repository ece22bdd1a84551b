"""Peer for the side-by-side bench: the bare ``mcp`` 2.3.0 SDK server with a joserfc verifier.

Runs in its own virtual environment (``requirements-sdk.txt``); ``app`` is served by uvicorn,
``handler`` is the Lambda entry point through Mangum. Configured from the environment the bench
sets for all three systems: ``MCP_URL``, ``COGNITO_ISSUER`` and ``MCP_JWKS_FILE``. The verifier
checks what a minimal Cognito access-token check does (RFC 9068 §4 subset): RS256 signature by a
key of the set, issuer, expiry, ``token_use`` and the required scope. Stateless and JSON
responses, like ours.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from mangum import Mangum
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

MCP_URL = os.environ["MCP_URL"]
ISSUER = os.environ["COGNITO_ISSUER"]
SCOPE = f"{MCP_URL}/read"


class JoseVerifier:
    """The SDK's ``TokenVerifier`` protocol over a static JWK Set."""

    def __init__(self, jwks_file: str) -> None:
        self.keys = KeySet.import_key_set(json.loads(Path(jwks_file).read_text()))

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            claims = jwt.decode(token, self.keys, algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            return None
        if claims.get("iss") != ISSUER or claims.get("token_use") != "access":
            return None
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
            return None
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id", "")),
            scopes=str(claims.get("scope", "")).split(),
            expires_at=claims["exp"],
            subject=claims.get("sub"),
        )


server = MCPServer(
    "sdk-peer",
    token_verifier=JoseVerifier(os.environ["MCP_JWKS_FILE"]),
    auth=AuthSettings(issuer_url=ISSUER, resource_server_url=MCP_URL, required_scopes=[SCOPE]),
)


@server.tool()
def echo(text: str) -> str:
    """Return ``text``."""
    return text


app = server.streamable_http_app(
    streamable_http_path=urlsplit(MCP_URL).path,
    stateless_http=True,
    json_response=True,
    transport_security=TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=[urlsplit(MCP_URL).netloc]
    ),
)
handler = Mangum(app, lifespan="auto")
