"""``python -m devstack.cognito`` prints the variables of a seeded stand-in and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

# The stand-in is not installed (it is not in the wheel): it runs from the checkout.
LOCAL = Path(__file__).resolve().parents[2] / "infra" / "local"


def test_entry_point_prints_variables_serves_and_stops():
    command = [sys.executable, "-m", "devstack.cognito", "--password", "demo-password"]
    env = {**os.environ, "PYTHONPATH": str(LOCAL)}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline().strip() for _ in range(8)]
            variables = dict(line.split("=", 1) for line in lines)
            assert variables["DEMO_USER"] == "demo"
            assert variables["DEMO_PASSWORD"] == "demo-password"
            issuer, domain = variables["COGNITO_ISSUER"], variables["COGNITO_DOMAIN"]
            discovery = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
            assert discovery["jwks_uri"] == variables["JWKS_URL"]
            assert discovery["token_endpoint"] == f"{domain}/oauth2/token"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
