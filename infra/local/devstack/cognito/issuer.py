"""The issuer host's documents: OIDC discovery and the JWKS, at ``/<pool id>/.well-known/…``,
with the faults injected for their paths (``devstack.cognito.faults``).

Real Cognito serves these on ``cognito-idp.<region>.amazonaws.com``, next to the admin API, so the
stand-in serves them on its admin API port, in front of moto (whose own versions are partial).
The discovery document has exactly Cognito's fields: no ``code_challenge_methods_supported`` and
no ``grant_types_supported`` — the gap the façade exists to fill.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from devstack.cognito import userpools
from devstack.cognito.admin import WSGIApp
from devstack.cognito.state import StandInState
from devstack.cognito.tokens import public_jwks

_WELL_KNOWN = re.compile(r"/(?P<pool_id>[\w-]+_[0-9A-Za-z]+)/\.well-known/(?P<document>[\w.-]+)")


def openid_configuration(state: StandInState, pool: userpools.UserPool) -> dict[str, Any]:
    """OIDC Discovery 1.0 §3 metadata as Cognito publishes it for a pool."""
    issuer = state.issuer(pool.pool_id)
    document: dict[str, Any] = {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "token"],
        "scopes_supported": ["openid", "email", "phone", "profile"],
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }
    if pool.domain_prefix is not None:
        domain = state.domain_base
        document |= {
            "authorization_endpoint": f"{domain}/oauth2/authorize",
            "end_session_endpoint": f"{domain}/logout",
            "revocation_endpoint": f"{domain}/oauth2/revoke",
            "token_endpoint": f"{domain}/oauth2/token",
            "userinfo_endpoint": f"{domain}/oauth2/userInfo",
        }
    return dict(sorted(document.items()))


class IssuerDocuments:
    """WSGI middleware answering ``GET /<pool id>/.well-known/{openid-configuration,jwks.json}``."""

    def __init__(self, app: WSGIApp, state: StandInState) -> None:
        self.app = app
        self.state = state

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        match = _WELL_KNOWN.fullmatch(environ.get("PATH_INFO", ""))
        if match is None or environ.get("REQUEST_METHOD") not in {"GET", "HEAD"}:
            return self.app(environ, start_response)
        fault = self.state.faults.take(path=environ.get("PATH_INFO", ""))
        if fault is not None and fault.kind == "delay":
            self.state.faults.stopping.wait(fault.seconds)
        elif fault is not None and fault.kind == "throttle":
            return _json(start_response, "429 Too Many Requests", {"message": "Rate exceeded"})
        elif fault is not None and fault.kind == "error":
            return _json(start_response, "500 Internal Server Error", {"message": "Internal"})
        elif fault is not None:
            return _dropped(start_response)
        pool = userpools.user_pool(match["pool_id"])
        if pool is None or match["document"] not in {"openid-configuration", "jwks.json"}:
            return _json(start_response, "404 Not Found", {"message": "Not Found"})
        if match["document"] == "jwks.json":
            return _json(start_response, "200 OK", public_jwks())
        return _json(start_response, "200 OK", openid_configuration(self.state, pool))


def _dropped(start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Promise a body, send part of it and fail: the server closes the connection."""
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "64")])
    yield b'{"keys": ['
    raise ConnectionAbortedError("fault injection: connection dropped")


def _json(start_response: Callable[..., Any], status: str, document: Any) -> Iterable[bytes]:
    body = json.dumps(document).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
