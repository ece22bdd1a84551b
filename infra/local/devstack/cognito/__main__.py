"""``python -m devstack.cognito`` (run in ``infra/local``): a seeded Cognito stand-in on its own,
for manual testing.

Prints ``KEY=value`` lines (the variables the deployables read, plus the demo credentials) and
serves until interrupted.
"""

from __future__ import annotations

import argparse
import secrets
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TextIO

from devstack.cognito.standin import CognitoStandIn


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack.cognito", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="admin API and issuer port")
    parser.add_argument("--domain-port", type=int, default=0, help="managed-login port")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--resource", default="http://127.0.0.1:8000/mcp")
    parser.add_argument("--scopes", default="read,write", help="comma-separated scope names")
    parser.add_argument("--user", default="demo")
    parser.add_argument("--password", help="demo password (default: random)")
    parser.add_argument("--resource-binding", action="store_true")
    parser.add_argument("--token-ttl", type=int, help="access and ID token lifetime, seconds")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> None:
    """Start, seed, print the variables, serve until SIGINT or SIGTERM."""
    args = _arguments(argv)
    password = args.password or f"demo-{secrets.token_urlsafe(9)}"
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    with CognitoStandIn(
        host=args.host,
        port=args.port,
        domain_port=args.domain_port,
        region=args.region,
        resource_binding=args.resource_binding,
        token_ttl_override=args.token_ttl,
    ) as standin:
        pool = standin.seed(
            resources=[(args.resource, args.scopes.split(","))],
            users=[(args.user, password, ["admins"])],
        )
        variables = {
            "COGNITO_ENDPOINT": standin.endpoint,
            "COGNITO_ISSUER": pool.issuer,
            "JWKS_URL": pool.jwks_url,
            "COGNITO_DOMAIN": pool.domain,
            "USER_POOL_ID": pool.pool_id,
            "AWS_REGION": pool.region,
            "DEMO_USER": args.user,
            "DEMO_PASSWORD": password,
        }
        for name, value in variables.items():
            out.write(f"{name}={shlex.quote(value)}\n")
        out.flush()
        stopping.wait()


if __name__ == "__main__":
    main()
