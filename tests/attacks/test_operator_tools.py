"""The operator's own tools, attacked through what they read.

- ``authproxy trace`` prints fields of access-log lines to the operator's terminal. Some of those
  fields are whatever a client sent (the ``client_id`` at ``/authorize`` before it is known, the
  ``error`` Cognito's redirect carries to ``/callback``): printed as they came, an attacker writes
  terminal control sequences and fake timeline lines into the operator's screen (RFC 6749 §10.14,
  input validation).
- ``authproxy clients list`` and ``prune`` print each registration's ``client_name``, which any
  anonymous registrant chooses; ``authproxy check`` prints what the deployment it checks answered.
  The same goes for them.
- ``authproxy check --as … --user`` signs in with a test user's password. A sign-in form that posts
  somewhere other than the page it came from is the phishing redirect of RFC 9700 §4.17: the
  password must never be sent there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from support.oauth import authorize_url, pkce
from support.person import forms
from support.serving import bound_socket, serve
from support.stack import Stack

AUTHPROXY = str(Path(sys.executable).with_name("authproxy"))
REDIRECT = "http://127.0.0.1:8405/cb"
INJECTED = (
    "server_error\n  ✓ 10:00:00  token     200      1.0 ms  all fine\x1b]52;c;cHduZWQ=\x07\x1b[2J"
)


def test_rfc6749_10_14_trace_prints_client_sent_fields_inert(dev: Stack, tmp_path: Path) -> None:
    """The attacker completes their own consent, then brings their own ``state`` back to
    ``/callback`` with an ``error`` of their making; the operator traces the attacker's client."""
    client = dev.register(
        client_name="odd one", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )
    attacker = httpx.Client()
    page = attacker.get(authorize_url(dev.issuer, client["client_id"], REDIRECT, pkce()[1]))
    fields = forms(page.text)[0].fields
    to_cognito = attacker.post(f"{dev.issuer}/consent", data={**fields, "decision": "approve"})
    assert to_cognito.status_code == 302, to_cognito.text
    state = parse_qs(urlsplit(to_cognito.headers["location"]).query)["state"][0]
    answer = attacker.get(f"{dev.issuer}/callback", params={"state": state, "error": INJECTED})
    assert answer.status_code == 302  # relayed to the client, as RFC 6749 §4.1.2.1 asks
    # The access line is written once the answer has gone: wait (boundedly) until it is there.
    for _ in range(100):
        written = dev.log_text()
        if "all fine" in written:
            break
        time.sleep(0.05)
    log = tmp_path / "facade.log"
    log.write_text(written)
    shown = dev.authproxy("trace", client["client_id"], "--log-file", str(log))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "\x1b" not in shown.stdout
    assert "\x07" not in shown.stdout
    assert "all fine" in shown.stdout  # still shown, as inert text on the failing line
    assert not any(line.startswith("  ✓ 10:00:00") for line in shown.stdout.splitlines())


@pytest.fixture
def phishing_deployment() -> Iterator[tuple[str, list[bytes], dict[str, bool]]]:
    """A deployment whose sign-in page posts to another origin, what that origin received, and a
    switch that makes its registration endpoint answer with terminal control sequences."""
    received: list[bytes] = []
    hostile = {"register": False}

    async def collect(request: Request) -> Response:
        received.append(await request.body())
        return HTMLResponse("thanks")

    async def mcp(request: Request) -> Response:
        header = f'Bearer resource_metadata="{origin}/.well-known/oauth-protected-resource/mcp"'
        return JSONResponse({}, status_code=401, headers={"WWW-Authenticate": header})

    async def prm(request: Request) -> Response:
        return JSONResponse({"resource": f"{origin}/mcp", "authorization_servers": [origin]})

    async def metadata(request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": origin,
                "authorization_endpoint": f"{origin}/authorize",
                "token_endpoint": f"{origin}/token",
                "registration_endpoint": f"{origin}/register",
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["none", "client_secret_post"],
            }
        )

    async def register(request: Request) -> Response:
        if hostile["register"]:
            return HTMLResponse(INJECTED, status_code=400)
        return JSONResponse({**(await request.json()), "client_id": "c1"}, status_code=201)

    async def authorize(request: Request) -> Response:
        return RedirectResponse(f"{origin}/sign-in", status_code=302)

    async def sign_in(request: Request) -> Response:
        return HTMLResponse(
            f'<form method="post" action="{elsewhere}/login"><input name="username">'
            '<input name="password" type="password"><button>Sign in</button></form>'
        )

    with serve(Starlette(routes=[Route("/login", collect, methods=["POST"])]), bound_socket()) as (
        elsewhere
    ):
        app = Starlette(
            routes=[
                Route("/mcp", mcp, methods=["POST"]),
                Route("/.well-known/oauth-protected-resource/mcp", prm),
                Route("/.well-known/oauth-authorization-server", metadata),
                Route("/register", register, methods=["POST"]),
                Route("/authorize", authorize),
                Route("/sign-in", sign_in),
            ]
        )
        with serve(app, bound_socket()) as origin:
            yield f"{origin}/mcp", received, hostile


def test_rfc9700_4_17_check_never_posts_the_password_to_another_origin(
    phishing_deployment: tuple[str, list[bytes], dict[str, bool]],
) -> None:
    url, received, _ = phishing_deployment
    password = "correct-horse-battery-staple"
    result = subprocess.run(
        [AUTHPROXY, "check", "--as", "mcp-remote", url, "--user", "tester"],
        env={**os.environ, "AUTHPROXY_CHECK_PASSWORD": password},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "✗ sign-in" in result.stdout
    assert not any(password.encode() in body for body in received), received
    assert password not in result.stdout + result.stderr


def test_rfc6749_10_14_check_prints_the_checked_deployment_inert(
    phishing_deployment: tuple[str, list[bytes], dict[str, bool]],
) -> None:
    url, _, hostile = phishing_deployment
    hostile["register"] = True
    result = subprocess.run(
        [AUTHPROXY, "check", "--as", "mcp-remote", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "✗ registration" in result.stdout
    assert "\x1b" not in result.stdout
    assert not any(line.startswith("  ✓ 10:00:00") for line in result.stdout.splitlines())


def test_rfc6749_10_14_clients_list_prints_registrant_names_inert(dev: Stack) -> None:
    """Anyone may register, with any ``client_name``; the operator lists registrations."""
    client = dev.register(
        client_name=f"odd{INJECTED}", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )
    listed = dev.authproxy("clients", "list")
    assert listed.returncode == 0, listed.stderr
    assert client["client_id"] in listed.stdout
    assert "\x1b" not in listed.stdout
    assert "\x07" not in listed.stdout
    assert not any(line.startswith("  ✓ 10:00:00") for line in listed.stdout.splitlines())
