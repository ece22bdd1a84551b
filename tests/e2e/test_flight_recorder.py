"""An operator diagnosing a sign-in: ``authproxy dev --log-file PATH``, a person signs in with
the ``mcp`` SDK client and calls a tool, then ``authproxy trace`` shows the whole sign-in —
register, authorize, consent, callback, token and the MCP call — under one ``flow_id``; a sign-in
that fails (a wrong PKCE verifier) is shown failing at its step with its cause. The same run's
CloudWatch metric records (EMF) are checked against the catalogue the dashboard is built from.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from servicekit.metrics import CATALOGUE, NAMESPACE, parse
from support.mcp_sdk import MemoryStorage, SignIn, oauth_provider
from support.oauth import authorize_url, obtain_code, pkce, token_request
from support.stack import Stack, dev_stack

AUTHPROXY = str(Path(sys.executable).with_name("authproxy"))
REDIRECT_URI = "http://127.0.0.1:53695/callback"


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flight") / "authproxy.log"


@pytest.fixture(scope="module")
def recorded(log_file: Path) -> Iterator[Stack]:
    with dev_stack("--log-file", str(log_file)) as stack:
        yield stack


def trace(log_file: Path, who: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AUTHPROXY, "trace", who, "--log-file", str(log_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def lines(log_file: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]


async def test_a_sign_in_and_its_mcp_call_are_one_flow(recorded: Stack, log_file: Path) -> None:
    storage = MemoryStorage()
    sign_in = SignIn(recorded.person())
    auth = oauth_provider(recorded.mcp_url, "flight recorder e2e", REDIRECT_URI, storage, sign_in)
    async with (
        httpx2.AsyncClient(auth=auth, timeout=30) as http,
        Client(streamable_http_client(recorded.mcp_url, http_client=http)) as client,
    ):
        await client.call_tool("whoami", {})
    assert storage.client_info is not None
    client_id = storage.client_info.client_id

    shown = trace(log_file, client_id)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    steps = [line.split()[2] for line in shown.stdout.splitlines() if line.startswith("  ✓")]
    for step in ("register", "authorize", "consent", "callback", "token", "mcp"):
        assert step in steps, shown.stdout
    first = {s: steps.index(s) for s in ("register", "authorize", "consent", "callback", "token")}
    assert list(first) == sorted(first, key=first.__getitem__), shown.stdout
    assert steps.index("mcp") > steps.index("token")
    assert "✗" not in shown.stdout
    assert f"user {recorded['DEMO_USER']}" in shown.stdout

    # One flow id from /authorize to the token, and the MCP calls joined by the token's origin.
    facade = [r for r in lines(log_file) if r.get("client_id") == client_id and r.get("flow_id")]
    assert len({r["flow_id"] for r in facade}) == 1
    origin = next(r["origin_jti"] for r in facade if r.get("step") == "token")
    calls = [r for r in lines(log_file) if r.get("step") == "mcp" and r.get("origin_jti") == origin]
    assert any(r.get("tool") == "whoami" or r.get("rpc_method") for r in calls)
    # The same flow, looked up by its id and by the user.
    assert trace(log_file, facade[0]["flow_id"]).stdout.startswith(f"flow {facade[0]['flow_id']}")
    assert client_id in trace(log_file, recorded["DEMO_USER"]).stdout


def test_a_wrong_pkce_verifier_is_named_at_the_token_step(recorded: Stack, log_file: Path) -> None:
    client = recorded.register(
        client_name="wrong verifier",
        redirect_uris=[REDIRECT_URI],
        token_endpoint_auth_method="none",
        grant_types=["authorization_code"],
    )
    code, _verifier, _ = obtain_code(recorded, client)
    refused = token_request(
        recorded.issuer,
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": "x" * 43,  # well-formed, not the one whose challenge was sent
            "redirect_uri": REDIRECT_URI,
        },
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"

    shown = trace(log_file, client["client_id"])
    assert shown.returncode == 0, shown.stderr
    failed = [line for line in shown.stdout.splitlines() if line.startswith("  ✗")]
    assert len(failed) == 1
    assert " token " in failed[0]
    assert "code_verifier does not match the code_challenge" in failed[0]
    assert "first failure: token — " in shown.stdout


def test_metric_records_match_the_catalogue(recorded: Stack, log_file: Path) -> None:
    """Every EMF record of the run is a declared metric with its unit and dimensions, and the
    sign-ins above (plus a refusal, a denial and a throttled Cognito) emit every metric the
    dashboard shows, so no widget watches a metric nothing writes."""
    httpx.post(recorded.mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})  # 401
    client = recorded.register(
        client_name="denied", redirect_uris=[REDIRECT_URI], token_endpoint_auth_method="none"
    )
    denied = recorded.person()
    _, challenge = pkce()
    denied.sign_in(
        authorize_url(recorded.issuer, client["client_id"], REDIRECT_URI, challenge), approve=False
    )
    # A replayed callback fails the sign-in; a throttled Cognito is counted.
    domain = recorded["COGNITO_DOMAIN"]
    fault = {"path": "/oauth2/token", "kind": "throttle", "count": 1}
    assert httpx.post(f"{domain}/_standin/faults", json=fault).status_code == 201
    code, verifier, _ = obtain_code(recorded, client)
    throttled = token_request(
        recorded.issuer,
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT_URI,
        },
    )
    assert throttled.status_code == 503
    replay = httpx.get(f"{recorded.issuer}/callback", params={"state": "forged"})
    assert replay.status_code == 400

    records = parse(log_file.read_text().splitlines())
    emitted = set()
    for record in records:
        (directive,) = record["_aws"]["CloudWatchMetrics"]
        (metric,) = directive["Metrics"]
        spec = CATALOGUE[metric["Name"]]
        assert directive["Namespace"] == NAMESPACE
        assert metric["Unit"] == spec.unit
        assert directive["Dimensions"] == [["Service", *spec.dimensions]]
        assert record["Service"] == spec.service
        assert all(isinstance(record[d], str) and record[d] for d in spec.dimensions)
        assert isinstance(record[metric["Name"]], int | float)
        emitted.add(metric["Name"])
    assert emitted == set(CATALOGUE), f"never emitted: {set(CATALOGUE) - emitted}"
