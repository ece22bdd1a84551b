"""One suite, both stores: SQLite (one host, tests) and DynamoDB (AWS, here moto)."""

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
    store.save_registration(registration("c1", created_at=100).revoked())
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
    store.create_backing(backing("b1", "public"))
    store.create_backing(backing("b2", None))
    store.create_backing(backing("b3", None))
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
