"""SQLite store (stdlib): one host, the local stack and tests (design D9)."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from .base import (
    BackingClient,
    Registration,
    RegistrationStatus,
    StoreConflict,
    StoreUnavailable,
    now,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS registrations (
    client_id TEXT PRIMARY KEY,
    backing_client_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS registrations_by_backing ON registrations (backing_client_id);
CREATE TABLE IF NOT EXISTS backing_clients (
    client_id TEXT PRIMARY KEY,
    pool TEXT UNIQUE,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO counters (name, value) SELECT 'backing', COUNT(*) FROM backing_clients;
"""
# Single-use marks (Store.spend_once); expired ones are deleted by the next spend.
_SPENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS spent (
    key TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS spent_by_expiry ON spent (expires_at);
"""

_RELEASE = "UPDATE counters SET value = max(value - 1, 0) WHERE name = 'backing'"


class SQLiteStore:
    """Registrations and backing clients in one SQLite file, safe across threads and processes.

    Reads have a connection of their own: in WAL mode a reader never waits for a writer (not for
    this store's, which may be waiting out another process's lock, nor for another process's),
    and each read sees every write committed before it. So a read is a local lookup the event
    loop may make itself (:attr:`local_reads`)."""

    #: See :attr:`Store.local_reads`.
    local_reads = True

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        """Open the store at ``path``, creating the file (not its directory) if ``create``.

        A missing directory, an unwritable file or one that is not SQLite is
        :class:`StoreUnavailable` in one line with a hint: a mistyped path must not become a
        new, empty store."""
        self._lock = threading.Lock()
        where = str(path)
        if where != ":memory:" and not Path(where).parent.is_dir():
            raise StoreUnavailable(f"{where}: directory {Path(where).parent} does not exist")
        if not create and where != ":memory:" and not Path(where).is_file():
            raise StoreUnavailable(f"{where}: no store there (`authproxy serve` creates it)")
        try:
            self._db = sqlite3.connect(where, check_same_thread=False, timeout=10)
            with self._lock, self._db:
                if where != ":memory:":
                    self._db.execute("PRAGMA journal_mode=WAL")
                self._db.executescript(_SCHEMA)
                self._db.executescript(_SPENT_SCHEMA)
            # An in-memory database exists for its one connection only.
            if where == ":memory:":
                self._reader, self._read_lock = self._db, self._lock
            else:
                self._reader = sqlite3.connect(where, check_same_thread=False, timeout=10)
                self._read_lock = threading.Lock()
        except sqlite3.Error as exc:
            raise StoreUnavailable(
                f"{where}: {exc} (is it an SQLite file this user may read and write?)"
            ) from None

    @classmethod
    def from_url(cls, url: str, *, create: bool = True) -> SQLiteStore:
        return cls(url.removeprefix("sqlite:///") or ":memory:", create=create)

    def connect(self) -> None:
        """Connected when opened: nothing to make ahead of the first request."""

    def close(self) -> None:
        with self._read_lock:
            self._reader.close()
        with self._lock:
            self._db.close()

    def _read(self, sql: str, *args: object) -> list[Any]:
        try:
            with self._read_lock:
                return [row[0] for row in self._reader.execute(sql, args).fetchall()]
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from None

    def _one(self, sql: str, *args: object) -> Any:
        rows = self._read(sql, *args)
        return rows[0] if rows else None

    def _write(self, sql: str, *args: object) -> int:
        """One statement in its own transaction; the number of rows it changed."""
        return self._transaction((sql, args))

    def _transaction(self, *statements: tuple[str, tuple[object, ...]]) -> int:
        """Statements in one transaction; the rows the first changed. A later statement runs
        only if the first changed a row (they follow from it)."""
        try:
            with self._lock, self._db:
                first, *rest = statements
                changed = self._db.execute(*first).rowcount
                if changed:
                    for statement in rest:
                        self._db.execute(*statement)
                return int(changed)
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(str(exc)) from None
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from None

    def _returning(self, sql: str, *args: object) -> Registration | None:
        """An UPDATE … RETURNING data of one registration: the row as written, None if none."""
        try:
            with self._lock, self._db:
                rows = self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from None
        return Registration.from_dict(json.loads(rows[0][0])) if rows else None

    # registrations

    def get_registration(self, client_id: str) -> Registration | None:
        data = self._one("SELECT data FROM registrations WHERE client_id = ?", client_id)
        registration = Registration.from_dict(json.loads(data)) if data else None
        return None if registration is None or registration.expired() else registration

    def create_registration(self, registration: Registration) -> None:
        self._write(
            "INSERT INTO registrations (client_id, backing_client_id, created_at, data) "
            "VALUES (?, ?, ?, ?)",
            registration.client_id,
            registration.backing_client_id,
            registration.created_at,
            json.dumps(registration.to_dict()),
        )

    def update_registration(self, registration: Registration) -> Registration:
        updated = self._returning(
            # A row written before versions were kept is at version 0.
            "UPDATE registrations SET data = json_set(data, "
            "'$.metadata', json(?), '$.registration_token_hash', ?, "
            "'$.version', coalesce(json_extract(data, '$.version'), 0) + 1) "
            "WHERE client_id = ? AND coalesce(json_extract(data, '$.version'), 0) = ? "
            "AND json_extract(data, '$.status') = 'active' RETURNING data",
            json.dumps(registration.metadata),
            registration.registration_token_hash,
            registration.client_id,
            registration.version,
        )
        if updated is None:
            raise StoreConflict(f"registration {registration.client_id} changed or is gone")
        return updated

    def set_status(self, client_id: str, status: RegistrationStatus) -> Registration | None:
        # A revoked registration never expires (base.Store.set_status).
        return self._returning(
            "UPDATE registrations SET data = json_set(data, '$.status', ?1, '$.expires_at', "
            "CASE WHEN ?1 = 'revoked' THEN NULL ELSE json_extract(data, '$.expires_at') END, "
            "'$.version', coalesce(json_extract(data, '$.version'), 0) + 1) "
            "WHERE client_id = ?2 RETURNING data",
            status,
            client_id,
        )

    def delete_registration(self, client_id: str, expected: Registration | None = None) -> None:
        if expected is None:
            self._write("DELETE FROM registrations WHERE client_id = ?", client_id)
            return
        deleted = self._write(
            "DELETE FROM registrations WHERE client_id = ? "
            "AND coalesce(json_extract(data, '$.version'), 0) = ? "
            "AND json_extract(data, '$.last_used_at') IS ?",
            client_id,
            expected.version,
            expected.last_used_at,
        )
        if not deleted:
            raise StoreConflict(f"registration {client_id} changed or is gone")

    def touch_registration(self, client_id: str, at: int) -> None:
        self._write(
            "UPDATE registrations "
            "SET data = json_set(data, '$.last_used_at', ?, '$.expires_at', NULL) "
            "WHERE client_id = ?",
            at,
            client_id,
        )

    def list_registrations(self) -> list[Registration]:
        rows = self._read("SELECT data FROM registrations ORDER BY created_at, client_id")
        return [Registration.from_dict(json.loads(r)) for r in rows]

    def registrations_for_backing(self, backing_client_id: str) -> list[Registration]:
        rows = self._read(
            "SELECT data FROM registrations WHERE backing_client_id = ? ORDER BY created_at",
            backing_client_id,
        )
        return [Registration.from_dict(json.loads(r)) for r in rows]

    # backing clients

    def get_backing(self, client_id: str) -> BackingClient | None:
        data = self._one("SELECT data FROM backing_clients WHERE client_id = ?", client_id)
        return BackingClient.from_dict(json.loads(data)) if data else None

    def find_backing(self, pool: str) -> BackingClient | None:
        data = self._one("SELECT data FROM backing_clients WHERE pool = ?", pool)
        return BackingClient.from_dict(json.loads(data)) if data else None

    def reserve_backing(self, limit: int) -> bool:
        return bool(
            self._write(
                "UPDATE counters SET value = value + 1 WHERE name = 'backing' AND value < ?", limit
            )
        )

    def release_backing(self) -> None:
        self._write(_RELEASE)

    def create_backing(self, backing: BackingClient) -> None:
        self._write(
            "INSERT INTO backing_clients (client_id, pool, data) VALUES (?, ?, ?)",
            backing.client_id,
            backing.pool,
            json.dumps(backing.to_dict()),
        )

    def delete_backing(self, client_id: str) -> None:
        self._transaction(
            ("DELETE FROM backing_clients WHERE client_id = ?", (client_id,)), (_RELEASE, ())
        )

    def list_backing(self) -> list[BackingClient]:
        rows = self._read("SELECT data FROM backing_clients ORDER BY client_id")
        return [BackingClient.from_dict(json.loads(r)) for r in rows]

    def count_backing(self) -> int:
        return int(self._one("SELECT value FROM counters WHERE name = 'backing'"))

    # single-use marks

    def spend_once(self, key: str, expires_at: int) -> bool:
        try:
            with self._lock, self._db:
                self._db.execute("DELETE FROM spent WHERE expires_at <= ?", (now(),))
                inserted = self._db.execute(
                    "INSERT OR IGNORE INTO spent (key, expires_at) VALUES (?, ?)",
                    (key, expires_at),
                ).rowcount
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from None
        return inserted == 1
