"""Sealed, expiring envelopes that keep the OAuth dance stateless (design D3).

Each purpose has its own salt, so a value sealed as one kind can never be opened as another (a
wrapped code is not a valid ``state``, a consent cookie is not a CSRF token). Envelopes are signed
with itsdangerous and carry their own timestamp; any instance holding the key can open them.

The payload of a wrapped code or refresh token includes Cognito's own code or refresh token. That is
safe to hand to the client: redeeming either at Cognito needs the backing client's secret, which
never leaves the façade. The envelope adds what Cognito cannot check: which registration, redirect
URI and resource it was issued to.
"""

from __future__ import annotations

import base64
import os
from enum import Enum
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class Purpose(Enum):
    """What an envelope is for, and how long it lives (seconds)."""

    # Cognito's code lives 5 minutes and the user may take a while to sign in: 15 minutes in all.
    STATE = ("state", 15 * 60)
    # A wrapped Cognito code: Cognito's own lifetime, 5 minutes.
    CODE = ("code", 5 * 60)
    # A wrapped refresh token: bounded by Cognito's own maximum refresh lifetime (10 years).
    REFRESH = ("refresh", 10 * 365 * 24 * 3600)
    # The consent form: a person reading the page.
    CONSENT_FORM = ("consent-form", 30 * 60)
    # Remembered approvals in the browser.
    CONSENT_COOKIE = ("consent-cookie", 180 * 24 * 3600)

    @property
    def salt(self) -> str:
        return f"authproxy/{self.value[0]}"

    @property
    def max_age(self) -> int:
        return self.value[1]


class EnvelopeError(Exception):
    """The envelope is forged, tampered with, expired or of another purpose."""

    def __init__(self, purpose: Purpose, *, expired: bool) -> None:
        what = purpose.value[0]
        super().__init__(f"{what} has expired" if expired else f"{what} is not valid")
        self.expired = expired


class Sealer:
    """Seals and opens envelopes with one key."""

    def __init__(self, secret_key: str) -> None:
        self._serializers = {p: URLSafeTimedSerializer(secret_key, salt=p.salt) for p in Purpose}

    def seal(self, purpose: Purpose, payload: dict[str, Any]) -> str:
        return self._serializers[purpose].dumps(payload)

    def open(self, purpose: Purpose, envelope: str) -> dict[str, Any]:
        try:
            payload = self._serializers[purpose].loads(envelope, max_age=purpose.max_age)
        except SignatureExpired:
            raise EnvelopeError(purpose, expired=True) from None
        except (BadSignature, ValueError, TypeError, UnicodeError):
            raise EnvelopeError(purpose, expired=False) from None
        if not isinstance(payload, dict):
            raise EnvelopeError(purpose, expired=False)
        return payload


class SecretBox:
    """Encrypts backing-client secrets at rest (AES-256-GCM, key derived from the deployment key).

    A store dump alone yields no Cognito credentials. If the deployment key changes, sealed secrets
    no longer open and the façade reads the secret from Cognito again (DescribeUserPoolClient).
    """

    _INFO = b"authproxy/backing-client-secret"

    def __init__(self, secret_key: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=self._INFO).derive(
            secret_key.encode()
        )
        self._aead = AESGCM(key)

    def seal(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), self._INFO)
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str) -> str | None:
        """The plaintext, or None when it was sealed under another key or is damaged."""
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
            return self._aead.decrypt(raw[:12], raw[12:], self._INFO).decode()
        except (InvalidTag, ValueError):
            return None
