"""The façade's figures: its ``/token`` overhead over the Cognito call it forwards, and its Lambda
cold start.

The Cognito stand-in (``python -m devstack.cognito``) and the façade (``authproxy serve``, one
uvicorn worker) run in separate processes, so neither's CPU or GIL inflates the other's figure.
The same refresh-token grant is sent, chained (rotation hands out a new refresh token each time),
through the façade's ``/token`` and straight at the stand-in's ``/oauth2/token`` with the backing
client's credentials, alternating request by request. The stand-in stands for Cognito, so the
absolute numbers are this machine's, not AWS's; the overhead is the façade's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from load import serving

from devstack.stack import FAKE_AWS
from mcpserver.server import SCOPE_DESCRIPTIONS
from support.oauth import obtain_code, token_request
from support.serving import free_port
from support.stack import Stack

REDIRECT = "http://localhost:8999/callback"
# The first request a façade on Lambda answers: an ALB metadata GET (RFC 8414 §3).
METADATA_EVENT = {
    "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:::tg/bench"}},
    "httpMethod": "GET",
    "path": "/.well-known/oauth-authorization-server",
    "multiValueQueryStringParameters": {},
    "multiValueHeaders": {"host": ["mcp.example.com"], "x-forwarded-proto": ["https"]},
    "body": "",
    "isBase64Encoded": False,
}
STANDIN_VARIABLES = 8  # the KEY=value lines ``python -m devstack.cognito`` prints first


@contextlib.contextmanager
def standin(resource: str) -> Iterator[dict[str, str]]:
    """The Cognito stand-in in its own process, seeded for ``resource``; yields its variables."""
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.cognito", "--resource", resource],
        # The stand-in runs from the checkout (it is not installed): ``-m`` finds it from here.
        cwd=Path(__file__).resolve().parents[1] / "infra" / "local",
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        variables: dict[str, str] = {}
        for _ in range(STANDIN_VARIABLES):
            key, _, value = shlex.split(process.stdout.readline())[0].partition("=")
            variables[key] = value
        yield variables
    finally:
        process.terminate()
        process.wait(timeout=15)


@contextlib.contextmanager
def facade_stack() -> Iterator[Stack]:
    """The stand-in and the façade, each in its own process, wired as ``authproxy dev`` wires
    them (see ``devstack.stack.stack_environment``)."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    mcp_url = f"{origin}/mcp"
    with tempfile.TemporaryDirectory(prefix="bench-facade-") as scratch, standin(mcp_url) as idp:
        env = {
            **idp,
            **FAKE_AWS,
            "ISSUER": origin,
            "MCP_URL": mcp_url,
            "AUTHPROXY_STORE": f"sqlite:///{Path(scratch) / 'authproxy.db'}",
            "AUTHPROXY_SECRET_KEY": secrets.token_urlsafe(32),
            "AUTHPROXY_RESOURCES": json.dumps(
                [{"resource": mcp_url, "scopes": SCOPE_DESCRIPTIONS, "default_scopes": ["read"]}]
            ),
            "AUTHPROXY_LOG_LEVEL": "WARNING",
        }
        command = [str(Path(sys.executable).with_name("authproxy")), "serve", "--port", str(port)]
        with serving(command, port, {**os.environ, **env}):
            yield Stack(env=env)


def _timed(send: Callable[[], httpx.Response]) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = send()
    return (time.perf_counter() - started) * 1000, response


def token_overhead(stack: Stack, refreshes: int) -> dict[str, float]:
    """Median refresh-grant latency through the façade and straight at the stand-in."""
    client = stack.register(
        client_name="bench", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )

    def refresh_token() -> str:
        code, verifier, _ = obtain_code(stack, client)
        grant = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
        response = token_request(stack.issuer, client, {**grant, "redirect_uri": REDIRECT})
        return str(response.json()["refresh_token"])

    # The same grant straight at "Cognito" needs the backing client's credentials and Cognito's
    # own refresh token (the façade hands out a sealed copy; the bench opens it).
    from authproxy.sealing import Purpose, Sealer

    sealed = Sealer(stack["AUTHPROXY_SECRET_KEY"]).open(Purpose.REFRESH, refresh_token())
    backing_id = sealed["backing_client_id"]
    secret = stack.aws("cognito-idp").describe_user_pool_client(
        UserPoolId=stack["USER_POOL_ID"], ClientId=backing_id
    )["UserPoolClient"]["ClientSecret"]
    tokens = {"facade": refresh_token(), "direct": sealed["refresh_token"]}
    samples: dict[str, list[float]] = {"facade": [], "direct": []}
    with httpx.Client(timeout=30) as http:
        sends = {
            "facade": lambda: http.post(
                f"{stack.issuer}/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": tokens["facade"],
                    "client_id": client["client_id"],
                },
            ),
            "direct": lambda: http.post(
                f"{stack['COGNITO_DOMAIN']}/oauth2/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": tokens["direct"],
                    "client_id": backing_id,
                },
                auth=(backing_id, secret),
            ),
        }
        for _ in range(refreshes):
            for path, send in sends.items():
                elapsed, response = _timed(send)
                response.raise_for_status()
                tokens[path] = response.json().get("refresh_token", tokens[path])
                samples[path].append(elapsed)
    facade, direct = statistics.median(samples["facade"]), statistics.median(samples["direct"])
    return {"facade_p50_ms": facade, "direct_p50_ms": direct, "overhead_p50_ms": facade - direct}


def lambda_environment(stack: Stack) -> dict[str, Any]:
    """The façade's environment as its Lambda cold start reads it, behind ``mcp.example.com``."""
    return {**os.environ, **stack.env, "ISSUER": "https://mcp.example.com"}
