"""The ``authproxy`` command line: ``serve`` the façade, run the local stack with ``dev``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .settings import SettingsError


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .settings import Settings

    settings = Settings.from_env()
    uvicorn.run(
        create_app(settings), host=args.host, port=args.port, log_config=None, access_log=False
    )
    return 0


def _dev(args: argparse.Namespace) -> int:
    try:
        from devstack.stack import DevOptions, run
    except ImportError as exc:  # the local stack is a development extra
        print(
            f"authproxy dev needs the development install: pip install -e '.[dev]' ({exc})",
            file=sys.stderr,
        )
        return 2
    run(
        DevOptions(
            host=args.host,
            port=args.port,
            demo_user=args.demo_user,
            demo_password=args.demo_password,
            client_policy=args.client_policy,
            token_ttl=args.token_ttl,
            resource_binding=args.resource_binding,
            trusted_redirect_hosts=args.trusted_redirect_hosts,
            store=args.store,
        )
    )
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="authproxy",
        description="An OAuth 2.1 authorization-server façade for Amazon Cognito user pools.",
    )
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the façade (settings from the environment)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=_serve)

    dev = commands.add_parser(
        "dev", help="run the whole local stack: Cognito stand-in, façade and MCP server"
    )
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000, help="origin port (0: pick a free one)")
    dev.add_argument("--demo-user", default="demo")
    dev.add_argument("--demo-password", help="default: a random one, printed")
    dev.add_argument("--client-policy", choices=["pooled", "dedicated"], default="pooled")
    dev.add_argument(
        "--token-ttl", type=int, metavar="SECONDS", help="lifetime of access and ID tokens"
    )
    dev.add_argument(
        "--resource-binding", action="store_true", help="emulate Cognito resource binding (aud)"
    )
    dev.add_argument("--trusted-redirect-hosts", default="", metavar="HOSTS")
    dev.add_argument("--store", metavar="PATH", help="SQLite file (default: a new temporary one)")
    dev.set_defaults(func=_dev)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"authproxy: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
