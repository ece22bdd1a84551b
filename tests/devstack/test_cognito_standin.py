"""CognitoStandIn's life cycle and seed API, as `authproxy dev` and the façade's tests use them."""

from __future__ import annotations

import boto3
import httpx
import pytest

from devstack.cognito import CognitoStandIn


def test_start_serves_both_hosts_and_stop_ends_every_thread():
    standin = CognitoStandIn()
    assert standin.start() is standin
    assert standin.running
    assert standin.endpoint.startswith("http://127.0.0.1:")
    assert standin.domain.startswith("http://127.0.0.1:")
    assert standin.endpoint != standin.domain
    assert httpx.get(f"{standin.domain}/error").status_code == 400
    standin.stop()
    assert not standin.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{standin.domain}/error")


def test_stop_is_idempotent_and_safe_before_start():
    never_started = CognitoStandIn()
    never_started.stop()
    never_started.stop()
    with CognitoStandIn() as standin:
        standin.stop()
    standin.stop()
    assert not standin.running


def test_start_twice_is_refused():
    with CognitoStandIn() as standin, pytest.raises(RuntimeError):
        standin.start()


def test_fixed_ports_are_used():
    with CognitoStandIn() as probe:
        ports = (int(probe.endpoint.rsplit(":", 1)[1]), int(probe.domain.rsplit(":", 1)[1]))
    with CognitoStandIn(port=ports[0], domain_port=ports[1]) as standin:
        assert standin.endpoint == f"http://127.0.0.1:{ports[0]}"
        assert standin.domain == f"http://127.0.0.1:{ports[1]}"


def test_seed_creates_pool_domain_resource_servers_and_users(standin):
    pool = standin.seed(
        pool_name="seeded",
        domain_prefix="seeded-domain",
        resources=[("http://127.0.0.1:8000/mcp", ["read", "write"])],
        users=[("demo", "a-password", ["admins"])],
    )
    idp = standin.cognito_idp()
    assert pool.region == "us-east-1"
    assert pool.domain == standin.domain
    assert pool.domain_prefix == "seeded-domain"
    assert pool.issuer == f"{standin.endpoint}/{pool.pool_id}"
    assert pool.jwks_url == f"{pool.issuer}/.well-known/jwks.json"
    described = idp.describe_user_pool_domain(Domain="seeded-domain")["DomainDescription"]
    assert described["UserPoolId"] == pool.pool_id
    server = idp.describe_resource_server(
        UserPoolId=pool.pool_id, Identifier="http://127.0.0.1:8000/mcp"
    )["ResourceServer"]
    assert [scope["ScopeName"] for scope in server["Scopes"]] == ["read", "write"]
    user = idp.admin_get_user(UserPoolId=pool.pool_id, Username="demo")
    assert user["UserStatus"] == "CONFIRMED"
    attributes = {item["Name"]: item["Value"] for item in user["UserAttributes"]}
    assert attributes["email"] == "demo@example.com"
    groups = idp.admin_list_groups_for_user(UserPoolId=pool.pool_id, Username="demo")["Groups"]
    assert [group["GroupName"] for group in groups] == ["admins"]


def test_default_domain_prefixes_do_not_collide(standin):
    assert standin.seed().domain_prefix != standin.seed().domain_prefix


def test_other_moto_services_pass_through_the_endpoint(standin):
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=standin.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    assert "TableNames" in dynamodb.list_tables()
