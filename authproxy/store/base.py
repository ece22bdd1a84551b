"""What the façade stores, and the interface every store implements (design D4, D9).

A registration (RFC 7591 / CIMD) is a row; a backing client is the Cognito app client that one or
more registrations use. Secrets are never stored in the clear: client secrets and registration
access tokens as SHA-256 digests (they are 256-bit random values, so a plain digest is enough and
survives key rotation), backing-client secrets encrypted with the deployment key.

Stores are synchronous adapters (sqlite3, boto3); the endpoints call them from a worker thread.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Protocol

RegistrationKind = Literal["dcr", "cimd"]
RegistrationStatus = Literal["active", "revoked"]


def now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class Registration:
    """A client registered with the façade (RFC 7591 §3.2.1 response fields, plus bookkeeping)."""

    client_id: str
    metadata: dict[str, Any]
    backing_client_id: str
    kind: RegistrationKind = "dcr"
    client_secret_hash: str | None = None
    registration_token_hash: str | None = None
    status: RegistrationStatus = "active"
    created_at: int = field(default_factory=now)
    last_used_at: int | None = None
    #: Until first used: when the store may forget it (DynamoDB TTL deletes it then).
    expires_at: int | None = None

    def expired(self, at: int | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now() if at is None else at)

    @property
    def redirect_uris(self) -> list[str]:
        return list(self.metadata.get("redirect_uris", []))

    @property
    def auth_method(self) -> str:
        return str(self.metadata.get("token_endpoint_auth_method", "none"))

    @property
    def is_confidential(self) -> bool:
        return self.auth_method != "none"

    @property
    def client_name(self) -> str:
        return str(self.metadata.get("client_name") or self.client_id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Registration:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__ if k in data})

    def revoked(self) -> Registration:
        return replace(self, status="revoked")


@dataclass(frozen=True)
class BackingClient:
    """A Cognito app client the façade created; its secret is sealed with the deployment key."""

    client_id: str
    name: str
    sealed_secret: str
    policy: Literal["pooled", "dedicated"]
    #: For a pooled client, the pool it serves ("public" or "confidential"); None if dedicated.
    pool: str | None = None
    created_at: int = field(default_factory=now)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackingClient:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__ if k in data})


class StoreConflict(Exception):
    """A conditional write lost: the key already exists (another instance got there first)."""


class StoreUnavailable(Exception):
    """The store could not be read or written (database locked, table missing, throttled)."""


class Store(Protocol):
    """The registration store. Implementations: :mod:`.sqlite`, :mod:`.dynamodb`."""

    def get_registration(self, client_id: str) -> Registration | None:
        """The registration, or None if unknown or expired unused."""

    def create_registration(self, registration: Registration) -> None:
        """Insert; raise :class:`StoreConflict` if the client id exists."""

    def save_registration(self, registration: Registration) -> None:
        """Replace an existing registration (RFC 7592 update, revocation)."""

    def delete_registration(self, client_id: str) -> None: ...

    def touch_registration(self, client_id: str, at: int) -> None:
        """Record that the registration was used to obtain tokens; it no longer expires."""

    def list_registrations(self) -> list[Registration]:
        """Every row, expired ones included, for the operator's commands."""

    def registrations_for_backing(self, backing_client_id: str) -> list[Registration]: ...

    def get_backing(self, client_id: str) -> BackingClient | None: ...

    def find_backing(self, pool: str) -> BackingClient | None:
        """The pooled backing client serving ``pool``."""

    def create_backing(self, backing: BackingClient) -> None:
        """Insert; raise :class:`StoreConflict` if the id, or a client for its pool, exists."""

    def delete_backing(self, client_id: str) -> None: ...

    def list_backing(self) -> list[BackingClient]: ...

    def count_backing(self) -> int: ...

    def spend_once(self, key: str, expires_at: int) -> bool:
        """Mark ``key`` used until ``expires_at`` (epoch seconds): True the first time, False while
        the mark stands. One conditional insert, so it holds across instances and processes; the
        mark is forgotten once expired (DynamoDB TTL on ``expires_at``). Used to make the sealed
        authorization ``state`` single use (design D11)."""

    def close(self) -> None: ...
