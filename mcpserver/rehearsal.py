"""A rehearsal, in the Lambda init phase, of the requests a client sends first.

CPython specialises a function's bytecode only after it has run a few times, and OpenSSL sets up
an algorithm on its first use, so the first tool call an execution environment serves would cost
several warm calls: every layer of the request path runs cold, and its token is checked against
an RSA signature for the first time. :func:`rehearse` sends that path a few rounds of the first
requests (``initialize`` and a ``whoami`` call in its session on the handshake-era revision, one
self-contained ``whoami`` call on the 2026-07-28 revision) through Mangum and the same application
the handler serves, built by :func:`mcpserver.app.create_app` around the running transport. A
SnapStart snapshot then holds the warmed code, and the first call after a restore costs about what
a warm one does.

What makes it safe: the rehearsal application is its own object with its own verifier, which
trusts one RSA key made for the rehearsal and dropped with it (the served verifier never sees that
key), and its own issuer, so no token of the rehearsal is accepted by the served application; its
session ids are signed with keys of its own, so none is valid there either.
``whoami`` only reads the caller's claims back; nothing leaves the process, and the rehearsal's
access log is written to nowhere.
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import time
import uuid
import warnings
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey
from mangum import Mangum
from mcp.types import CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from mcpserver.app import create_app
from mcpserver.settings import Settings
from mcpserver.transport import StatelessTransport
from resourcekit.jwks import StaticJWKS
from resourcekit.verifier import ALGORITHM, CognitoTokenVerifier
from servicekit import logs
from servicekit.keys import KeyRing

# Rounds of the first requests. Measured (first call after init / warm call, 2026-07-28, median of
# 8 interpreters): 1 round 2.2x, 2 rounds 2.3x, 3 rounds 1.9x, 6 rounds 1.9x; a round costs ~2 ms.
ROUNDS = 3
ISSUER = "urn:mcpserver:rehearsal"
ACCESS_LOG = "mcpserver.rehearsal"
HANDSHAKE, SINGLE_EXCHANGE = "2025-06-18", "2026-07-28"
_CLIENT = {"name": "rehearsal", "version": "0"}
_KID = "rehearsal"


def rehearse(settings: Settings, transport: StatelessTransport) -> None:
    """Serve :data:`ROUNDS` rounds of a client's first requests through a rehearsal copy of the
    application (see the module docstring); their answers are discarded.

    The first round speaks every protocol revision the SDK serves (so each one's lazily imported
    modules and lazily built validators exist); the later ones the two wire revisions clients use
    most, until CPython has specialised the path.
    """
    key, public = _throwaway_key()
    verifier = CognitoTokenVerifier(
        issuer=ISSUER, resource=settings.mcp_url, scopes=settings.scopes, keys=StaticJWKS(public)
    )
    _discard_access_log()
    # Session ids are bound to a subject only, and the rehearsal's is a fixed name: signed with
    # the served keys, its ids would be valid on the served application under a token with that
    # subject. Its own throwaway keys make them valid nowhere else.
    own = replace(settings, session_keys=KeyRing.fixed(secrets.token_urlsafe(32)))
    app = create_app(own, verifier=verifier, transport=transport, access_log=ACCESS_LOG)
    client = _Client(Mangum(app, lifespan="off"), urlsplit(settings.mcp_url).netloc, settings.path)
    for round_ in range(ROUNDS):
        client.token = _token(key, settings)
        everything = round_ == 0
        for version in HANDSHAKE_PROTOCOL_VERSIONS if everything else (HANDSHAKE,):
            initialize = {"protocolVersion": version, "capabilities": {}, "clientInfo": _CLIENT}
            opened = client.post(version, "initialize", initialize)
            session = {k.lower(): v for k, v in opened.get("headers", {}).items()}.get(
                "mcp-session-id"
            )
            if everything:
                client.post(version, "tools/list", {}, session)
            client.post(version, "tools/call", {"name": "whoami"}, session)
        for version in MODERN_PROTOCOL_VERSIONS if everything else (SINGLE_EXCHANGE,):
            meta = {
                PROTOCOL_VERSION_META_KEY: version,
                CLIENT_INFO_META_KEY: _CLIENT,
                CLIENT_CAPABILITIES_META_KEY: {},
            }
            if everything:
                client.post(version, "tools/list", {"_meta": meta})
            client.token = _token(key, settings)
            client.post(version, "tools/call", {"name": "whoami", "_meta": meta})


def _throwaway_key() -> tuple[RSAKey, dict[str, RSAKey]]:
    """The rehearsal's signing key, and its public half as the rehearsal verifier's key set."""
    # 1024 bits (joserfc warns below 2048): a tenth of the time of a 2048-bit key, and it signs
    # nothing but the rehearsal's tokens, for a verifier that lives as long as the rehearsal.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        key = RSAKey.generate_key(1024, parameters={"kid": _KID}, private=True)
        return key, {_KID: RSAKey.import_key(key.as_dict(private=False))}


def _token(key: RSAKey, settings: Settings) -> str:
    """A Cognito-shaped access token (its claims as the served verifier checks them) for the
    rehearsal's verifier; a new one each round, as each client brings its own."""
    now = int(time.time())
    claims = {
        "sub": "rehearsal",
        "iss": ISSUER,
        "client_id": "rehearsal",
        "token_use": "access",
        "scope": " ".join(settings.supported_scopes),
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": ALGORITHM, "kid": _KID}, claims, key)


def _discard_access_log() -> None:
    """The rehearsal's access log: formatted as the served one is, then dropped."""
    log = logging.getLogger(ACCESS_LOG)
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logs.JSONFormatter())
    log.handlers = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


class _Client:
    """Sends API Gateway HTTP API (payload 2.0) events, each a POST of one JSON-RPC request, as a
    client of ``version`` would, to a Mangum handler."""

    def __init__(self, handler: Mangum, host: str, path: str) -> None:
        self.handler, self.host, self.path = handler, host, path
        self.token = ""

    def post(
        self, version: str, method: str, params: dict[str, Any], session: str | None = None
    ) -> dict[str, Any]:
        """Send one request; Mangum's answer."""
        headers = {
            "host": self.host,
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "authorization": f"Bearer {self.token}",
            "x-forwarded-proto": "https",
        }
        if method != "initialize":
            headers["mcp-protocol-version"] = version
        if version in MODERN_PROTOCOL_VERSIONS:
            headers["mcp-method"] = method
            if method == "tools/call":
                headers["mcp-name"] = str(params["name"])
        if session:
            headers["mcp-session-id"] = session
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        http = {
            "method": "POST",
            "path": self.path,
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
        }
        event = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": self.path,
            "rawQueryString": "",
            "headers": headers,
            "requestContext": {"http": http, "stage": "$default"},
            "body": json.dumps(body),
            "isBase64Encoded": False,
        }
        return dict(self.handler(event, None))
