"""The `authproxy` command line against `authproxy dev`, run as an operator would: the block the
stack printed exported into the shell, then `authproxy clients …` and `authproxy check …`."""

import contextlib
import json
import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from authproxy.cognito_admin import deployment_mark
from authproxy.manage import plural
from support.oauth import obtain_code, token_request
from support.serving import bound_socket, origin_of, serve
from support.stack import Stack, dev_stack

AUTHPROXY = str(Path(sys.executable).with_name("authproxy"))
CLAUDE = {
    "client_name": "claudeai",
    "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
    "token_endpoint_auth_method": "none",
    "scope": "claudeai",
}


def run(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return stack.authproxy(*args)


def owner(stack: Stack) -> str:
    """The owner mark the stack's backing clients carry."""
    return deployment_mark(stack["AUTHPROXY_STORE"], stack["AWS_REGION"])


def show(stack: Stack, client_id: str) -> dict:
    """``authproxy clients show CLIENT_ID``, parsed."""
    shown = run(stack, "clients", "show", client_id)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


INSPECTOR_ELSEWHERE = "http://localhost:16274"


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dev") / "authproxy-dev.env"


@pytest.fixture(scope="module")
def stack(env_file: Path) -> Iterator[Stack]:
    """A stack of its own: these tests count, revoke and prune registrations."""
    with dev_stack(
        "--client-policy",
        "dedicated",
        "--env-file",
        str(env_file),
        "--allowed-origin",
        INSPECTOR_ELSEWHERE,
    ) as running:
        yield running


def bare_environment() -> dict[str, str]:
    """This process's environment without anything the stack set: a fresh terminal."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUTHPROXY_"))}


def in_bash(script: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {
        **bare_environment(),
        "PATH": f"{Path(AUTHPROXY).parent}:{os.environ['PATH']}",
        **variables,
    }
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_printed_block_exports_what_authproxy_clients_needs(stack: Stack) -> None:
    """The block is `export KEY=value` lines: pasting (or eval-ing) it is enough."""
    assert all(line.startswith("export ") for line in stack.block.splitlines())
    result = in_bash(f"{stack.block}\nauthproxy clients list --json")
    assert result.returncode == 0, result.stderr
    assert isinstance(json.loads(result.stdout), list)
    evaluated = in_bash('eval "$BLOCK"; authproxy clients list', BLOCK=stack.block)
    assert evaluated.returncode == 0, evaluated.stderr


def test_env_file_is_sourced_with_set_a(stack: Stack, env_file: Path) -> None:
    assert env_file.stat().st_mode & 0o077 == 0  # it holds the stack's keys
    result = in_bash(f"set -a; . {env_file}; set +a; authproxy clients list")
    assert result.returncode == 0, result.stderr
    assert "CLIENT_ID" in result.stdout or "no registrations" in result.stdout


def test_allowed_origin_lets_a_browser_page_on_another_port_call_the_server(stack: Stack) -> None:
    """MCP Inspector's UI on a non-default port: its origin is added with --allowed-origin."""
    assert INSPECTOR_ELSEWHERE in stack["MCP_ALLOWED_ORIGINS"].split(",")

    def preflight(origin: str) -> httpx.Response:
        return httpx.options(
            stack.mcp_url,
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )

    assert preflight(INSPECTOR_ELSEWHERE).status_code == 200
    assert preflight("http://localhost:16275").status_code == 400


def test_list_shows_registrations_with_their_backing_clients(stack: Stack) -> None:
    used = stack.register(**{**CLAUDE, "redirect_uris": ["http://localhost:8200/cb"]})
    unused = stack.register(**CLAUDE)
    code, verifier, _ = obtain_code(stack, used)
    token_request(
        stack.issuer,
        used,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": "http://localhost:8200/cb",
        },
    ).raise_for_status()

    listed = run(stack, "clients", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["client_id"]: row for row in json.loads(listed.stdout)}
    iso_8601 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
    assert iso_8601.match(rows[used["client_id"]]["last_used"])
    assert rows[used["client_id"]]["expires"] is None  # used once: kept
    assert rows[unused["client_id"]]["last_used"] is None  # JSON null, not "never"
    assert iso_8601.match(rows[unused["client_id"]]["expires"])  # forgotten if never used
    assert all(iso_8601.match(row["created"]) for row in rows.values())
    clients = stack.aws("cognito-idp").list_user_pool_clients(
        UserPoolId=stack["USER_POOL_ID"], MaxResults=60
    )
    in_cognito = {c["ClientId"] for c in clients["UserPoolClients"]}
    for row in (rows[used["client_id"]], rows[unused["client_id"]]):
        assert row["backing_client_id"] in in_cognito
        assert row["policy"] == "dedicated"

    table = run(stack, "clients", "list")
    assert "CLIENT_ID" in table.stdout
    assert used["client_id"] in table.stdout
    assert "never" in table.stdout  # the table still reads as prose

    detail = show(stack, used["client_id"])
    assert detail["redirect_uris"] == ["http://localhost:8200/cb"]
    assert isinstance(detail["backing_client"]["shared_by"], int)
    assert detail["backing_client"]["ClientName"] == f"authproxy-{owner(stack)}-claudeai"
    assert run(stack, "clients", "show", "nobody").returncode == 1
    dashed = run(stack, "clients", "show", "--", "-made-before-ids-were-alphanumeric")
    assert dashed.returncode == 1
    assert "no registration '-made-before-ids-were-alphanumeric'" in dashed.stderr


def test_revoke_refuses_the_client_and_can_retire_its_backing_client(stack: Stack) -> None:
    client = stack.register(**CLAUDE)
    backing = show(stack, client["client_id"])["backing_client_id"]
    revoked = run(stack, "clients", "revoke", client["client_id"], "--backing")
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.splitlines() == [
        f"revoked {client['client_id']}",
        f"its backing client {backing} was deleted from Cognito",
    ]
    shown = show(stack, client["client_id"])
    assert shown["status"] == "revoked"
    assert "does not exist" in shown["backing_client"]["error"]
    clients = stack.aws("cognito-idp").list_user_pool_clients(
        UserPoolId=stack["USER_POOL_ID"], MaxResults=60
    )
    assert backing not in {c["ClientId"] for c in clients["UserPoolClients"]}


def test_prune_is_a_dry_run_unless_told(stack: Stack) -> None:
    stack.register(**CLAUDE)
    dry = run(stack, "clients", "prune", "--never-used-days", "0")
    assert dry.returncode == 0
    assert "dry run" in dry.stdout
    before = json.loads(run(stack, "clients", "list", "--json").stdout)
    young = run(stack, "clients", "prune", "--never-used-days", "0", "--yes")
    assert young.returncode == 0, young.stdout + young.stderr
    assert "0 registrations and 0 backing clients" in young.stdout  # all younger than --min-age
    pruned = run(stack, "clients", "prune", "--never-used-days", "0", "--min-age", "0", "--yes")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    counted = re.match(r"(\d+) (registrations?) and (\d+) (backing clients?) ", pruned.stdout)
    assert counted, pruned.stdout
    assert counted[2] == plural(int(counted[1]), "registration").split(" ", 1)[1]
    assert counted[4] == plural(int(counted[3]), "backing client").split(" ", 1)[1]
    assert int(counted[1]) > 0
    assert "\r" not in pruned.stderr  # progress only on a terminal, not in a pipe or a log
    after = json.loads(run(stack, "clients", "list", "--json").stdout)
    assert all(row["last_used"] is not None for row in after)
    assert len(after) < len(before)
    assert run(stack, "clients", "reconcile", "--min-age", "0").returncode == 0


def test_reconcile_reports_and_fixes_drift_both_ways(stack: Stack) -> None:
    idp = stack.aws("cognito-idp")
    orphan = idp.create_user_pool_client(
        UserPoolId=stack["USER_POOL_ID"],
        ClientName=f"authproxy-{owner(stack)}-orphan",
        GenerateSecret=True,
    )["UserPoolClient"]["ClientId"]
    theirs = idp.create_user_pool_client(UserPoolId=stack["USER_POOL_ID"], ClientName="not-ours")
    doomed = stack.register(**CLAUDE)
    backing = show(stack, doomed["client_id"])["backing_client_id"]
    idp.delete_user_pool_client(UserPoolId=stack["USER_POOL_ID"], ClientId=backing)

    young = run(stack, "clients", "reconcile")  # a fresh client may be a registration in flight
    assert orphan not in young.stdout

    report = run(stack, "clients", "reconcile", "--min-age", "0")
    assert report.returncode == 1, report.stdout + report.stderr
    drift = json.loads(report.stdout[: report.stdout.rindex("}") + 1])
    assert [c["client_id"] for c in drift["orphaned_in_cognito"]] == [orphan]
    assert drift["missing_in_cognito"] == [backing]

    fixed = run(stack, "clients", "reconcile", "--min-age", "0", "--fix")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    again = run(stack, "clients", "reconcile", "--min-age", "0")
    assert again.returncode == 0, again.stdout + again.stderr
    remaining = {
        c["ClientId"]
        for c in idp.list_user_pool_clients(UserPoolId=stack["USER_POOL_ID"], MaxResults=60)[
            "UserPoolClients"
        ]
    }
    assert orphan not in remaining
    assert theirs["UserPoolClient"]["ClientId"] in remaining  # never touches other clients
    shown = show(stack, doomed["client_id"])
    assert shown["status"] == "revoked"


def test_clients_names_what_is_misconfigured(stack: Stack) -> None:
    env = {**stack.shell_env(), "USER_POOL_ID": ""}
    result = subprocess.run(
        [AUTHPROXY, "clients", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "USER_POOL_ID" in result.stderr
    env = {**stack.shell_env(), "USER_POOL_ID": "us-east-1_doesNotExist"}
    result = subprocess.run(
        [AUTHPROXY, "clients", "reconcile"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "ListUserPoolClients" in result.stderr


# authproxy check


def test_check_is_green_against_the_local_stack(dev: Stack) -> None:
    result = run(dev, "check", dev.mcp_url, "--register")
    assert result.returncode == 0, result.stdout
    assert result.stdout.count("✓") == 4
    assert "all steps passed" in result.stdout


def test_check_with_a_token_lists_the_tools(dev: Stack) -> None:
    client = dev.register(**{**CLAUDE, "redirect_uris": ["http://localhost:8201/cb"]})
    code, verifier, _ = obtain_code(dev, client)
    token = token_request(
        dev.issuer,
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": "http://localhost:8201/cb",
        },
    ).json()["access_token"]
    result = run(dev, "check", dev.mcp_url, "--token", token)
    assert result.returncode == 0, result.stdout
    assert "whoami" in result.stdout


@pytest.fixture
def broken(dev: Stack) -> Iterator[dict]:
    """An MCP origin with one broken piece, chosen per test."""
    breakage: dict = {}

    async def mcp(request: Request) -> Response:
        headers = {"WWW-Authenticate": f'Bearer resource_metadata="{origin}/prm"'}
        if breakage.get("renamed_header"):  # what some API Gateway setups do
            headers = {"x-amzn-Remapped-WWW-Authenticate": headers["WWW-Authenticate"]}
        return JSONResponse({"error": "invalid_token"}, status_code=401, headers=headers)

    async def prm(request: Request) -> Response:
        # Straight at Cognito's issuer, whose discovery lacks S256: what the façade fixes.
        return JSONResponse(
            {"resource": f"{origin}/mcp", "authorization_servers": [dev["COGNITO_ISSUER"]]}
        )

    app = Starlette(routes=[Route("/mcp", mcp, methods=["POST"]), Route("/prm", prm)])
    with serve(app, bound_socket()) as origin:
        breakage["url"] = f"{origin}/mcp"
        yield breakage


def test_check_names_a_renamed_challenge_header(dev: Stack, broken: dict) -> None:
    broken["renamed_header"] = True
    result = run(dev, "check", broken["url"])
    assert result.returncode == 1
    assert "✗ 401 challenge" in result.stdout
    assert "renamed" in result.stdout


def test_check_names_an_authorization_server_without_s256(dev: Stack, broken: dict) -> None:
    result = run(dev, "check", broken["url"])
    assert result.returncode == 1
    assert "✓ 401 challenge" in result.stdout
    assert "✓ protected-resource metadata" in result.stdout
    assert "✗ authorization-server metadata" in result.stdout
    assert "S256" in result.stdout
    assert "FAILED at: authorization-server metadata" in result.stdout


def test_check_names_an_unreachable_server(dev: Stack) -> None:
    with bound_socket() as nothing_listens:
        result = run(dev, "check", f"{origin_of(nothing_listens)}/mcp")
    assert result.returncode == 1
    assert "✗ 401 challenge" in result.stdout
    assert httpx.ConnectError.__name__ in result.stdout


def test_reconcile_gives_backing_clients_the_scopes_of_a_new_resource(stack: Stack) -> None:
    """An operator fronts a second MCP server: existing backing clients need its scopes."""
    idp = stack.aws("cognito-idp")
    new = "https://tools.example.com/mcp"
    idp.create_resource_server(
        UserPoolId=stack["USER_POOL_ID"],
        Identifier=new,
        Name="tools",
        Scopes=[{"ScopeName": "read", "ScopeDescription": "read"}],
    )
    client = stack.register(**CLAUDE)
    backing = show(stack, client["client_id"])["backing_client_id"]
    resources = [*json.loads(stack["AUTHPROXY_RESOURCES"]), {"resource": new, "scopes": ["read"]}]
    env = {**stack.shell_env(), "AUTHPROXY_RESOURCES": json.dumps(resources)}

    def reconcile(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [AUTHPROXY, "clients", "reconcile", "--min-age", "0", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    found = reconcile()
    assert found.returncode == 1, found.stdout + found.stderr
    assert json.loads(found.stdout[: found.stdout.rindex("}") + 1])["missing_scopes"][backing] == [
        f"{new}/read"
    ]
    fixed = reconcile("--fix")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    again = reconcile()
    assert again.returncode == 0, again.stdout + again.stderr
    described = idp.describe_user_pool_client(UserPoolId=stack["USER_POOL_ID"], ClientId=backing)
    client_config = described["UserPoolClient"]
    assert f"{new}/read" in client_config["AllowedOAuthScopes"]
    assert client_config["CallbackURLs"] == [f"{stack.issuer}/callback"]  # the rest kept


def test_plural_agreement() -> None:
    assert plural(1, "registration") == "1 registration"
    assert plural(0, "registration") == "0 registrations"
    assert plural(2, "backing client") == "2 backing clients"


def test_revoke_backing_under_pooled_says_the_shared_client_was_kept(dev: Stack) -> None:
    client = dev.register(**CLAUDE)
    backing = show(dev, client["client_id"])["backing_client_id"]
    revoked = run(dev, "clients", "revoke", client["client_id"], "--backing")
    assert revoked.returncode == 0, revoked.stderr
    said = revoked.stdout.splitlines()
    assert said[0] == f"revoked {client['client_id']}"
    assert said[1].startswith(f"its backing client {backing} was kept: it is pooled, shared by ")
    assert "retired" not in revoked.stdout
    assert "deleted" not in revoked.stdout
    clients = dev.aws("cognito-idp").list_user_pool_clients(
        UserPoolId=dev["USER_POOL_ID"], MaxResults=60
    )
    assert backing in {c["ClientId"] for c in clients["UserPoolClients"]}  # truly kept


def one_line_failure(result: subprocess.CompletedProcess[str], *named: str) -> None:
    """A start-up failure an operator can act on: one line, naming what to fix, no traceback."""
    assert result.returncode in (1, 2), result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for name in named:
        assert name in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("store", "hint"),
    [
        ("no-such-directory/authproxy.db", "does not exist"),
        ("not-a-database.db", "not a database"),
        ("mistyped.db", "no store there"),
    ],
)
def test_store_errors_are_one_line_and_create_nothing(
    stack: Stack, tmp_path: Path, store: str, hint: str
) -> None:
    (tmp_path / "not-a-database.db").write_text("these are not the bytes of an SQLite file\n")
    before = sorted(tmp_path.rglob("*"))
    env = {**stack.shell_env(), "AUTHPROXY_STORE": f"sqlite:///{tmp_path / store}"}
    result = subprocess.run(
        [AUTHPROXY, "clients", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    one_line_failure(result, "AUTHPROXY_STORE", hint)
    assert sorted(tmp_path.rglob("*")) == before  # no empty store in a mistyped place


def test_progress_is_shown_on_a_terminal(stack: Stack) -> None:
    """The counter the pipe never sees still reaches an operator at a terminal."""
    stack.register(**CLAUDE)
    controller, terminal = pty.openpty()
    try:
        pruned = subprocess.run(
            [AUTHPROXY, "clients", "prune", "--never-used-days", "0", "--min-age", "0", "--yes"],
            env=stack.shell_env(),
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            timeout=60,
        )
    finally:
        os.close(terminal)
    shown = b""
    try:
        with contextlib.suppress(OSError):  # EIO once everything written was read
            while chunk := os.read(controller, 4096):
                shown += chunk
    finally:
        os.close(controller)
    assert pruned.returncode == 0, pruned.stdout
    assert re.search(rb"\r  \d+/\d+", shown), shown
