"""`authproxy dev` from a user's seat: the block comes first, everything it names is live, and it
stops cleanly on Ctrl-C and SIGTERM. Also `authproxy serve` with that environment."""

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devstack.stack import HEADLINE, assignments
from support.mcp_http import initialize_params, open_session, result, rpc
from support.serving import START_TIMEOUT, bound_socket, free_port
from support.stack import Stack, dev_stack, parse_block

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
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        # One line, once Cognito and the store answered (bounded: a silent server fails here).
        printed, _, _ = select.select([server.stdout], [], [], START_TIMEOUT)
        assert printed, "authproxy serve printed no start-up line"
        started = server.stdout.readline()
        for part in (
            f"http://127.0.0.1:{port}",
            dev["USER_POOL_ID"],
            dev["AUTHPROXY_STORE"],
            dev.mcp_url,
        ):
            assert part in started, started
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


def test_serve_names_every_missing_variable_in_one_run() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ISSUER", "USER_POOL_ID")}
    env["AUTHPROXY_CLIENT_POLICY"] = "shared"
    result = subprocess.run(
        [AUTHPROXY, "serve"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    named = [line.split(":")[0].strip() for line in result.stderr.splitlines()[1:]]
    for variable in (
        "ISSUER",
        "USER_POOL_ID",
        "AUTHPROXY_SECRET_KEY",
        "AUTHPROXY_CLIENT_POLICY",
        "COGNITO_DOMAIN",
        "AUTHPROXY_RESOURCES",
    ):
        assert variable in named, result.stderr


def one_line_failure(result: subprocess.CompletedProcess[str], *named: str) -> None:
    """A start-up failure an operator can act on: one line, naming what to fix, no traceback."""
    assert result.returncode in (1, 2), result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for name in named:
        assert name in result.stderr, result.stderr


@pytest.mark.parametrize("command", ["serve", "dev"])
def test_a_busy_port_is_one_line_naming_port(dev: Stack, command: str) -> None:
    with bound_socket() as taken:
        taken.listen()
        port = str(taken.getsockname()[1])
        result = subprocess.run(
            [AUTHPROXY, command, "--port", port],
            env=dev.shell_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    one_line_failure(result, "--port", port)


def serve_once(dev: Stack, **changes: str) -> subprocess.CompletedProcess[str]:
    """`authproxy serve` with the stack's environment changed; expected not to start."""
    env = {**dev.shell_env(), **changes}
    env = {k: v for k, v in env.items() if v != "<unset>"}
    return subprocess.run(
        [AUTHPROXY, "serve", "--port", "0"], env=env, capture_output=True, text=True, timeout=120
    )


def test_serve_without_aws_credentials_does_not_start(dev: Stack, tmp_path: Path) -> None:
    """Before: it started, and the first /register answered 502."""
    result = serve_once(
        dev,
        AWS_ACCESS_KEY_ID="<unset>",
        AWS_SECRET_ACCESS_KEY="<unset>",
        AWS_PROFILE="<unset>",
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONTAINER_CREDENTIALS_FULL_URI="<unset>",
        AWS_CONTAINER_CREDENTIALS_RELATIVE_URI="<unset>",
    )
    one_line_failure(result, "Cognito", "credentials", "AWS_ACCESS_KEY_ID")


def test_serve_with_an_unreachable_cognito_does_not_start(dev: Stack) -> None:
    with bound_socket() as nothing_listens:
        endpoint = f"http://127.0.0.1:{nothing_listens.getsockname()[1]}"
        result = serve_once(dev, COGNITO_ENDPOINT=endpoint)
    one_line_failure(result, "Cognito", "COGNITO_ENDPOINT")


def test_serve_with_a_pool_that_does_not_exist_does_not_start(dev: Stack) -> None:
    region = dev["AWS_REGION"]
    pool = f"{region}_doesNotExist0"
    # The issuer of that pool (on the stand-in), since one naming another pool stops start-up.
    issuer = dev["COGNITO_ISSUER"].rsplit("/", 1)[0] + f"/{pool}"
    result = serve_once(dev, USER_POOL_ID=pool, COGNITO_ISSUER=issuer, JWKS_URL="<unset>")
    one_line_failure(result, "Cognito", "USER_POOL_ID")


def test_serve_with_a_store_in_a_missing_directory_does_not_start(
    dev: Stack, tmp_path: Path
) -> None:
    missing = tmp_path / "mistyped" / "authproxy.db"
    result = serve_once(dev, AUTHPROXY_STORE=f"sqlite:///{missing}")
    one_line_failure(result, "AUTHPROXY_STORE", "does not exist")
    assert not missing.parent.exists()


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


def test_dev_refuses_an_env_file_in_a_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "mistyped" / "dev.env"
    result = subprocess.run(
        [AUTHPROXY, "dev", "--port", "0", "--env-file", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    one_line_failure(result, "--env-file")
    assert not target.parent.exists()


_VALUES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
_NAMES = st.from_regex(r"T_[A-Z0-9_]{1,12}", fullmatch=True)  # none the shell uses


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(_NAMES, _VALUES, min_size=1, max_size=4))
def test_the_block_is_shell_that_exports_exactly_its_values(values: dict[str, str]) -> None:
    """Whatever a value holds (quotes, $, newlines, backslashes), bash `eval` of the printed block
    and `set -a; .` of the env file export it unchanged, and the tests' parser agrees."""
    for name in HEADLINE:  # the block puts these first; give it something for each
        values.setdefault(name, "x")
    block = assignments(values, "export ")
    assert parse_block(block) == values
    show = 'for n in $NAMES; do printf "%s\\0" "$(printenv "$n"; echo .)"; done'
    env_file = assignments(values)  # what --env-file writes, sourced through a pipe here
    for script, given_block in (
        (f'eval "$BLOCK"; {show}', block),
        (f'set -a; . /dev/stdin <<< "$BLOCK"; set +a; {show}', env_file),
    ):
        shown = subprocess.run(
            ["bash", "-c", script],
            env={"BLOCK": given_block, "NAMES": " ".join(values), "PATH": os.environ["PATH"]},
            capture_output=True,
            timeout=30,
        )
        assert shown.returncode == 0, shown.stderr
        exported = [v.decode()[: -len("\n.")] for v in shown.stdout.split(b"\0")[:-1]]
        assert exported == list(values.values())


def test_serve_when_cognito_answers_errors_does_not_start(dev: Stack) -> None:
    faults = f"{dev['COGNITO_DOMAIN']}/_standin/faults"
    fault = {"action": "DescribeUserPoolClient", "kind": "error", "count": None}
    httpx.post(faults, json=fault).raise_for_status()
    try:
        result = serve_once(dev)
    finally:
        httpx.delete(faults).raise_for_status()
    one_line_failure(result, "Cognito", "DescribeUserPoolClient", "InternalErrorException")
