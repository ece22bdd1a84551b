"""A bounded load on loopback: 200 full flows at once against ``authproxy dev`` (a subprocess, as a
user runs it), each a separate client and browser: register → authorize → consent → Cognito
login → callback → token → ``tools/call``. Every flow must succeed and nothing may be answered 500
(``dev_stack`` reads the access log).

Throughput and the 99th-percentile flow time are printed (``pytest -s``) for the record, never
asserted: the machine decides them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from support.mcp_http import whoami
from support.oauth import obtain_code, token_request
from support.stack import Stack, dev_stack

FLOWS = 200
REDIRECT = "http://localhost:8408/cb"
# Each flow is bounded by its helpers' 30 s timeouts; the whole run by the pool's.
RUN_TIMEOUT = 240


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """A stack of its own: the load must not share its store with other tests."""
    with dev_stack() as running:
        yield running


def full_flow(stack: Stack, start: threading.Barrier, index: int) -> float:
    """One client's whole journey; returns how long it took, in seconds."""
    start.wait(timeout=RUN_TIMEOUT)
    began = time.perf_counter()
    client = stack.register(
        client_name=f"load {index}", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )
    code, verifier, _ = obtain_code(stack, client)
    tokens = token_request(
        stack.issuer,
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT,
        },
    )
    assert tokens.status_code == 200, tokens.text
    assert whoami(stack, tokens.json()["access_token"])["username"] == stack["DEMO_USER"]
    return time.perf_counter() - began


def describe(error: BaseException) -> str:
    """The error, and for a transport error the request it broke."""
    request = getattr(error, "_request", None)
    where = f" on {request.method} {request.url.copy_with(query=None)}" if request else ""
    return f"{error!r}{where}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def test_200_concurrent_full_flows_without_an_error(stack: Stack) -> None:
    start = threading.Barrier(FLOWS)
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=FLOWS) as pool:
        futures = [pool.submit(full_flow, stack, start, i) for i in range(FLOWS)]
        outcomes = [future.exception(timeout=RUN_TIMEOUT) or future.result() for future in futures]
    elapsed = time.perf_counter() - began
    errors = [describe(o) for o in outcomes if isinstance(o, BaseException)]
    assert not errors, f"{len(errors)} of {FLOWS} flows failed; first: {errors[0]}"
    durations = [o for o in outcomes if isinstance(o, float)]
    print(
        f"\nload: {FLOWS} concurrent full flows in {elapsed:.1f} s, "
        f"{FLOWS / elapsed:.1f} flows/s, flow time p50 {percentile(durations, 0.5):.2f} s, "
        f"p99 {percentile(durations, 0.99):.2f} s, max {max(durations):.2f} s"
    )
