"""The flight recorder: what each request of a sign-in says about itself (design D12).

A sign-in is one ``flow_id``, minted at ``/authorize`` and carried in everything the façade seals
for it — the consent form, the ``state`` sent to Cognito, the wrapped code and the wrapped refresh
token — so the consent, the callback, the token exchange and every later refresh name the same
flow. Each endpoint notes its ``step`` and facts (client id, flow id, the OAuth error it answered,
the user and the Cognito ``origin_jti`` once tokens are issued) on the request; the access-log line
(:class:`servicekit.logs.RequestLogMiddleware`) carries them, and ``authproxy trace`` rebuilds a
timeline from those lines. The MCP server logs the ``origin_jti`` of each token it accepts, which
joins its calls to the sign-in. Identifiers only: nothing noted is a credential.

The same moments are counted as CloudWatch metrics (:mod:`servicekit.metrics`).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from joserfc.errors import JoseError
from joserfc.jws import extract_compact
from starlette.requests import Request
from starlette.types import Scope

from servicekit.metrics import Metrics

METRICS = Metrics("authproxy")
_KEY = "authproxy.flight"
#: The most of a request-supplied value noted on an access-log line.
MAX_NOTED = 64


def new_flow_id() -> str:
    return secrets.token_hex(8)


def note(request: Request, **facts: Any) -> None:
    """Facts about this request for its access-log line; ``None`` values are left out."""
    flight = request.scope.setdefault("state", {}).setdefault(_KEY, {})
    flight.update({k: v for k, v in facts.items() if v is not None})


def access_fields(scope: Scope) -> dict[str, Any]:
    """What the endpoints noted, for the access-log line (``RequestLogMiddleware`` describe)."""
    return dict(scope.get("state", {}).get(_KEY, {}))


def token_facts(access_token: object) -> dict[str, Any]:
    """The user and the sign-in (``origin_jti``) a Cognito access token names, for the log.

    Read without verifying the signature: the token has just come from Cognito's token endpoint
    over TLS, and only identifiers are taken from it. A token that is not a JWS gives nothing.
    """
    if not isinstance(access_token, str):
        return {}
    try:
        claims = json.loads(extract_compact(access_token.encode()).payload)
    except (JoseError, ValueError, UnicodeError):
        return {}
    if not isinstance(claims, dict):
        return {}
    return {
        "user": claims.get("username") or claims.get("sub"),
        "origin_jti": claims.get("origin_jti") or claims.get("jti"),
    }


def sign_in_failed(request: Request, reason: str, error: str | None = None) -> None:
    """A sign-in that ends here without a code: noted and counted by ``reason``, which is always
    one of the callers' own words; ``error`` may come from the request (Cognito's ``error`` at
    ``/callback``), so it goes to the log only, cut short, and never becomes a metric dimension."""
    note(request, error=(error or reason)[:MAX_NOTED])
    METRICS.emit("SignInsFailed", Reason=reason)
