"""Two deployments sharing one user pool (design D4): each marks the backing clients it creates,
and `authproxy clients reconcile --fix` and `prune` touch only the clients of their own
deployment, never another's (nor the pool's other applications)."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from authproxy.cognito_admin import MAX_NAME, backing_client_name, owned_by
from authproxy.store import BackingClient
from devstack.stack import FAKE_AWS
from support.racing import Facade, facade, pool_variables

AUTHPROXY = str(Path(sys.executable).with_name("authproxy"))
CLIENT = {
    "client_name": "shared pool client",
    "redirect_uris": ["http://localhost:8400/cb"],
    "token_endpoint_auth_method": "none",
}
DEDICATED = {"AUTHPROXY_CLIENT_POLICY": "dedicated"}


@pytest.fixture
def deployments(tmp_path: Path) -> Iterator[tuple[Facade, Facade]]:
    """Deployment A (SQLite) and deployment B (DynamoDB) on one stand-in pool."""
    with facade(tmp_path, "sqlite", env=DEDICATED) as a:
        shared = pool_variables(a.stack)
        with facade(tmp_path, "dynamodb", env=DEDICATED, standin=a.standin, pool=shared) as b:
            yield a, b


def clients(f: Facade, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **f.stack.env,
        **FAKE_AWS,
        "AWS_ENDPOINT_URL_DYNAMODB": f.standin.endpoint,
    }
    return subprocess.run(
        [AUTHPROXY, "clients", *args], env=env, capture_output=True, text=True, timeout=120
    )


def register(f: Facade) -> str:
    """A registration at ``f``; its backing client's id."""
    response = httpx.post(f"{f.issuer}/register", json=CLIENT, timeout=30)
    assert response.status_code == 201, response.text
    stored = f.store.get_registration(response.json()["client_id"])
    assert stored is not None
    return stored.backing_client_id


def in_pool(f: Facade) -> dict[str, str]:
    return {c["ClientId"]: c["ClientName"] for c in f.admin.list_clients()}


def test_every_backing_client_carries_its_deployments_mark(
    deployments: tuple[Facade, Facade],
) -> None:
    a, b = deployments
    assert a.owner != b.owner
    ours, theirs = register(a), register(b)
    names = in_pool(a)
    assert names[ours] == f"authproxy-{a.owner}-shared pool client"
    assert names[theirs] == f"authproxy-{b.owner}-shared pool client"
    assert owned_by(a.owner, {"ClientName": names[ours]})
    assert not owned_by(a.owner, {"ClientName": names[theirs]})


def test_reconcile_fix_leaves_another_deployments_clients(
    deployments: tuple[Facade, Facade],
) -> None:
    a, b = deployments
    theirs = register(b)
    ours = register(a)
    resource = json.loads(a.stack["AUTHPROXY_RESOURCES"])[0]["resource"]
    orphan = a.admin.create_client(
        owner=a.owner,
        name="left behind",
        callback_url=f"{a.issuer}/callback",
        scopes=[f"{resource}/read"],
        identity_providers=["COGNITO"],
    ).client_id
    legacy = a.admin._idp.create_user_pool_client(
        UserPoolId=a.stack["USER_POOL_ID"], ClientName="authproxy-made-before-owner-marks"
    )["UserPoolClient"]["ClientId"]

    report = clients(a, "reconcile", "--min-age", "0")
    assert report.returncode == 1, report.stdout + report.stderr
    drift = json.loads(report.stdout[: report.stdout.rindex("}") + 1])
    assert [c["client_id"] for c in drift["orphaned_in_cognito"]] == [orphan]

    fixed = clients(a, "reconcile", "--min-age", "0", "--fix")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    remaining = in_pool(a)
    assert orphan not in remaining
    assert {ours, theirs, legacy} <= remaining.keys()
    # B's own view is clean: nothing of its was touched.
    theirs_report = clients(b, "reconcile", "--min-age", "0")
    assert theirs_report.returncode == 0, theirs_report.stdout + theirs_report.stderr


def test_prune_leaves_another_deployments_clients(deployments: tuple[Facade, Facade]) -> None:
    a, b = deployments
    theirs = register(b)
    # A row in A's store naming B's client (a table restored from the wrong backup, say).
    a.store.create_backing(
        BackingClient(
            client_id=theirs, name="restored", sealed_secret="x", policy="dedicated", created_at=1
        )
    )
    pruned = clients(a, "prune", "--never-used-days", "0", "--min-age", "0", "--yes")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert f"left alone, not this deployment's: backing client {theirs}" in pruned.stdout
    assert theirs in in_pool(b)
    assert b.store.get_backing(theirs) is not None


@pytest.mark.parametrize("name", ["x" * 300, "ünïcode ✓ name", "", "a/b\\c<d>"])
def test_marked_names_fit_cognitos_rules(name: str) -> None:
    named = backing_client_name("0123456789", name)
    assert named.startswith("authproxy-0123456789-")
    assert len(named) <= MAX_NAME
    assert named.isascii()


def drift_of(report: subprocess.CompletedProcess[str]) -> dict:
    return dict(json.loads(report.stdout[: report.stdout.rindex("}") + 1]))


def test_reconcile_marks_the_clients_a_release_before_owner_marks_made(tmp_path: Path) -> None:
    """After an upgrade, the backing clients this store knows are named ``authproxy-<name>``:
    ``--fix`` marks them this deployment's, so prune and reconcile may act on them again."""
    with facade(tmp_path, "sqlite", env=DEDICATED) as a:
        resource = json.loads(a.stack["AUTHPROXY_RESOURCES"])[0]["resource"]
        made = a.admin._idp.create_user_pool_client(
            UserPoolId=a.stack["USER_POOL_ID"],
            ClientName="authproxy-claudeai",
            GenerateSecret=True,
            AllowedOAuthFlows=["code"],
            AllowedOAuthFlowsUserPoolClient=True,
            AllowedOAuthScopes=[f"{resource}/read"],
            CallbackURLs=[f"{a.issuer}/callback"],
        )["UserPoolClient"]["ClientId"]
        assert a.store.reserve_backing(10)
        a.store.create_backing(
            BackingClient(client_id=made, name="claudeai", sealed_secret="x", policy="dedicated")
        )
        report = clients(a, "reconcile", "--min-age", "0")
        assert report.returncode == 1, report.stdout + report.stderr
        assert drift_of(report)["unmarked"] == [made]
        fixed = clients(a, "reconcile", "--min-age", "0", "--fix")
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert in_pool(a)[made] == f"authproxy-{a.owner}-claudeai"
        described = a.admin.describe_client(made)
        assert described["CallbackURLs"] == [f"{a.issuer}/callback"]  # the rest kept
        again = clients(a, "reconcile", "--min-age", "0")
        assert again.returncode == 0, again.stdout + again.stderr


@pytest.mark.parametrize("kind", ["sqlite", "dynamodb"])
def test_reconcile_gives_back_quota_slots_a_dead_registration_held(
    tmp_path: Path, kind: str
) -> None:
    """A registration that dies between reserving its slot and storing its backing client (a
    Lambda timeout) keeps the slot; reconcile finds it and ``--fix`` gives it back."""
    with facade(tmp_path, kind, env=DEDICATED) as a:
        register(a)
        assert a.store.reserve_backing(10)
        assert a.store.reserve_backing(10)
        report = clients(a, "reconcile", "--min-age", "0")
        assert report.returncode == 1, report.stdout + report.stderr
        assert drift_of(report)["leaked_quota_slots"] == 2
        fixed = clients(a, "reconcile", "--min-age", "0", "--fix")
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert a.store.count_backing() == 1
