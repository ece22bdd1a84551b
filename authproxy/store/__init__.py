"""Registration stores: SQLite for one host and tests, DynamoDB on AWS (design D9)."""

from __future__ import annotations

from .base import BackingClient, Registration, Store, StoreConflict, StoreUnavailable


def open_store(url: str, region: str | None = None, *, create: bool = True) -> Store:
    """Open the store named by ``AUTHPROXY_STORE`` (``sqlite:///path`` or ``dynamodb://table``);
    without ``create``, a SQLite file must exist already (the operator's commands)."""
    if url.startswith("dynamodb://"):
        from .dynamodb import DynamoDBStore

        return DynamoDBStore.from_url(url, region=region)
    from .sqlite import SQLiteStore

    return SQLiteStore.from_url(url, create=create)


__all__ = [
    "BackingClient",
    "Registration",
    "Store",
    "StoreConflict",
    "StoreUnavailable",
    "open_store",
]
