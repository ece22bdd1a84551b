"""``authproxy clients``: the operator's view of registrations and their backing Cognito clients.

Plain functions over the store and the Cognito admin adapter, so the same code runs against AWS
(standard credentials and region) and against ``authproxy dev``. Each returns data; the command
line prints it. Nothing here deletes or changes a Cognito app client that does not carry this
deployment's owner mark (``owner``, see :func:`.cognito_admin.deployment_mark`): a user pool may
serve several deployments, and other applications.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .clients import delete_cognito_client, retire_backing, revoke_registration
from .cognito_admin import CognitoAdmin, CognitoAdminError, owned_by, unmarked
from .store import BackingClient, Registration, Store, StoreConflict

DAY = 24 * 3600
SETTLING = 600
Progress = Callable[[int, int], None]


def _no_progress(done: int, total: int) -> None:
    return None


def iso(timestamp: int | None) -> str | None:
    """ISO 8601 in UTC for every timestamp shown; None (JSON null) for one that never was."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary(registration: Registration, backing: BackingClient | None) -> dict[str, Any]:
    return {
        "client_id": registration.client_id,
        "client_name": registration.client_name,
        "kind": registration.kind,
        "auth_method": registration.auth_method,
        "status": registration.status,
        "backing_client_id": registration.backing_client_id,
        "policy": backing.policy if backing else "missing",
        "created": iso(registration.created_at),
        "last_used": iso(registration.last_used_at),
        "expires": iso(registration.expires_at),
    }


def list_clients(store: Store) -> list[dict[str, Any]]:
    backing = {b.client_id: b for b in store.list_backing()}
    return [summary(r, backing.get(r.backing_client_id)) for r in store.list_registrations()]


def show_client(store: Store, admin: CognitoAdmin, client_id: str) -> dict[str, Any] | None:
    registration = store.get_registration(client_id)
    if registration is None:
        return None
    backing = store.get_backing(registration.backing_client_id)
    try:
        described = admin.describe_client(registration.backing_client_id)
        cognito: dict[str, Any] = {
            k: described.get(k)
            for k in ("ClientName", "AllowedOAuthScopes", "CallbackURLs", "RefreshTokenRotation")
        }
    except CognitoAdminError as exc:
        if not exc.not_found:
            raise
        cognito = {"error": "the backing client does not exist in Cognito"}
    shared = len(store.registrations_for_backing(registration.backing_client_id))
    return {
        **summary(registration, backing),
        "redirect_uris": registration.redirect_uris,
        "metadata": registration.metadata,
        "backing_client": {"shared_by": shared, **cognito},
    }


@dataclass(frozen=True)
class Revoked:
    """What ``clients revoke`` did: the registration, and what became of its backing client."""

    registration: Registration
    #: One sentence for the operator; None when the backing client was not asked about.
    backing: str | None = None
    #: The backing client was to be deleted and could not be (reconcile will report it).
    failed: bool = False


def revoke_client(
    store: Store, admin: CognitoAdmin, client_id: str, *, delete_backing: bool
) -> Revoked | None:
    """Revoke a registration; with ``delete_backing``, also retire its backing client when
    only it used one (``dedicated``). A pooled backing client serves every registration of its
    kind, so it stays, and the result says so and why."""
    registration = revoke_registration(store, admin, client_id, delete_backing=False)
    if registration is None or not delete_backing:
        return None if registration is None else Revoked(registration)
    backing_id = registration.backing_client_id
    backing = store.get_backing(backing_id)
    if backing is None:
        return Revoked(registration, f"its backing client {backing_id} was already gone")
    if backing.policy != "dedicated":
        others = sum(r.status == "active" for r in store.registrations_for_backing(backing_id))
        return Revoked(
            registration,
            f"its backing client {backing_id} was kept: it is pooled, shared by "
            f"{plural(others, 'other active registration')}, and deleting it would end theirs "
            "too; the revoked registration's codes, refresh tokens and sign-ins are refused "
            "already, and its access tokens run out on their own",
        )
    if retire_backing(store, admin, backing):
        return Revoked(registration, f"its backing client {backing_id} was deleted from Cognito")
    return Revoked(
        registration,
        f"its backing client {backing_id} could not be deleted; `clients reconcile` reports it",
        failed=True,
    )


def plural(count: int, noun: str) -> str:
    """``1 registration``, ``2 registrations``: English plural agreement for counted nouns."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@dataclass
class PrunePlan:
    """Registrations to delete, and dedicated backing clients left with nothing to serve."""

    registrations: list[Registration] = field(default_factory=list)
    backing: list[BackingClient] = field(default_factory=list)
    #: Backing clients left alone: their Cognito client lacks this deployment's owner mark.
    not_owned: list[BackingClient] = field(default_factory=list)


def plan_prune(
    store: Store,
    admin: CognitoAdmin,
    owner: str,
    *,
    never_used_days: float,
    idle_days: float | None,
    settling: float = SETTLING,
    now: float | None = None,
) -> PrunePlan:
    """Never used after the grace period, or (with ``idle_days``) unused for that long; revoked
    registrations go too. Claude registers on every fresh connection, so most are never used.

    Nothing younger than ``settling`` seconds is planned: a registration writes its backing
    client's row before its own, so a dedicated backing client in the middle of a registration
    looks unused. A backing client whose Cognito client is not this deployment's (``owner``) is
    left alone (:attr:`PrunePlan.not_owned`); one Cognito no longer has is only a row to drop."""
    now = time.time() if now is None else now
    plan = PrunePlan()
    for registration in store.list_registrations():
        if now - registration.created_at < settling:
            continue
        never_used = (
            registration.last_used_at is None
            and now - registration.created_at >= never_used_days * DAY
        )
        idle = (
            idle_days is not None
            and registration.last_used_at is not None
            and now - registration.last_used_at >= idle_days * DAY
        )
        if never_used or idle or registration.status == "revoked":
            plan.registrations.append(registration)
    going = {r.client_id for r in plan.registrations}
    cognito: dict[str, dict[str, Any]] | None = None
    for backing in store.list_backing():
        if backing.policy != "dedicated" or now - backing.created_at < settling:
            continue  # the pooled clients serve every future registration too
        users = store.registrations_for_backing(backing.client_id)
        if not all(r.client_id in going for r in users):
            continue
        if cognito is None:  # listed once, and only when there is something to retire
            cognito = {c["ClientId"]: c for c in admin.list_clients()}
        listed = cognito.get(backing.client_id)
        if listed is None or owned_by(owner, listed):
            plan.backing.append(backing)
        else:
            plan.not_owned.append(backing)
    return plan


def apply_prune(
    store: Store, admin: CognitoAdmin, plan: PrunePlan, progress: Progress = _no_progress
) -> int:
    """Delete what the plan names: rows first, then their backing clients. Returns failures.

    A registration used or changed since the plan read it stays (the delete is conditional on
    what was read), and so does a backing client that still serves a registration."""
    total = len(plan.registrations) + len(plan.backing)
    failures = 0
    for done, registration in enumerate(plan.registrations, 1):
        with contextlib.suppress(StoreConflict):
            store.delete_registration(registration.client_id, expected=registration)
        progress(done, total)
    for done, backing in enumerate(plan.backing, len(plan.registrations) + 1):
        if not store.registrations_for_backing(backing.client_id):
            failures += not retire_backing(store, admin, backing)
        progress(done, total)
    return failures


@dataclass
class Drift:
    """Where the store and Cognito disagree."""

    #: Cognito clients carrying this deployment's owner mark that no store row knows.
    orphaned_in_cognito: list[dict[str, Any]] = field(default_factory=list)
    #: Backing rows whose Cognito client is gone.
    missing_in_cognito: list[BackingClient] = field(default_factory=list)
    #: Registrations whose backing row is gone.
    dangling_registrations: list[Registration] = field(default_factory=list)
    #: Backing clients lacking scopes of the resources the façade fronts now.
    missing_scopes: dict[str, list[str]] = field(default_factory=dict)
    #: Backing clients this store knows, named before owner marks: ``--fix`` marks them.
    unmarked: list[str] = field(default_factory=list)
    #: Backing rows naming a Cognito client another deployment marked: never touched here,
    #: reported for the operator (a table restored from another deployment's backup?).
    not_owned: list[str] = field(default_factory=list)
    #: Quota slots taken beyond the stored backing clients and those in flight (a registration
    #: that died between reserving and storing), or, when negative, missing.
    leaked_slots: int = 0

    @property
    def clean(self) -> bool:
        return not (
            self.orphaned_in_cognito
            or self.missing_in_cognito
            or self.dangling_registrations
            or self.missing_scopes
            or self.unmarked
            or self.not_owned
            or self.leaked_slots
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "orphaned_in_cognito": [
                {"client_id": c["ClientId"], "client_name": c["ClientName"]}
                for c in self.orphaned_in_cognito
            ],
            "missing_in_cognito": [b.client_id for b in self.missing_in_cognito],
            "dangling_registrations": [r.client_id for r in self.dangling_registrations],
            "missing_scopes": self.missing_scopes,
            "unmarked": self.unmarked,
            "not_owned": self.not_owned,
            "leaked_quota_slots": self.leaked_slots,
        }


def find_drift(
    store: Store,
    admin: CognitoAdmin,
    owner: str,
    progress: Progress = _no_progress,
    settling: float = SETTLING,
    scopes: Sequence[str] = (),
) -> Drift:
    """Compare the store with the pool's app clients, both ways, and, given the ``scopes`` the
    backing clients should allow (from ``AUTHPROXY_RESOURCES``), find those that lack some.

    Only clients carrying this deployment's ``owner`` mark count: in a shared pool, another
    deployment's clients are unknown to this store without being orphans. A Cognito client
    younger than ``settling`` seconds is never an orphan: the façade creates the Cognito client
    before its row, so a registration in flight would otherwise look like one. The quota counter
    should equal the stored backing clients plus those young ones.
    """
    now = time.time()
    drift = Drift()
    counted = store.count_backing()
    cognito = {c["ClientId"]: c for c in admin.list_clients()}
    backing = {b.client_id: b for b in store.list_backing()}
    in_flight = 0
    for client_id, client in cognito.items():
        if client_id in backing or not owned_by(owner, client):
            continue
        created = admin.describe_client(client_id).get("CreationDate")
        age = now - created.timestamp() if created is not None else None
        if settling <= 0 or (age is not None and age >= settling):
            drift.orphaned_in_cognito.append(client)
        else:
            in_flight += 1
    stored = len(backing)
    drift.leaked_slots = (
        counted - stored if counted < stored else max(0, counted - stored - in_flight)
    )
    drift.missing_in_cognito = [b for cid, b in backing.items() if cid not in cognito]
    for client_id in sorted(backing.keys() & cognito.keys()):
        if unmarked(cognito[client_id]):
            drift.unmarked.append(client_id)
        elif not owned_by(owner, cognito[client_id]):
            drift.not_owned.append(client_id)
    if scopes:
        for client_id in sorted(backing.keys() & cognito.keys()):
            if client_id in drift.not_owned:
                continue
            allowed = admin.describe_client(client_id).get("AllowedOAuthScopes", [])
            lacking = [s for s in scopes if s not in allowed]
            if lacking:
                drift.missing_scopes[client_id] = lacking
    registrations = store.list_registrations()
    for done, registration in enumerate(registrations, 1):
        if registration.backing_client_id not in backing and registration.status == "active":
            drift.dangling_registrations.append(registration)
        progress(done, len(registrations))
    return drift


def fix_drift(store: Store, admin: CognitoAdmin, owner: str, drift: Drift) -> int:
    """Delete orphaned Cognito clients; drop rows for clients Cognito no longer has and revoke
    the registrations that depended on them (they cannot work); give backing clients the scopes
    they lack; mark the unmarked ones ``owner``'s; give back leaked quota slots (or take missing
    ones). Clients another deployment marked are left alone. Returns failures."""
    failures = 0
    for client_id in drift.unmarked:
        admin.adopt(client_id, owner)
    for _ in range(drift.leaked_slots):
        store.release_backing()
    for _ in range(-drift.leaked_slots):
        store.reserve_backing(sys.maxsize)
    for client_id, scopes in drift.missing_scopes.items():
        admin.add_scopes(client_id, scopes)
    for client in drift.orphaned_in_cognito:
        failures += not delete_cognito_client(admin, client["ClientId"])
    gone = {b.client_id for b in drift.missing_in_cognito}
    for backing in drift.missing_in_cognito:
        store.delete_backing(backing.client_id)
    dangling = {r.client_id for r in drift.dangling_registrations}
    for registration in store.list_registrations():
        if registration.status == "active" and (
            registration.backing_client_id in gone or registration.client_id in dangling
        ):
            store.set_status(registration.client_id, "revoked")
    return failures
