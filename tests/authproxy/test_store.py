"""One suite, both stores: SQLite (one host, tests) and DynamoDB (AWS, here moto)."""

import json
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from authproxy.store import (
    BackingClient,
    Registration,
    Store,
    StoreConflict,
    StoreUnavailable,
    open_store,
)
from authproxy.store.base import now
from authproxy.store.dynamodb import DynamoDBStore, create_table


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = open_store(f"sqlite:///{tmp_path / 'authproxy.db'}")
        yield opened
        opened.close()
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "registrations")
        yield DynamoDBStore("registrations", client=client)


def registration(client_id: str, backing: str = "b1", created_at: int = 100) -> Registration:
    return Registration(
        client_id=client_id,
        metadata={"client_name": "claudeai", "redirect_uris": ["https://claude.ai/cb"]},
        backing_client_id=backing,
        client_secret_hash="h",
        created_at=created_at,
    )


def backing(client_id: str, pool: str | None = "public") -> BackingClient:
    return BackingClient(
        client_id=client_id,
        name="claudeai",
        sealed_secret="sealed",
        policy="pooled" if pool else "dedicated",
        pool=pool,
        created_at=100,  # fixed: a default of "now" differs across a second boundary
    )


def test_registration_round_trip(store: Store) -> None:
    reg = registration("c1")
    store.create_registration(reg)
    assert store.get_registration("c1") == reg
    assert store.get_registration("missing") is None


def test_create_is_conditional(store: Store) -> None:
    store.create_registration(registration("c1"))
    with pytest.raises(StoreConflict):
        store.create_registration(registration("c1"))


def test_save_touch_list_and_delete(store: Store) -> None:
    store.create_registration(registration("c2", created_at=200))
    store.create_registration(registration("c1", created_at=100))
    store.create_registration(registration("c3", backing="b2", created_at=300))
    revoked = store.set_status("c1", "revoked")
    assert revoked is not None
    assert (revoked.status, revoked.version) == ("revoked", 1)
    assert store.set_status("missing", "revoked") is None
    assert store.get_registration("missing") is None  # a targeted write recreates nothing
    store.touch_registration("c1", 12345)
    store.touch_registration("missing", 1)  # no error, no row
    got = store.get_registration("c1")
    assert got is not None
    assert got.status == "revoked"
    assert got.last_used_at == 12345
    assert [r.client_id for r in store.list_registrations()] == ["c1", "c2", "c3"]
    assert sorted(r.client_id for r in store.registrations_for_backing("b1")) == ["c1", "c2"]
    store.delete_registration("c2")
    assert store.get_registration("c2") is None
    assert [r.client_id for r in store.list_registrations()] == ["c1", "c3"]


def test_backing_clients_and_one_per_pool(store: Store) -> None:
    assert store.count_backing() == 0
    for client_id, pool in (("b1", "public"), ("b2", None), ("b3", None)):
        assert store.reserve_backing(10)
        store.create_backing(backing(client_id, pool))
    assert store.count_backing() == 3
    with pytest.raises(StoreConflict):
        store.create_backing(backing("b9", "public"))  # the pool is served already
    with pytest.raises(StoreConflict):
        store.create_backing(backing("b1", "other"))  # the id is taken
    assert store.count_backing() == 3
    found = store.find_backing("public")
    assert found is not None
    assert found.client_id == "b1"
    assert store.get_backing("b2") == backing("b2", None)
    assert [b.client_id for b in store.list_backing()] == ["b1", "b2", "b3"]
    store.delete_backing("b1")
    store.delete_backing("b1")  # twice is fine
    assert store.find_backing("public") is None
    assert store.count_backing() == 2
    assert store.reserve_backing(10)
    store.create_backing(backing("b4", "public"))  # the pool is free again
    assert store.count_backing() == 3


def test_unused_registrations_expire_and_first_use_keeps_them(store: Store) -> None:
    soon = replace(registration("fresh"), expires_at=now() + 3600)
    gone = replace(registration("stale"), expires_at=now() - 1)
    store.create_registration(soon)
    store.create_registration(gone)
    assert store.get_registration("fresh") == soon
    assert store.get_registration("stale") is None  # still a row until TTL or prune
    assert {r.client_id for r in store.list_registrations()} == {"fresh", "stale"}
    store.touch_registration("fresh", now())
    used = store.get_registration("fresh")
    assert used is not None
    assert used.expires_at is None
    assert used.last_used_at is not None


def test_dynamodb_tells_a_lost_condition_from_a_concurrent_transaction() -> None:
    """DynamoDB cancels a transaction both when a condition fails and when another transaction
    touches the same item (every backing client updates the count): only the first is "exists"."""
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    store = DynamoDBStore("registrations", client=client)
    with Stubber(client) as stub:
        for reasons in (["None", "TransactionConflict"], ["None", "TransactionConflict"]):
            stub.add_client_error(
                "transact_write_items",
                service_error_code="TransactionCanceledException",
                modeled_fields={"CancellationReasons": [{"Code": c} for c in reasons]},
            )
        stub.add_response("transact_write_items", {})
        store.create_backing(backing("b1", None))  # retried past two conflicts
        stub.add_client_error(
            "transact_write_items",
            service_error_code="TransactionCanceledException",
            modeled_fields={"CancellationReasons": [{"Code": "ConditionalCheckFailed"}]},
        )
        with pytest.raises(StoreConflict):
            store.create_backing(backing("b1", None))
        for _ in range(4):
            stub.add_client_error(
                "transact_write_items",
                service_error_code="TransactionCanceledException",
                modeled_fields={"CancellationReasons": [{"Code": "TransactionConflict"}]},
            )
        with pytest.raises(StoreUnavailable):
            store.create_backing(backing("b1", None))
        stub.assert_no_pending_responses()


# Single-use marks (Store.spend_once): the sealed authorization state is spent through them.


@pytest.fixture(params=["sqlite", "dynamodb"])
def two_instances(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """One store opened twice, as two Lambda instances (or two processes on a host) see it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'authproxy.db'}"
        first, second = open_store(url), open_store(url)
        yield first, second
        first.close()
        second.close()
        return
    with mock_aws():
        clients = [boto3.client("dynamodb", region_name="us-east-1") for _ in range(2)]
        create_table(clients[0], "registrations")
        yield (
            DynamoDBStore("registrations", client=clients[0]),
            DynamoDBStore("registrations", client=clients[1]),
        )


def test_rfc9700_4_5_spend_once_is_true_only_the_first_time(store: Store) -> None:
    later = now() + 900
    assert store.spend_once("state#a", later) is True
    assert store.spend_once("state#a", later) is False
    assert store.spend_once("state#a", later + 60) is False
    assert store.spend_once("state#b", later) is True


def test_spend_once_forgets_expired_marks(store: Store) -> None:
    assert store.spend_once("state#old", now() - 1) is True
    # TTL deletes late: a mark past its expiry no longer counts, whether or not it is still there.
    assert store.spend_once("state#old", now() + 900) is True
    assert store.spend_once("state#old", now() + 900) is False


def test_spend_once_marks_are_not_registrations_or_backing_clients(store: Store) -> None:
    store.spend_once("state#x", now() + 900)
    assert store.list_registrations() == []
    assert store.list_backing() == []
    assert store.count_backing() == 0
    assert store.get_registration("state#x") is None


def test_rfc9700_4_5_spend_once_holds_across_instances_under_concurrency(
    two_instances: tuple[Store, Store],
) -> None:
    expires = now() + 900
    keys = [f"state#race-{n}" for n in range(5)]
    attempts = [(key, two_instances[i % 2]) for key in keys for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda a: (a[0], a[1].spend_once(a[0], expires)), attempts))
    for key in keys:
        assert [won for k, won in results if k == key].count(True) == 1, key


def test_dynamodb_spent_marks_expire_by_the_tables_ttl_attribute() -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "registrations")
        DynamoDBStore("registrations", client=client).spend_once("state#ttl", 1234567890)
        item = client.get_item(
            TableName="registrations", Key={"pk": {"S": "SPENT#state#ttl"}, "sk": {"S": "SPENT"}}
        )["Item"]
    assert item["expires_at"] == {"N": "1234567890"}


def test_update_is_conditional_on_the_version_and_an_active_status(store: Store) -> None:
    """Design D9: an update written from a stale read loses; it never undoes a revocation,
    never rewrites the status and never recreates a deleted record."""
    store.create_registration(registration("c1"))
    read = store.get_registration("c1")
    assert read is not None
    updated = store.update_registration(
        replace(read, metadata={**read.metadata, "client_name": "new"}, registration_token_hash="t")
    )
    assert (updated.version, updated.metadata["client_name"]) == (1, "new")
    assert updated.registration_token_hash == "t"
    assert store.get_registration("c1") == updated
    with pytest.raises(StoreConflict):  # written from the read before the update
        store.update_registration(replace(read, registration_token_hash="stale"))
    store.set_status("c1", "revoked")
    with pytest.raises(StoreConflict):  # written from the read before the revocation
        store.update_registration(replace(updated, registration_token_hash="stale"))
    after = store.get_registration("c1")
    assert after is not None
    assert (after.status, after.registration_token_hash, after.version) == ("revoked", "t", 2)
    store.delete_registration("c1")
    with pytest.raises(StoreConflict):
        store.update_registration(after)
    assert store.get_registration("c1") is None


def test_touch_is_not_a_change_an_update_must_have_read(store: Store) -> None:
    store.create_registration(registration("c1"))
    read = store.get_registration("c1")
    assert read is not None
    store.touch_registration("c1", 12345)
    updated = store.update_registration(replace(read, registration_token_hash="t"))
    assert updated.last_used_at == 12345  # the use recorded meanwhile is kept


def test_quota_slots_are_reserved_atomically_and_given_back(store: Store) -> None:
    assert [store.reserve_backing(2) for _ in range(3)] == [True, True, False]
    store.release_backing()
    assert store.count_backing() == 1
    assert store.reserve_backing(2)
    store.create_backing(backing("b1", None))
    store.delete_backing("b1")  # the row goes with its slot
    store.delete_backing("b1")  # and only once
    assert store.count_backing() == 1
    store.release_backing()
    store.release_backing()  # never below zero
    assert store.count_backing() == 0


def test_sqlite_counts_backing_clients_stored_before_the_counter(tmp_path: Path) -> None:
    path = tmp_path / "authproxy.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE backing_clients (client_id TEXT PRIMARY KEY, pool TEXT UNIQUE, "
            "data TEXT NOT NULL)"
        )
        db.execute("INSERT INTO backing_clients VALUES ('b1', NULL, ?)", (json.dumps({}),))
    store = open_store(f"sqlite:///{path}")
    assert store.count_backing() == 1
    store.close()


def test_dynamodb_reads_and_updates_items_written_before_versions() -> None:
    """Items of earlier releases keep status in the JSON copy and have no version."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "registrations")
        store = DynamoDBStore("registrations", client=client)
        data = registration("c1").to_dict()
        for name in ("last_used_at", "expires_at", "version"):
            del data[name]
        item = {
            "pk": {"S": "REG#c1"},
            "sk": {"S": "REG"},
            "gsi1pk": {"S": "BACK#b1"},
            "gsi1sk": {"S": "REG#000000000100#c1"},
            "data": {"S": json.dumps(data)},
        }
        client.put_item(TableName="registrations", Item=item)
        read = store.get_registration("c1")
        assert read == registration("c1")
        updated = store.update_registration(replace(read, registration_token_hash="t"))
        assert (updated.version, updated.status) == (1, "active")
        with pytest.raises(StoreConflict):
            store.update_registration(replace(read, registration_token_hash="stale"))
        revoked = store.set_status("c1", "revoked")
        assert revoked is not None
        assert (revoked.status, revoked.version) == ("revoked", 2)


def test_a_delete_given_what_was_read_spares_a_record_used_or_changed_since(
    store: Store,
) -> None:
    for client_id in ("used", "changed", "kept", "gone"):
        store.create_registration(registration(client_id))
    read = {r.client_id: r for r in store.list_registrations()}
    store.touch_registration("used", 12345)
    store.set_status("changed", "revoked")
    store.delete_registration("gone")
    for client_id in ("used", "changed", "gone"):
        with pytest.raises(StoreConflict):
            store.delete_registration(client_id, expected=read[client_id])
    store.delete_registration("kept", expected=read["kept"])
    assert sorted(r.client_id for r in store.list_registrations()) == ["changed", "used"]
    used = store.get_registration("used")
    assert used is not None
    store.delete_registration("used", expected=used)
    assert store.get_registration("used") is None
