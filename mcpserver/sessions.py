"""``Mcp-Session-Id`` for handshake-era clients, without server-side session state (design D10).

Revisions 2025-03-26 to 2025-11-25 let a server assign a session id on ``initialize`` that the
client then sends on every request (Streamable HTTP, "Session Management"); clients such as
Claude.ai expect one. This server keeps no sessions, so the id is a signed, timestamped nonce
that any instance can verify with the shared key, and it is bound to the token's subject: the
same id under another user's token is answered like an unknown session (``404``), as the MCP
security best practices ask (session hijacking). Revision 2026-07-28 has no sessions; requests
that declare it pass through and any session id they carry is ignored.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict

from itsdangerous import BadSignature, TimestampSigner
from mcp.server.request_state import AESGCMRequestStateCodec
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from mcp.types import INVALID_REQUEST
from mcp.types.version import MODERN_PROTOCOL_VERSIONS
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resourcekit.jsonrpc import buffer_body, send_json
from servicekit.headers import request_headers
from servicekit.keys import KeyRing, as_ring

logger = logging.getLogger(__name__)

SESSION_HEADER = "mcp-session-id"
PROTOCOL_VERSION_HEADER = "mcp-protocol-version"
# A session id outlives any one access token, so a client keeps its session across refreshes; a
# day bounds how long a leaked id stays useful to its own user.
SESSION_MAX_AGE = 24 * 60 * 60
# Session ids remembered as verified at once (least recently used first out).
VERIFIED_SESSIONS = 1024

_SESSION_NOT_FOUND = {
    "jsonrpc": "2.0",
    "id": None,
    "error": {"code": INVALID_REQUEST, "message": "Session not found"},
}


class SessionIds:
    """Issues and checks session ids bound to one resource and one subject.

    New ids are signed with the ring's current key; ids signed with any of its keys verify, so the
    key can be rotated without ending every session.
    """

    def __init__(
        self,
        keys: KeyRing | str,
        resource: str,
        max_age: int = SESSION_MAX_AGE,
        cache_size: int = VERIFIED_SESSIONS,
    ) -> None:
        self.keys = as_ring(keys)
        self.resource = resource
        self.max_age = max_age
        self.cache_size = cache_size
        # (session id, subject) -> the second its id was signed in, for ids verified under the
        # keys in ``_verified_under``; a client sends its id on every call, and each check
        # derives a key and an HMAC.
        self._verified: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._verified_under: tuple[str, ...] = ()

    def _signer(self, subject: str) -> TimestampSigner:
        # The subject is part of the key derivation, so an id verifies only for its own subject.
        # itsdangerous signs with the last key of its list and verifies with every one.
        return TimestampSigner(
            list(reversed(self.keys.keys)), salt=f"mcp-session-id|{self.resource}|{subject}"
        )

    def issue(self, subject: str) -> str:
        """A new session id: visible ASCII only, as the transport requires."""
        return self._signer(subject).sign(secrets.token_urlsafe(18)).decode("ascii")

    def is_valid(self, session_id: str, subject: str) -> bool:
        """Whether ``session_id`` was issued to ``subject`` under a key of the ring, at most
        ``max_age`` seconds ago. An id verified before is judged again only by its age, as long as
        the ring holds the same keys: a rotation that removes a key forgets every verdict."""
        keys = self.keys.keys
        if keys != self._verified_under:
            self._verified.clear()
            self._verified_under = keys
        cached = (session_id, subject)
        signed_at = self._verified.get(cached)
        if signed_at is None:
            try:
                _, when = self._signer(subject).unsign(
                    session_id, max_age=self.max_age, return_timestamp=True
                )
            except BadSignature:
                return False
            signed_at = int(when.timestamp())
            self._verified[cached] = signed_at
            while len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)
        # The age as itsdangerous judges it: whole seconds, neither older than max_age nor future.
        age = int(time.time()) - signed_at
        if not 0 <= age <= self.max_age:
            del self._verified[cached]
            return False
        self._verified.move_to_end(cached)
        return True


class RotatingRequestStateCodec:
    """The SDK's AES-256-GCM codec for 2026-07-28 ``requestState``, over a key ring that may change
    (a SnapStart restore, a rotation read from Secrets Manager): rebuilt when the keys differ.
    The SDK's codec seals with its first key and opens with any, the ring's own order."""

    def __init__(self, keys: KeyRing) -> None:
        self._ring = keys
        self._built: tuple[tuple[str, ...], AESGCMRequestStateCodec] | None = None

    def _codec(self) -> AESGCMRequestStateCodec:
        keys = self._ring.keys
        if self._built is None or self._built[0] != keys:
            self._built = (keys, AESGCMRequestStateCodec(keys))
        return self._built[1]

    def seal(self, payload: bytes) -> str:
        return self._codec().seal(payload)

    def unseal(self, token: str) -> bytes:
        return self._codec().unseal(token)


class SessionBindingMiddleware:
    """Assigns a session id to ``initialize`` and refuses ids not issued to the caller.

    Runs behind :class:`~resourcekit.middleware.BearerAuthMiddleware`: the subject comes from the
    verified token in ``scope["user"]``.
    """

    def __init__(
        self,
        app: ASGIApp,
        session_ids: SessionIds,
        max_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE,
    ) -> None:
        self.app = app
        self.session_ids = session_ids
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        access_token = getattr(scope.get("user"), "access_token", None)
        subject = getattr(access_token, "subject", None)
        headers = request_headers(scope)
        if (
            scope["type"] != "http"
            or subject is None
            or headers.get(PROTOCOL_VERSION_HEADER) in MODERN_PROTOCOL_VERSIONS
        ):
            await self.app(scope, receive, send)
            return

        session_id = headers.get(SESSION_HEADER)
        if session_id is not None and not self.session_ids.is_valid(session_id, subject):
            logger.info("session id refused", extra={"subject": subject})
            # Streamable HTTP: an unknown session is 404, and the client starts a new one.
            await send_json(send, 404, _SESSION_NOT_FOUND)
            return
        if session_id is not None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return

        buffered = await buffer_body(scope, receive, send, self.max_body_size)
        if buffered is None:
            return
        receive = buffered.receive
        if not any(message["method"] == "initialize" for message in buffered.requests()):
            await self.app(scope, receive, send)
            return

        new_session_id = self.session_ids.issue(subject)

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                MutableHeaders(scope=message)[SESSION_HEADER] = new_session_id
            await send(message)

        await self.app(scope, receive, send_with_session)
