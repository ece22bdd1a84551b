"""DynamoDB store for AWS (design D9): one table, on-demand, keys ``pk``/``sk``.

Items: ``REG#<client_id>`` (a registration; GSI ``gsi1`` by backing client), ``BACK#<id>`` (a
backing client), ``POOL#<pool>`` (which client serves a pool), ``META``/``COUNT`` (quota slots
taken by backing clients, reserved with a conditional update before each is created) and
``SPENT#<key>`` (a single-use mark, deleted by the table's TTL on ``expires_at``). Writes that
must agree are one transaction. Records are stored as a JSON string so no float/Decimal
conversions touch them; what is written on its own (status, version, the use timestamps) is also a
top-level attribute, which wins over the JSON copy.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from servicekit import aws

from .base import (
    BackingClient,
    Registration,
    RegistrationStatus,
    StoreConflict,
    StoreUnavailable,
    now,
)

GSI = "gsi1"
TRANSACTION_ATTEMPTS = 4
_COUNT_KEY = {"pk": {"S": "META"}, "sk": {"S": "COUNT"}}


def _reg_key(client_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"REG#{client_id}"}, "sk": {"S": "REG"}}


def _back_key(client_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"BACK#{client_id}"}, "sk": {"S": "BACK"}}


def _pool_key(pool: str) -> dict[str, Any]:
    return {"pk": {"S": f"POOL#{pool}"}, "sk": {"S": "POOL"}}


def _spent_key(key: str) -> dict[str, Any]:
    return {"pk": {"S": f"SPENT#{key}"}, "sk": {"S": "SPENT"}}


def _lost_condition(exc: ClientError) -> bool:
    """A condition of ours failed: the key exists (or is gone). A transaction cancelled for any
    other reason (a concurrent transaction on the same item, throttling) is not that."""
    code = exc.response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return True
    reasons = exc.response.get("CancellationReasons") or []
    return code == "TransactionCanceledException" and any(
        reason.get("Code") == "ConditionalCheckFailed" for reason in reasons
    )


def _transaction_conflict(exc: ClientError) -> bool:
    reasons = exc.response.get("CancellationReasons") or []
    return any(reason.get("Code") == "TransactionConflict" for reason in reasons)


def _registration(item: dict[str, Any]) -> Registration:
    data = json.loads(item["data"]["S"])
    for name in ("last_used_at", "expires_at"):
        data[name] = int(item[name]["N"]) if name in item else None
    # Items written before status and version were attributes keep them in the JSON (or, for the
    # version, nowhere: 0).
    if "status" in item:
        data["status"] = item["status"]["S"]
    data["version"] = int(item["version"]["N"]) if "version" in item else 0
    return Registration.from_dict(data)


def _at_version(version: int) -> str:
    """The condition that the item is at ``version`` (an item written before versions: 0)."""
    same = "#version = :version"
    return f"(attribute_not_exists(#version) OR {same})" if version == 0 else same


def _backing(item: dict[str, Any]) -> BackingClient:
    return BackingClient.from_dict(json.loads(item["data"]["S"]))


def create_table(client: Any, table: str) -> None:
    """Create the table as the AWS template does (used by the local stack and tests)."""
    client.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": GSI,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


class DynamoDBStore:
    """Registrations and backing clients in one DynamoDB table."""

    #: Every read is a call over the network: see :attr:`Store.local_reads`.
    local_reads = False

    def __init__(self, table: str, client: Any | None = None, region: str | None = None) -> None:
        self.table = table
        self._client = aws.LazyClient("dynamodb", region, client=client)

    @classmethod
    def from_url(cls, url: str, region: str | None = None) -> DynamoDBStore:
        return cls(url.removeprefix("dynamodb://"), region=region)

    @property
    def _db(self) -> Any:
        return self._client.connect()

    def connect(self) -> None:
        """Make the DynamoDB client now rather than on first use (before a snapshot)."""
        self._client.connect()

    def close(self) -> None:
        """Nothing to release: botocore clients pool their own connections."""

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One DynamoDB call; a lost condition is :class:`StoreConflict`, any other failure
        :class:`StoreUnavailable`. A transaction that met a concurrent one on the same item (the
        backing-client count) is retried a few times first."""
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                return dict(getattr(self._db, operation)(**kwargs))
            except ClientError as exc:
                if _lost_condition(exc):
                    raise StoreConflict(operation) from None
                if _transaction_conflict(exc) and attempt + 1 < TRANSACTION_ATTEMPTS:
                    time.sleep(0.02 * 2**attempt)
                    continue
                code = exc.response.get("Error", {}).get("Code", "Unknown")
                raise StoreUnavailable(f"dynamodb {operation}: {code}") from None
            except BotoCoreError as exc:
                raise StoreUnavailable(f"dynamodb {operation}: {exc}") from None
        raise AssertionError("unreachable")

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        found = self._call("get_item", TableName=self.table, Key=key, ConsistentRead=True)
        return found.get("Item") or None

    def _pages(self, operation: str, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: dict[str, Any] | None = None
        while True:
            extra = {"ExclusiveStartKey": token} if token else {}
            page = self._call(operation, TableName=self.table, **kwargs, **extra)
            items.extend(page.get("Items", []))
            token = page.get("LastEvaluatedKey")
            if not token:
                return items

    # registrations

    @staticmethod
    def _data(registration: Registration) -> dict[str, Any]:
        data = registration.to_dict()
        for name in ("last_used_at", "expires_at", "version"):
            del data[name]
        return {"S": json.dumps(data)}

    def _registration_item(self, registration: Registration) -> dict[str, Any]:
        # Top-level numbers: touch updates one, DynamoDB's TTL reads the other.
        timestamps = {
            "last_used_at": registration.last_used_at,
            "expires_at": registration.expires_at,
        }
        return {
            **_reg_key(registration.client_id),
            "gsi1pk": {"S": f"BACK#{registration.backing_client_id}"},
            "gsi1sk": {"S": f"REG#{registration.created_at:012d}#{registration.client_id}"},
            "data": self._data(registration),
            "status": {"S": registration.status},
            "version": {"N": str(registration.version)},
            **{k: {"N": str(v)} for k, v in timestamps.items() if v is not None},
        }

    def get_registration(self, client_id: str) -> Registration | None:
        item = self._get(_reg_key(client_id))
        registration = _registration(item) if item else None
        # TTL deletes within days of expiry, not at it: an expired row still present is gone.
        return None if registration is None or registration.expired() else registration

    def create_registration(self, registration: Registration) -> None:
        self._call(
            "put_item",
            TableName=self.table,
            Item=self._registration_item(registration),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def update_registration(self, registration: Registration) -> Registration:
        if registration.status != "active":
            raise StoreConflict(f"registration {registration.client_id} is {registration.status}")
        # The JSON copy of the status written here is the one read; it only counts for an item
        # written before status was an attribute, where the version condition guarantees it is
        # still the stored one.
        updated = self._call(
            "update_item",
            TableName=self.table,
            Key=_reg_key(registration.client_id),
            UpdateExpression="SET #data = :data, #version = :next",
            ConditionExpression=(
                "attribute_exists(pk) AND "
                f"{_at_version(registration.version)} AND "
                "(#status = :active OR attribute_not_exists(#status))"
            ),
            ExpressionAttributeNames={"#data": "data", "#version": "version", "#status": "status"},
            ExpressionAttributeValues={
                ":data": self._data(registration),
                ":version": {"N": str(registration.version)},
                ":next": {"N": str(registration.version + 1)},
                ":active": {"S": "active"},
            },
            ReturnValues="ALL_NEW",
        )
        return _registration(updated["Attributes"])

    def set_status(self, client_id: str, status: RegistrationStatus) -> Registration | None:
        try:
            updated = self._call(
                "update_item",
                TableName=self.table,
                Key=_reg_key(client_id),
                UpdateExpression="SET #status = :status, #version = if_not_exists(#version, :zero) "
                "+ :one" + (" REMOVE expires_at" if status == "revoked" else ""),
                # A revoked registration never expires (base.Store.set_status).
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#status": "status", "#version": "version"},
                ExpressionAttributeValues={
                    ":status": {"S": status},
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                },
                ReturnValues="ALL_NEW",
            )
        except StoreConflict:  # deleted: nothing to set, nothing recreated
            return None
        return _registration(updated["Attributes"])

    def delete_registration(self, client_id: str, expected: Registration | None = None) -> None:
        condition: dict[str, Any] = {}
        if expected is not None:
            values = {":version": {"N": str(expected.version)}}
            used = "attribute_not_exists(last_used_at)"
            if expected.last_used_at is not None:
                used = "last_used_at = :used"
                values[":used"] = {"N": str(expected.last_used_at)}
            condition = {
                "ConditionExpression": (
                    f"attribute_exists(pk) AND {_at_version(expected.version)} AND {used}"
                ),
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": values,
            }
        self._call("delete_item", TableName=self.table, Key=_reg_key(client_id), **condition)

    def touch_registration(self, client_id: str, at: int) -> None:
        with contextlib.suppress(StoreConflict):  # deleted meanwhile: nothing to record
            self._call(
                "update_item",
                TableName=self.table,
                Key=_reg_key(client_id),
                UpdateExpression="SET last_used_at = :at REMOVE expires_at",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":at": {"N": str(at)}},
            )

    def list_registrations(self) -> list[Registration]:
        items = self._pages(
            "scan",
            FilterExpression="sk = :sk",
            ExpressionAttributeValues={":sk": {"S": "REG"}},
        )
        return sorted(map(_registration, items), key=lambda r: (r.created_at, r.client_id))

    def registrations_for_backing(self, backing_client_id: str) -> list[Registration]:
        items = self._pages(
            "query",
            IndexName=GSI,
            KeyConditionExpression="gsi1pk = :b",
            ExpressionAttributeValues={":b": {"S": f"BACK#{backing_client_id}"}},
        )
        return [_registration(i) for i in items]

    # backing clients

    def get_backing(self, client_id: str) -> BackingClient | None:
        item = self._get(_back_key(client_id))
        return _backing(item) if item else None

    def find_backing(self, pool: str) -> BackingClient | None:
        lock = self._get(_pool_key(pool))
        return self.get_backing(lock["backing"]["S"]) if lock else None

    def reserve_backing(self, limit: int) -> bool:
        try:
            self._call(
                "update_item",
                TableName=self.table,
                Key=_COUNT_KEY,
                UpdateExpression="ADD backing :one",
                ConditionExpression="attribute_not_exists(backing) OR backing < :limit",
                ExpressionAttributeValues={":one": {"N": "1"}, ":limit": {"N": str(limit)}},
            )
        except StoreConflict:
            return False
        return True

    def release_backing(self) -> None:
        with contextlib.suppress(StoreConflict):  # at 0 already: nothing to give back
            self._call(
                "update_item",
                TableName=self.table,
                Key=_COUNT_KEY,
                UpdateExpression="ADD backing :minus",
                ConditionExpression="backing > :zero",
                ExpressionAttributeValues={":minus": {"N": "-1"}, ":zero": {"N": "0"}},
            )

    def create_backing(self, backing: BackingClient) -> None:
        writes: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **_back_key(backing.client_id),
                        "data": {"S": json.dumps(backing.to_dict())},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        if backing.pool:
            writes.append(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": {
                            **_pool_key(backing.pool),
                            "backing": {"S": backing.client_id},
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        self._call("transact_write_items", TransactItems=writes)

    def delete_backing(self, client_id: str) -> None:
        backing = self.get_backing(client_id)
        if backing is None:
            return
        writes: list[dict[str, Any]] = [
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": _back_key(client_id),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self.table,
                    "Key": _COUNT_KEY,
                    "UpdateExpression": "ADD backing :minus",
                    "ExpressionAttributeValues": {":minus": {"N": "-1"}},
                }
            },
        ]
        if backing.pool:
            writes.append({"Delete": {"TableName": self.table, "Key": _pool_key(backing.pool)}})
        with contextlib.suppress(StoreConflict):  # already deleted by someone else
            self._call("transact_write_items", TransactItems=writes)

    def list_backing(self) -> list[BackingClient]:
        items = self._pages(
            "scan",
            FilterExpression="sk = :sk",
            ExpressionAttributeValues={":sk": {"S": "BACK"}},
        )
        return sorted(map(_backing, items), key=lambda b: b.client_id)

    def count_backing(self) -> int:
        item = self._get(_COUNT_KEY)
        return int(item["backing"]["N"]) if item and "backing" in item else 0

    # single-use marks

    def spend_once(self, key: str, expires_at: int) -> bool:
        try:
            self._call(
                "put_item",
                TableName=self.table,
                Item={**_spent_key(key), "expires_at": {"N": str(expires_at)}},
                # TTL deletes within days of expiry, not at it: an expired mark no longer counts.
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                ExpressionAttributeValues={":now": {"N": str(now())}},
            )
        except StoreConflict:
            return False
        return True
