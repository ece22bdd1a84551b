"""`authproxy check --as CLIENT`: each client's own sign-in replayed against `authproxy dev`
(green), and against a deployment broken in the way that client is sensitive to (red, naming the
step and the fix)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from authproxy.client_profiles import PROFILES
from support.serving import bound_socket, serve
from support.stack import Stack

AUTHPROXY = str(Path(sys.executable).with_name("authproxy"))


def check(stack_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AUTHPROXY, "check", *args], env=stack_env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("client", list(PROFILES))
def test_each_client_signs_in_and_lists_tools(dev: Stack, client: str) -> None:
    """Registering clients register (and clean up); metadata-document clients (Claude, VS Code)
    sign in under their client id URL, whose document the local stack serves."""
    env = {**dev.shell_env(), "AUTHPROXY_CHECK_PASSWORD": dev["DEMO_PASSWORD"]}
    result = check(env, "--as", client, dev.mcp_url, "--user", dev["DEMO_USER"])
    assert result.returncode == 0, result.stdout + result.stderr
    for step in ("registration", "authorization request", "Cognito sign-in page", "sign-in"):
        assert f"✓ {step}" in result.stdout
    assert "whoami" in result.stdout
    if PROFILES[client].cimd_client_id:
        assert f"client ID metadata document {PROFILES[client].cimd_client_id}" in result.stdout
    else:
        assert "✓ cleanup" in result.stdout  # the throw-away registration is gone again


def test_all_clients_are_green_against_the_local_stack(dev: Stack) -> None:
    result = check(dev.shell_env(), "--as", "all", dev.mcp_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(PROFILES)} of {len(PROFILES)} clients passed" in result.stdout


def test_user_without_password_variable_is_a_usage_error(dev: Stack) -> None:
    env = {k: v for k, v in dev.shell_env().items() if k != "AUTHPROXY_CHECK_PASSWORD"}
    result = check(env, "--as", "chatgpt", dev.mcp_url, "--user", "demo")
    assert result.returncode == 2
    assert "AUTHPROXY_CHECK_PASSWORD" in result.stderr


@pytest.fixture(scope="module")
def strict() -> Iterator[str]:
    """A deployment as many are: its MCP origin serves only the path-suffixed protected-resource
    document (no root documents, no fallback paths), and its authorization server matches redirect
    URIs exactly, refuses app schemes and secrets, needs a scope and answers no CORS."""
    registered: dict[str, list[str]] = {}

    async def mcp(request: Request) -> Response:
        header = f'Bearer resource_metadata="{origin}/.well-known/oauth-protected-resource/mcp"'
        return JSONResponse({}, status_code=401, headers={"WWW-Authenticate": header})

    async def prm(request: Request) -> Response:
        return JSONResponse(
            {"resource": f"{origin}/mcp", "authorization_servers": [f"{origin}/as"]}
        )

    async def metadata(request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": f"{origin}/as",
                "authorization_endpoint": f"{origin}/as/authorize",
                "token_endpoint": f"{origin}/as/token",
                "registration_endpoint": f"{origin}/as/register",
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["none"],
            }
        )

    async def register(request: Request) -> Response:
        body = await request.json()
        uris = body["redirect_uris"]
        if body.get("token_endpoint_auth_method", "none") != "none":
            return JSONResponse({"error": "invalid_client_metadata"}, status_code=400)
        if any(not uri.startswith(("http://", "https://")) for uri in uris):
            return JSONResponse({"error": "invalid_redirect_uri"}, status_code=400)
        client_id = f"c{len(registered)}"
        registered[client_id] = uris
        return JSONResponse({**body, "client_id": client_id}, status_code=201)

    async def authorize(request: Request) -> Response:
        params = request.query_params
        if params["redirect_uri"] not in registered.get(params["client_id"], []):
            return HTMLResponse(
                "<h1>Redirect URI mismatch</h1><p>Not registered.</p>", status_code=400
            )
        if not params.get("scope"):
            query = urlencode({"error": "invalid_scope", "state": params["state"]})
            return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=302)
        return HTMLResponse("<h1>Sign in</h1>")

    app = Starlette(
        routes=[
            Route("/mcp", mcp, methods=["POST"]),
            Route("/.well-known/oauth-protected-resource/mcp", prm),
            Route("/.well-known/oauth-authorization-server/as", metadata),
            Route("/as/register", register, methods=["POST"]),
            Route("/as/authorize", authorize),
        ]
    )
    with serve(app, bound_socket()) as origin:
        yield f"{origin}/mcp"


BROKEN_FOR = {
    "claude-ai": ("discovery", "route /.well-known/oauth-protected-resource"),
    "claude-code": ("discovery", "route /.well-known/oauth-protected-resource"),
    "chatgpt": ("authorization request", "default scopes"),
    "cursor": ("registration", "AUTHPROXY_ALLOWED_REDIRECT_HOSTS"),
    "vscode": ("authorization request", "any port (RFC 8252 §7.3)"),
    "mcp-remote": ("registration", "client_secret_post"),
    "inspector": ("CORS", "Access-Control-*"),
}


def test_every_profile_has_a_breakage_test() -> None:
    assert set(BROKEN_FOR) == set(PROFILES)


@pytest.mark.parametrize("client", sorted(BROKEN_FOR))
def test_each_client_is_red_where_the_deployment_breaks_it(strict: str, client: str) -> None:
    step, fix = BROKEN_FOR[client]
    result = check(dict(os.environ), "--as", client, strict)
    assert result.returncode == 1, result.stdout
    assert f"✗ {step}" in result.stdout
    assert f"FAILED at: {step}" in result.stdout
    fix_line = next(line for line in result.stdout.splitlines() if line.startswith("    fix:"))
    assert fix in fix_line


def test_all_runs_every_client_and_sums_up(strict: str) -> None:
    result = check(dict(os.environ), "--as", "all", strict)
    assert result.returncode == 1
    assert all(f"== {name}:" in result.stdout for name in PROFILES)
    assert f"0 of {len(PROFILES)} clients passed" in result.stdout
