"""What the façade costs: its Lambda cold start, and its token endpoint side by side with Cognito's.

    .venv/bin/python bench/authproxy_latency.py [--runs 10] [--refreshes 200]

Against ``authproxy dev`` (started here, on loopback):

- Cold start: a fresh interpreter imports ``authproxy.lambda_handler`` (which builds the app, as
  the Lambda init phase does) and answers its first ALB event, a metadata GET.
- Token endpoint: the same refresh-token grant, chained (rotation gives a new refresh token each
  time), once through the façade's ``/token`` and once straight at the stand-in's
  ``/oauth2/token`` with the backing client's credentials. The ratio is the façade's overhead
  over the Cognito call it forwards; the stand-in stands for Cognito, so absolute numbers are this
  machine's, not AWS's.

Numbers are printed as JSON; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "infra" / "local"))  # the local stand-in is not installed

from coldstart import cold_starts, summary  # noqa: E402

from support.oauth import obtain_code, token_request  # noqa: E402
from support.stack import Stack  # noqa: E402

REDIRECT = "http://localhost:8999/callback"
METADATA_EVENT = {
    "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:::tg/bench"}},
    "httpMethod": "GET",
    "path": "/.well-known/oauth-authorization-server",
    "multiValueQueryStringParameters": {},
    "multiValueHeaders": {"host": ["mcp.example.com"], "x-forwarded-proto": ["https"]},
    "body": "",
    "isBase64Encoded": False,
}


def start_dev() -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("authproxy")), "dev", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    env: dict[str, str] = {}
    for line in process.stdout:
        if not line.strip():
            break
        key, _, value = shlex.split(line)[0].partition("=")
        env[key] = value
    return process, env


def refresh_chain(send: Any, refresh_token: str, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = send(refresh_token)
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        refresh_token = response.json().get("refresh_token", refresh_token)
    return samples


def token_endpoints(stack: Stack, count: int) -> dict[str, Any]:
    client = stack.register(
        client_name="bench", redirect_uris=[REDIRECT], token_endpoint_auth_method="none"
    )

    def tokens() -> dict[str, str]:
        code, verifier, _ = obtain_code(stack, client)
        grant = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
        return dict(token_request(stack.issuer, client, {**grant, "redirect_uri": REDIRECT}).json())

    http = httpx.Client(timeout=30)
    facade_refresh = tokens()["refresh_token"]
    via_facade = refresh_chain(
        lambda rt: http.post(
            f"{stack.issuer}/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": rt,
                "client_id": client["client_id"],
            },
        ),
        facade_refresh,
        count,
    )
    # The same grant straight at "Cognito": the backing client's credentials and Cognito's own
    # refresh token (the façade hands out a sealed copy; the bench reads Cognito's from it).
    from authproxy.sealing import Purpose, Sealer

    cognito_refresh = Sealer(stack["AUTHPROXY_SECRET_KEY"]).open(
        Purpose.REFRESH, tokens()["refresh_token"]
    )
    backing_id = cognito_refresh["backing_client_id"]
    idp = stack.aws("cognito-idp")
    secret = idp.describe_user_pool_client(UserPoolId=stack["USER_POOL_ID"], ClientId=backing_id)[
        "UserPoolClient"
    ]["ClientSecret"]
    direct = refresh_chain(
        lambda rt: http.post(
            f"{stack['COGNITO_DOMAIN']}/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": rt, "client_id": backing_id},
            auth=(backing_id, secret),
        ),
        cognito_refresh["refresh_token"],
        count,
    )
    facade, cognito = summary(via_facade), summary(direct)
    return {
        "refresh_via_facade": facade,
        "refresh_direct_to_cognito_standin": cognito,
        "facade_over_direct_median_ratio": round(facade["median"] / cognito["median"], 2),
        "facade_overhead_median_ms": round(facade["median"] - cognito["median"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--refreshes", type=int, default=200)
    args = parser.parse_args()
    process, env = start_dev()
    try:
        stack = Stack(env=env)
        report = {
            "cold_start": cold_starts(
                "authproxy.lambda_handler",
                {**os.environ, **env, "ISSUER": "https://mcp.example.com"},
                METADATA_EVENT,
                args.runs,
            ),
            "token_endpoint": token_endpoints(stack, args.refreshes),
            "python": sys.version.split()[0],
        }
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
