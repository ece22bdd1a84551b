"""Upstream session ids bound to the subject that created them (MCP security best practices,
"Session Hijacking"), without state in the gateway.

The upstream assigns ``Mcp-Session-Id`` on ``initialize`` (Streamable HTTP, "Session
Management"); the client receives that id signed for its token's subject and this upstream, and
the gateway accepts it back only from the same subject. Another user replaying it gets ``404``, as
for an unknown session, and the upstream never sees the attempt.
"""

from __future__ import annotations

from itsdangerous import BadSignature, Signer


class BoundSessions:
    """Wraps and unwraps upstream session ids for one upstream."""

    def __init__(self, secret: str, resource: str) -> None:
        self.secret = secret
        self.resource = resource

    def _signer(self, subject: str) -> Signer:
        # The subject is part of the key derivation: an id verifies only for its own subject.
        return Signer(self.secret, salt=f"gateway-session|{self.resource}|{subject}")

    def wrap(self, upstream_id: str, subject: str) -> str:
        """The id the client gets; visible ASCII when the upstream's is, as the transport asks."""
        return self._signer(subject).sign(upstream_id).decode("ascii")

    def unwrap(self, client_id: str, subject: str) -> str | None:
        """The upstream's id, or None when ``client_id`` was not issued to ``subject`` here."""
        try:
            return self._signer(subject).unsign(client_id).decode("ascii")
        except (BadSignature, UnicodeError):
            return None
