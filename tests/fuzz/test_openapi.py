"""``docs/openapi.yaml`` is the façade's routing table, and generated requests from it never get a
5xx: schemathesis draws valid and invalid requests for every operation (hypothesis underneath)
and sends them to the in-process stack over HTTP.

Bounded for CI: a fixed number of examples per operation and generation mode.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from starlette.routing import Route

from authproxy.app import create_app
from authproxy.settings import Settings
from support.stack import Stack, local_stack

DESCRIPTION = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
EXAMPLES_PER_OPERATION = 25


def routing_table(tmp_path: Path) -> set[tuple[str, str]]:
    """(path, method) for every route of a façade deployed as the description says: issuer at
    the root, one resource at ``/mcp``."""
    app = create_app(
        Settings.from_env(
            {
                "ISSUER": "https://mcp.example.com",
                "USER_POOL_ID": "eu-west-1_Example1",
                "COGNITO_DOMAIN": "https://auth.example.com",
                "AUTHPROXY_SECRET_KEY": "o" * 40,
                "AUTHPROXY_STORE": f"sqlite:///{tmp_path / 'a.db'}",
                "AUTHPROXY_RESOURCES": json.dumps([{"resource": "https://mcp.example.com/mcp"}]),
            }
        )
    )
    return {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }


def described() -> set[tuple[str, str]]:
    paths = yaml.safe_load(DESCRIPTION.read_text())["paths"]
    return {
        (path, method)
        for path, operations in paths.items()
        for method in operations
        if method != "parameters"
    }


def test_the_description_is_the_routing_table(tmp_path: Path) -> None:
    assert described() == routing_table(tmp_path)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack in this process: it fails the module if anything was answered 500."""
    with local_stack(tmp_path_factory.mktemp("openapi")) as running:
        yield running


SCHEMA = schemathesis.openapi.from_path(DESCRIPTION)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.fixture(scope="module")
def known(stack: Stack) -> dict[str, dict[str, str]]:
    """Values that take a generated request past "unknown client": a registered client's id and
    redirect URI, fixed in a third of the requests to the operations that take them."""
    client = stack.register(
        client_name="openapi",
        redirect_uris=["http://localhost:8410/cb"],
        token_endpoint_auth_method="none",
    )
    return {
        "GET /authorize": {
            "client_id": client["client_id"],
            "redirect_uri": "http://localhost:8410/cb",
        },
    }


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_generated_requests_never_get_a_server_error(
    stack: Stack, known: dict[str, dict[str, str]], operation: object
) -> None:
    session = requests.Session()
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),  # type: ignore[attr-defined]
        operation.as_strategy(GenerationMode.NEGATIVE),  # type: ignore[attr-defined]
    ]
    if fixed := known.get(operation.label):  # type: ignore[attr-defined]
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, query=fixed))  # type: ignore[attr-defined]
    strategy = st.one_of(strategies)

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def property_(case: schemathesis.Case) -> None:
        response = case.call(base_url=stack.issuer, session=session, timeout=30)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} answered {response.status_code}: "
            f"{response.text[:300]}\n{case.as_curl_command()}"
        )

    property_()
