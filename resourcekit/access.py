"""What a resource server's access-log line says about each request (design D14).

The line names the caller (subject and user), the backing client and the ``origin_jti`` of the
accepted token — the identifier of the sign-in that produced it, which the façade logged at
``/token``, so ``authproxy trace`` can join MCP calls to their sign-in — and the JSON-RPC method
and tool when known. Refusals carry their reason and are counted as metrics. Identifiers only:
the token itself is never logged.
"""

from __future__ import annotations

from typing import Any

from starlette.types import Scope

from servicekit.metrics import Metrics

# Hosted by the MCP server and the gateway alike, both of which configure resourcekit's logs.
METRICS = Metrics("mcpserver", package="resourcekit")
_KEY = "resourcekit.access"


def note(scope: Scope, **facts: Any) -> None:
    """Facts about this request for its access-log line; ``None`` values are left out."""
    noted = scope.setdefault("state", {}).setdefault(_KEY, {})
    noted.update({k: v for k, v in facts.items() if v is not None})


def refused(scope: Scope, status: int, reason: str) -> None:
    """A request refused before the protected app: noted and counted by status and reason."""
    note(scope, reason=reason)
    METRICS.emit("AuthRefusals", Status=str(status), Reason=reason)


def access_fields(scope: Scope) -> dict[str, Any]:
    """The access-log fields of a request to a resource server (``RequestLogMiddleware``)."""
    fields: dict[str, Any] = {"step": "mcp"}
    token = getattr(scope.get("user"), "access_token", None)
    if token is not None:
        claims = getattr(token, "claims", None) or {}
        fields.update(
            subject=token.subject,
            user=claims.get("username"),
            client_id=token.client_id,
            origin_jti=claims.get("origin_jti") or claims.get("jti"),
        )
    fields.update(scope.get("state", {}).get(_KEY, {}))
    return fields
