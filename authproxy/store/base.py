"""What the façade stores, and the interface every store implements (design D4, D9).

A registration (RFC 7591 / CIMD) is a row; a backing client is the Cognito app client that one or
more registrations use. Secrets are never stored in the clear: client secrets and registration
access tokens as SHA-256 digests (they are 256-bit random values, so a plain digest is enough and
survives key rotation), backing-client secrets encrypted with the deployment key.

Stores are synchronous adapters (sqlite3, botocore); the endpoints call them from a worker thread,
except the reads of a store whose reads are local lookups (:attr:`Store.local_reads`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
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
    #: Counts the changes to the record (status, metadata, registration token), not its use:
    #: every write but revocation and the use bookkeeping is conditional on it (design D9).
    version: int = 0

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
    """A conditional write lost: the key already exists (another instance got there first), or
    the record changed, was revoked or was deleted since it was read."""


class StoreUnavailable(Exception):
    """The store could not be read or written (database locked, table missing, throttled)."""


class Store(Protocol):
    """The registration store. Implementations: :mod:`.sqlite`, :mod:`.dynamodb`."""

    #: Whether a read is a lookup on this host that waits neither on the network nor on a
    #: writer (SQLite in WAL mode): the endpoints then read on the event loop, where a hop to a
    #: worker thread would cost more than the read. Reads still go to the store every time, so a
    #: revocation takes effect at the next request.
    local_reads: bool

    def get_registration(self, client_id: str) -> Registration | None:
        """The registration, or None if unknown or expired unused."""

    def create_registration(self, registration: Registration) -> None:
        """Insert; raise :class:`StoreConflict` if the client id exists."""

    def update_registration(self, registration: Registration) -> Registration:
        """Write ``metadata`` and ``registration_token_hash`` (RFC 7592 update, a metadata
        document refreshed) if the stored record is still active at ``registration.version``;
        return the record as stored, one version on. Never writes the status, never recreates a
        deleted record: raise :class:`StoreConflict` if it changed, was revoked or is gone."""

    def set_status(self, client_id: str, status: RegistrationStatus) -> Registration | None:
        """Set the status and nothing else (revocation); the record as stored, None if gone.

        A revoked registration also loses its expiry: once forgotten, a metadata-document client
        would be registered afresh, active, at its next ``/authorize``; it stays revoked until an
        operator deletes it."""

    def delete_registration(self, client_id: str, expected: Registration | None = None) -> None:
        """Delete; given ``expected`` (the record as the caller read it), only if it is still at
        that version and unused since (``last_used_at``), else :class:`StoreConflict`."""

    def touch_registration(self, client_id: str, at: int) -> None:
        """Record that the registration was used to obtain tokens; it no longer expires."""

    def list_registrations(self) -> list[Registration]:
        """Every row, expired ones included, for the operator's commands."""

    def registrations_for_backing(self, backing_client_id: str) -> list[Registration]: ...

    def get_backing(self, client_id: str) -> BackingClient | None: ...

    def find_backing(self, pool: str) -> BackingClient | None:
        """The pooled backing client serving ``pool``."""

    def reserve_backing(self, limit: int) -> bool:
        """Take one slot of the backing-client quota, atomically across instances; False when
        ``limit`` slots are taken. Taken before ``CreateUserPoolClient``, given back by
        :meth:`release_backing` if no row follows, or by :meth:`delete_backing` with the row."""

    def release_backing(self) -> None:
        """Give back a slot whose backing client was never stored."""

    def create_backing(self, backing: BackingClient) -> None:
        """Insert (its slot already reserved); raise :class:`StoreConflict` if the id, or a
        client for its pool, exists."""

    def delete_backing(self, client_id: str) -> None:
        """Delete the row and give back its slot, in one write."""

    def list_backing(self) -> list[BackingClient]: ...

    def count_backing(self) -> int:
        """Quota slots taken: stored backing clients plus those being created."""

    def spend_once(self, key: str, expires_at: int) -> bool:
        """Mark ``key`` used until ``expires_at`` (epoch seconds): True the first time, False while
        the mark stands. One conditional insert, so it holds across instances and processes; the
        mark is forgotten once expired (DynamoDB TTL on ``expires_at``). Used to make the sealed
        authorization ``state`` single use (design D11)."""

    def connect(self) -> None:
        """Make what the first request would otherwise make (an AWS client): called before a
        SnapStart snapshot, so a restored environment does not pay for it."""

    def close(self) -> None: ...
