"""``whoami``: the caller as the verified access token describes them."""

from __future__ import annotations

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel

WHOAMI_ANNOTATIONS = ToolAnnotations(
    title="Who am I",
    read_only_hint=True,
    destructive_hint=False,
    idempotent_hint=True,
    open_world_hint=False,
)


class Identity(BaseModel):
    subject: str | None
    username: str | None
    groups: list[str]
    client_id: str
    scopes: list[str]
    resource: str | None


async def whoami() -> Identity:
    """The signed-in user and client as this server sees them: subject, username, groups,
    client id, granted scopes and the resource the token is bound to."""
    # A coroutine: it only reads the verified token, so the SDK runs it on the event loop instead
    # of handing it to a worker thread (a sync tool costs a thread hop per call).
    token = get_access_token()
    if token is None:
        raise ToolError("This request carries no verified access token.")
    claims = token.claims or {}
    groups = claims.get("cognito:groups")
    return Identity(
        subject=token.subject,
        username=claims.get("username"),
        groups=[str(g) for g in groups] if isinstance(groups, list) else [],
        client_id=token.client_id,
        scopes=token.scopes,
        resource=token.resource,
    )


def register(server: MCPServer) -> None:
    """Add ``whoami`` to ``server``."""
    server.tool(annotations=WHOAMI_ANNOTATIONS)(whoami)
