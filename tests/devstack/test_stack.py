"""`authproxy dev` from a user's seat: the block comes first, everything it names is live, and it
stops cleanly on Ctrl-C and SIGTERM. Also `authproxy serve` with that environment."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from devstack.stack import HEADLINE
from support.mcp_http import initialize_params, open_session, result, rpc
from support.serving import free_port
from support.stack import Stack, dev_stack

AUTHPROXY = str(Path(sys.executable).with_name("authproxy"))


def test_the_block_comes_first_with_every_variable(dev: Stack) -> None:
    assert list(dev.env)[: len(HEADLINE)] == list(HEADLINE)
    for key in ("COGNITO_DOMAIN", "AUTHPROXY_STORE", "AWS_REGION", "MCP_SESSION_SECRET"):
        assert dev[key]
    assert dev.issuer.startswith("http://127.0.0.1:")
    assert dev.mcp_url == dev.issuer + "/mcp"


def test_everything_the_block_names_is_live(dev: Stack) -> None:
    assert httpx.get(f"{dev.issuer}/.well-known/oauth-authorization-server").status_code == 200
    assert httpx.post(dev.mcp_url, json={}).status_code == 401
    jwks = httpx.get(dev["JWKS_URL"]).json()
    assert jwks["keys"][0]["kty"] == "RSA"
    discovery = httpx.get(f"{dev['COGNITO_ISSUER']}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == dev["COGNITO_ISSUER"]
    assert "code_challenge_methods_supported" not in discovery  # as Cognito's own lacks it


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_stops_cleanly(stop: signal.Signals) -> None:
    with dev_stack("--demo-user", "alice", "--demo-password", "correct-horse") as stack:
        assert stack["DEMO_USER"] == "alice"
        assert stack["DEMO_PASSWORD"] == "correct-horse"
        process = stack.process
        assert process is not None
        process.send_signal(stop)
        assert process.wait(timeout=60) == 0
        with pytest.raises(httpx.ConnectError):
            httpx.get(stack.issuer)


def test_serve_runs_the_facade_from_the_environment(dev: Stack) -> None:
    port = free_port("127.0.0.1")
    env = {**dev.shell_env(), "ISSUER": f"http://127.0.0.1:{port}"}
    server = subprocess.Popen(
        [AUTHPROXY, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server"
                )
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "authproxy serve did not start"
                time.sleep(0.1)
        assert response.json()["issuer"] == f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0


def test_serve_names_a_missing_variable() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ISSUER", "USER_POOL_ID")}
    result = subprocess.run(
        [AUTHPROXY, "serve"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "ISSUER" in result.stderr


def test_the_tools_have_demo_data_to_show(dev: Stack, access_token: str) -> None:
    _, session = open_session(
        dev, access_token, initialize_params("2025-06-18", "demo-data-check", "0")
    )

    def call(name: str) -> dict:
        called = result(rpc(dev, "tools/call", {"name": name, "arguments": {}}, session))
        assert called["isError"] is False, called
        return dict(called["structuredContent"])

    names = {instance["name"] for instance in call("list_ec2_instances")["instances"]}
    assert {"demo-web", "demo-worker"} <= names
    report = call("bedrock_usage_report")
    assert report["totals"]["requests"] >= 3
    assert "amazon.nova-lite-v1:0" in report["models"]
