"""Lost updates and thrown-away tokens (design D9), each race made deterministic by holding one
store call of the façade while the other party acts, against both stores.

The attacker's part: a client holding an RFC 7592 request open across an operator's revocation
(or its own deletion), a metadata-document refresh racing a revocation, and a store that fails
just as Cognito redeems a code. MCP security best practices ("Confused deputy"): a revoked client
must stay revoked; RFC 9700 §4.14 (refresh token protection) relies on that revocation.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authproxy import manage
from devstack.stack import FAKE_AWS
from support.oauth import authorize_url, obtain_code, pkce, token_request
from support.racing import STORES, Facade, facade
from support.serving import bound_socket, serve

AUTHPROXY = str(Path(sys.executable).with_name("authproxy"))
CLIENT = {
    "client_name": "racer",
    "redirect_uris": ["http://localhost:8300/cb"],
    "grant_types": ["authorization_code", "refresh_token"],
    "token_endpoint_auth_method": "none",
}


@pytest.fixture(params=STORES)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def pooled(tmp_path: Path, kind: str) -> Iterator[Facade]:
    with facade(tmp_path, kind) as running:
        yield running


def register(f: Facade, **extra: Any) -> dict[str, Any]:
    response = httpx.post(f"{f.issuer}/register", json={**CLIENT, **extra}, timeout=30)
    assert response.status_code == 201, response.text
    return dict(response.json())


def bearer(client: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {client['registration_access_token']}"}


def in_background(request: Any) -> tuple[threading.Thread, list[httpx.Response]]:
    """Send ``request()`` from another thread; its response lands in the list."""
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(request()), daemon=True)
    thread.start()
    return thread, answers


def finish(thread: threading.Thread, answers: list[httpx.Response]) -> httpx.Response:
    thread.join(timeout=120)
    assert answers, "the held request never answered"
    return answers[0]


def test_rfc7592_update_held_open_across_revoke_stays_revoked(pooled: Facade) -> None:
    """The PUT authenticates (reads the registration), waits for its body, writes: an operator's
    revocation in between must survive, and the PUT must not hand out a new token."""
    client = register(pooled)
    client_id = client["client_id"]
    gate = pooled.held.hold("get_registration", lambda cid: cid == client_id, after=True)
    body = {**CLIENT, "client_id": client_id, "client_name": "renamed"}
    thread, answers = in_background(
        lambda: httpx.put(
            client["registration_client_uri"], json=body, headers=bearer(client), timeout=120
        )
    )
    gate.wait_arrivals()
    assert manage.revoke_client(pooled.store, pooled.admin, client_id, delete_backing=False)
    gate.release()
    answer = finish(thread, answers)

    assert answer.status_code in (400, 401), answer.text
    assert answer.json()["error"] == "invalid_client"
    assert "registration_access_token" not in answer.json()
    stored = pooled.store.get_registration(client_id)
    assert stored is not None
    assert stored.status == "revoked"
    assert stored.metadata["client_name"] == "racer"
    page = httpx.get(authorize_url(pooled.issuer, client_id, CLIENT["redirect_uris"][0], "x" * 43))
    assert "revoked" in page.text


def test_rfc7592_read_racing_delete_recreates_nothing(pooled: Facade) -> None:
    """A GET (which reissues the registration access token) held across the client's own
    DELETE: the registration stays deleted and the GET gets no credentials for it."""
    client = register(pooled)
    client_id = client["client_id"]
    gate = pooled.held.hold("get_registration", lambda cid: cid == client_id, after=True)
    thread, answers = in_background(
        lambda: httpx.get(client["registration_client_uri"], headers=bearer(client), timeout=120)
    )
    gate.wait_arrivals()
    deleted = httpx.delete(client["registration_client_uri"], headers=bearer(client), timeout=30)
    assert deleted.status_code == 204
    gate.release()
    answer = finish(thread, answers)

    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_token"
    assert pooled.store.get_registration(client_id) is None
    assert client_id not in {r.client_id for r in pooled.store.list_registrations()}


def test_rfc7592_concurrent_reads_leave_one_token_valid(pooled: Facade) -> None:
    """Two GETs with the same token: the one written second was authenticated by a token the
    first replaced, so it loses (RFC 7592 §3: the old token is discarded) instead of overwriting
    the first's token with its own."""
    client = register(pooled)
    client_id = client["client_id"]
    gate = pooled.held.hold("get_registration", lambda cid: cid == client_id, after=True)
    thread, answers = in_background(
        lambda: httpx.get(client["registration_client_uri"], headers=bearer(client), timeout=120)
    )
    gate.wait_arrivals()
    first = httpx.get(client["registration_client_uri"], headers=bearer(client), timeout=30)
    assert first.status_code == 200
    gate.release()
    second = finish(thread, answers)
    assert second.status_code == 401, second.text
    again = httpx.get(
        client["registration_client_uri"],
        headers={"Authorization": f"Bearer {first.json()['registration_access_token']}"},
        timeout=30,
    )
    assert again.status_code == 200


@pytest.fixture
def document_host() -> Iterator[dict[str, Any]]:
    """A client metadata document on loopback that the test can change; never cached."""
    served: dict[str, Any] = {}

    async def document(request: Request) -> JSONResponse:
        return JSONResponse(served["document"], headers={"Cache-Control": "no-store"})

    app = Starlette(routes=[Route("/oauth/client.json", document)])
    with serve(app, bound_socket()) as origin:
        url = f"{origin}/oauth/client.json"
        served["url"] = url
        served["document"] = {
            "client_id": url,
            "client_name": "Document Client",
            "redirect_uris": ["http://localhost:8301/cb"],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "none",
        }
        yield served


def test_cimd_refresh_across_revoke_stays_revoked(
    tmp_path: Path, kind: str, document_host: dict[str, Any]
) -> None:
    """A changed metadata document is written back at /authorize; an operator's revocation
    between the read and that write must survive it."""
    with facade(tmp_path, kind, env={"AUTHPROXY_CIMD_ALLOW_LOOPBACK": "true"}) as f:
        url = document_host["url"]
        redirect = document_host["document"]["redirect_uris"][0]
        first = httpx.get(authorize_url(f.issuer, url, redirect, pkce()[1]), timeout=30)
        assert first.status_code == 200, first.text  # the consent page: registered
        document_host["document"] = {**document_host["document"], "client_name": "Changed"}
        gate = f.held.hold("get_registration", lambda cid: cid == url, after=True)
        thread, answers = in_background(
            lambda: httpx.get(authorize_url(f.issuer, url, redirect, pkce()[1]), timeout=120)
        )
        gate.wait_arrivals()
        assert manage.revoke_client(f.store, f.admin, url, delete_backing=False)
        gate.release()
        answer = finish(thread, answers)

        assert answer.status_code >= 400
        assert "revoked" in answer.text
        stored = f.store.get_registration(url)
        assert stored is not None
        assert stored.status == "revoked"


def run_cli(f: Facade, *args: str) -> subprocess.CompletedProcess[str]:
    """``authproxy clients …`` as an operator runs it, in this façade's environment."""
    env = {
        **os.environ,
        **f.stack.env,
        **FAKE_AWS,
        # boto3 reads a per-service endpoint from the environment: the stand-in's moto.
        "AWS_ENDPOINT_URL_DYNAMODB": f.standin.endpoint,
    }
    return subprocess.run(
        [AUTHPROXY, "clients", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_prune_during_a_dedicated_registration_leaves_its_backing_client(
    tmp_path: Path, kind: str
) -> None:
    """A dedicated registration stores its backing client, then itself; a prune in between
    sees a backing client nothing uses. Its settling age must leave it alone."""
    with facade(tmp_path, kind, env={"AUTHPROXY_CLIENT_POLICY": "dedicated"}) as f:
        gate = f.held.hold("create_registration")
        thread, answers = in_background(
            lambda: httpx.post(f"{f.issuer}/register", json=CLIENT, timeout=120)
        )
        gate.wait_arrivals()
        pruned = run_cli(f, "prune", "--never-used-days", "0", "--yes")
        assert pruned.returncode == 0, pruned.stdout + pruned.stderr
        gate.release()
        answer = finish(thread, answers)

        assert answer.status_code == 201, answer.text
        stored = f.store.get_registration(answer.json()["client_id"])
        assert stored is not None
        assert f.store.get_backing(stored.backing_client_id) is not None
        described = f.admin.describe_client(stored.backing_client_id)
        assert described["ClientId"] == stored.backing_client_id
        # Once settled, the same prune retires both.
        settled = run_cli(f, "prune", "--never-used-days", "0", "--min-age", "0", "--yes")
        assert settled.returncode == 0, settled.stdout + settled.stderr
        assert f.store.get_backing(stored.backing_client_id) is None


def test_token_store_failure_at_first_use_never_throws_tokens_away(pooled: Facade) -> None:
    """/token records a registration's first use. If that write fails once Cognito has redeemed
    the code, the spent code cannot be retried and the tokens are gone: the use is recorded
    before redeeming, so a failing store is a 503 the client retries with its code."""
    client = register(pooled)
    code, verifier, _ = obtain_code(pooled.stack, client)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": CLIENT["redirect_uris"][0],
    }
    with pooled.writes_failing():
        refused = token_request(pooled.issuer, client, form)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"] == "temporarily_unavailable"
    assert "retry-after" in refused.headers
    retried = token_request(pooled.issuer, client, form)
    assert retried.status_code == 200, retried.text
    assert retried.json()["access_token"]
    stored = pooled.store.get_registration(client["client_id"])
    assert stored is not None
    assert stored.last_used_at is not None


def test_quota_guard_holds_under_concurrent_registrations(tmp_path: Path, kind: str) -> None:
    """Under ``dedicated``, eight registrations at once against a guard of three: every one
    passes the guard before any backing client is stored (the test holds them there), and still
    exactly three get a Cognito client. The rest are refused with the spec-shaped 503."""
    limit, racers = 3, 8
    env = {"AUTHPROXY_CLIENT_POLICY": "dedicated", "AUTHPROXY_MAX_BACKING_CLIENTS": str(limit)}
    with facade(tmp_path, kind, env=env) as f:
        gate = f.held.hold("create_backing", calls=None)
        answers: list[httpx.Response] = []

        def race() -> None:
            answer = httpx.post(f"{f.issuer}/register", json=CLIENT, timeout=120)
            answers.append(answer)
            gate.poke()

        threads = [threading.Thread(target=race, daemon=True) for _ in range(racers)]
        for thread in threads:
            thread.start()
        gate.wait_until(lambda: gate.arrived + len(answers) == racers)
        gate.release()
        for thread in threads:
            thread.join(timeout=120)

        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [201] * limit + [503] * (racers - limit), statuses
        for refused in (a for a in answers if a.status_code == 503):
            assert refused.json()["error"] == "temporarily_unavailable"
            assert "cannot register more clients" in refused.json()["error_description"]
        assert len(list(f.admin.list_clients())) == limit
        assert f.store.count_backing() == limit

        # A Cognito failure gives its slot back; so does deleting a registration.
        f.standin.inject_fault(action="CreateUserPoolClient", kind="throttle", count=10)
        assert httpx.post(f"{f.issuer}/register", json=CLIENT, timeout=30).status_code == 503
        f.standin.clear_faults()
        assert f.store.count_backing() == limit
        done = next(a.json() for a in answers if a.status_code == 201)
        httpx.delete(done["registration_client_uri"], headers=bearer(done), timeout=30)
        assert f.store.count_backing() == limit - 1
        assert httpx.post(f"{f.issuer}/register", json=CLIENT, timeout=30).status_code == 201
        assert httpx.post(f"{f.issuer}/register", json=CLIENT, timeout=30).status_code == 503


def test_prune_planned_before_a_first_use_keeps_the_registration(tmp_path: Path, kind: str) -> None:
    """Prune plans from one read and deletes later; a client that obtains its first tokens in
    between keeps its registration (and its dedicated backing client), or its refresh token
    would die with it."""
    with facade(tmp_path, kind, env={"AUTHPROXY_CLIENT_POLICY": "dedicated"}) as f:
        client = register(f)
        plan = manage.plan_prune(
            f.store, f.admin, f.owner, never_used_days=0, idle_days=None, settling=0
        )
        assert [r.client_id for r in plan.registrations] == [client["client_id"]]
        assert len(plan.backing) == 1
        code, verifier, _ = obtain_code(f.stack, client)
        tokens = token_request(
            f.issuer,
            client,
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": verifier,
                "redirect_uri": CLIENT["redirect_uris"][0],
            },
        )
        assert tokens.status_code == 200, tokens.text
        assert manage.apply_prune(f.store, f.admin, plan) == 0
        kept = f.store.get_registration(client["client_id"])
        assert kept is not None
        assert f.store.get_backing(kept.backing_client_id) is not None
        refreshed = token_request(
            f.issuer,
            client,
            {"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]},
        )
        assert refreshed.status_code == 200, refreshed.text
