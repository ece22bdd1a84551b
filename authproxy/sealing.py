"""Sealed, expiring envelopes that keep the OAuth dance stateless (design D3).

Each purpose has its own salt, so a value sealed as one kind can never be opened as another (a
wrapped code is not a valid ``state``, a consent cookie is not a CSRF token). Envelopes are signed
with itsdangerous and carry their own timestamp; any instance holding the key can open them. New
envelopes are signed with the current key; those signed with a previous key of the ring still
open, so the key can be rotated without ending every flow, refresh token and consent at once.

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

from servicekit.keys import KeyRing, as_ring


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
    """Seals envelopes with the ring's current key and opens those sealed with any of its keys."""

    def __init__(self, keys: KeyRing | str) -> None:
        self._ring = as_ring(keys)
        self._built: tuple[tuple[str, ...], dict[Purpose, URLSafeTimedSerializer]] | None = None

    def _serializer(self, purpose: Purpose) -> URLSafeTimedSerializer:
        keys = self._ring.keys
        if self._built is None or self._built[0] != keys:
            # itsdangerous signs with the *last* key of its list and verifies with every one.
            newest_last = list(reversed(keys))
            self._built = (
                keys,
                {p: URLSafeTimedSerializer(newest_last, salt=p.salt) for p in Purpose},
            )
        return self._built[1][purpose]

    def seal(self, purpose: Purpose, payload: dict[str, Any]) -> str:
        return self._serializer(purpose).dumps(payload)

    def open(self, purpose: Purpose, envelope: str) -> dict[str, Any]:
        try:
            payload = self._serializer(purpose).loads(envelope, max_age=purpose.max_age)
        except SignatureExpired:
            raise EnvelopeError(purpose, expired=True) from None
        except (BadSignature, ValueError, TypeError, UnicodeError):
            raise EnvelopeError(purpose, expired=False) from None
        if not isinstance(payload, dict):
            raise EnvelopeError(purpose, expired=False)
        return payload


class SecretBox:
    """Encrypts backing-client secrets at rest (AES-256-GCM, keys derived from the ring's keys).

    A store dump alone yields no Cognito credentials. New values are sealed under the current key;
    values sealed under any key of the ring open. Once a key leaves the ring, what it sealed no
    longer opens and the façade reads the secret from Cognito again (DescribeUserPoolClient).
    """

    _INFO = b"authproxy/backing-client-secret"

    def __init__(self, keys: KeyRing | str) -> None:
        self._ring = as_ring(keys)
        self._built: tuple[tuple[str, ...], tuple[AESGCM, ...]] | None = None

    def _ciphers(self) -> tuple[AESGCM, ...]:
        keys = self._ring.keys
        if self._built is None or self._built[0] != keys:
            self._built = (keys, tuple(AESGCM(self._derive(key)) for key in keys))
        return self._built[1]

    @classmethod
    def _derive(cls, secret_key: str) -> bytes:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=cls._INFO)
        return hkdf.derive(secret_key.encode())

    def seal(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._ciphers()[0].encrypt(nonce, plaintext.encode(), self._INFO)
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str) -> str | None:
        """The plaintext, or None when no key of the ring sealed it or it is damaged."""
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
        except ValueError:
            return None
        for aead in self._ciphers():
            try:
                return aead.decrypt(raw[:12], raw[12:], self._INFO).decode()
            except (InvalidTag, ValueError):
                continue
        return None
