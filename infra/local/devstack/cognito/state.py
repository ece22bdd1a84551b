"""What the managed-login emulator remembers, and the options that shape its behaviour.

moto holds pools, clients and users; this holds what Cognito keeps behind its hosted endpoints:
authorization codes (single use, 5 minutes), refresh tokens (with rotation and its grace period),
revoked token families and sign-in sessions (the managed-login SSO cookie). Time comes from an
injectable clock so tests can expire codes without sleeping.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from devstack.cognito.faults import FaultRegistry
from devstack.cognito.tokens import SignIn, new_identifier

CODE_LIFETIME_SECONDS = 300  # Cognito: authorization codes are valid for 5 minutes
SESSION_LIFETIME_SECONDS = 3600  # Cognito: the managed-login session cookie lasts an hour
DEFAULT_CLIENT_QUOTA = 1000  # Cognito's default app clients per user pool


@dataclass(frozen=True)
class Options:
    """Stand-in-wide settings (the things Cognito decides per account, tier or pool)."""

    #: Cognito resource binding (Essentials/Plus): ``resource`` at authorize becomes ``aud``.
    resource_binding: bool = False
    #: Lifetime in seconds of every access and ID token, overriding the app clients' settings.
    token_ttl_override: int | None = None
    #: App clients per user pool before ``CreateUserPoolClient`` fails with LimitExceeded.
    client_quota: int = DEFAULT_CLIENT_QUOTA


@dataclass(frozen=True)
class AuthorizationCode:
    """An issued code and what it was issued for (RFC 6749 §4.1.2, RFC 7636 §4.4)."""

    sign_in: SignIn
    redirect_uri: str
    code_challenge: str | None
    issued_at: float


@dataclass(frozen=True)
class RefreshToken:
    """A refresh token; ``superseded_at`` is set once rotation replaced it."""

    sign_in: SignIn
    expires_at: float
    superseded_at: float | None = None


@dataclass(frozen=True)
class Session:
    """A managed-login session: who signed in to which pool, and when."""

    pool_id: str
    username: str
    auth_time: int
    expires_at: float


def _token() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class StandInState:
    """The emulator's memory; every method is thread-safe."""

    options: Options = field(default_factory=Options)
    clock: Callable[[], float] = time.time
    faults: FaultRegistry = field(default_factory=FaultRegistry)
    #: base URL of the issuer host (admin API port); a pool's issuer is ``<base>/<pool id>``
    issuer_base: str = ""
    #: base URL of the managed-login domain
    domain_base: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _codes: dict[str, AuthorizationCode] = field(default_factory=dict, repr=False)
    _refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict, repr=False)
    _revoked_families: set[str] = field(default_factory=set, repr=False)
    _sessions: dict[str, Session] = field(default_factory=dict, repr=False)

    def now(self) -> int:
        return int(self.clock())

    def issuer(self, pool_id: str) -> str:
        return f"{self.issuer_base}/{pool_id}"

    # Authorization codes

    def issue_code(self, sign_in: SignIn, redirect_uri: str, code_challenge: str | None) -> str:
        code = new_identifier()  # Cognito's codes are UUIDs
        with self._lock:
            self._codes[code] = AuthorizationCode(
                sign_in, redirect_uri, code_challenge, self.clock()
            )
        return code

    def redeem_code(self, code: str) -> AuthorizationCode | None:
        """The code's record if it is live; any use consumes it (RFC 6749 §4.1.2: single use)."""
        with self._lock:
            record = self._codes.pop(code, None)
        if record is None or self.clock() - record.issued_at > CODE_LIFETIME_SECONDS:
            return None
        return record

    # Refresh tokens

    def issue_refresh_token(self, sign_in: SignIn, lifetime: int) -> str:
        token = _token()
        with self._lock:
            self._refresh_tokens[token] = RefreshToken(sign_in, self.clock() + lifetime)
        return token

    def refresh_token(self, token: str, grace_seconds: int) -> RefreshToken | None:
        """The live record of a refresh token (not expired, revoked or rotated out)."""
        now = self.clock()
        with self._lock:
            record = self._refresh_tokens.get(token)
            if record is None or record.sign_in.origin_jti in self._revoked_families:
                return None
        if record.expires_at <= now:
            return None
        if record.superseded_at is not None and now - record.superseded_at >= grace_seconds:
            return None
        return record

    def supersede_refresh_token(self, token: str) -> None:
        """Mark a refresh token as rotated out; it keeps working for the grace period only."""
        with self._lock:
            record = self._refresh_tokens.get(token)
            if record is not None and record.superseded_at is None:
                self._refresh_tokens[token] = replace(record, superseded_at=self.clock())

    def peek_refresh_token(self, token: str) -> RefreshToken | None:
        """A refresh token's record whatever its state (revocation needs the owner)."""
        with self._lock:
            return self._refresh_tokens.get(token)

    def revoke_family(self, origin_jti: str) -> None:
        """Revoke a sign-in's refresh tokens and the access tokens issued from them."""
        with self._lock:
            self._revoked_families.add(origin_jti)

    def is_revoked(self, origin_jti: str) -> bool:
        with self._lock:
            return origin_jti in self._revoked_families

    # Managed-login sessions

    def open_session(self, pool_id: str, username: str) -> tuple[str, Session]:
        session = Session(pool_id, username, self.now(), self.clock() + SESSION_LIFETIME_SECONDS)
        session_id = _token()
        with self._lock:
            self._sessions[session_id] = session
        return session_id, session

    def session(self, session_id: str, pool_id: str) -> Session | None:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None or session.pool_id != pool_id or session.expires_at <= self.clock():
            return None
        return session

    def close_session(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)
