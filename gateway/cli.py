"""The ``authproxy-gateway`` command: ``serve`` the gateway (settings from the environment, as in
its container), and print the ``identity-key`` an upstream verifies its identity headers with."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway.identity import upstream_key
from gateway.settings import Settings, SettingsError
from servicekit.serving import stopped_by_signals


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.app import create_app

    app = create_app(Settings.from_env())
    with stopped_by_signals():
        # Streams stay open for as long as clients keep them: no keep-alive limit beyond the
        # load balancer's, and proxy headers only from the load balancer in front.
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_config=None,
            access_log=False,
            proxy_headers=True,
            forwarded_allow_ips=args.forwarded_allow_ips,
        )
    return 0


def _identity_key(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    for upstream in settings.upstreams:
        if args.name in (upstream.resource, upstream.path.rsplit("/", 1)[-1]):
            print(upstream_key(settings.secret, upstream.resource))
            return 0
    print(f"authproxy-gateway: no upstream named {args.name!r}", file=sys.stderr)
    return 1


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="authproxy-gateway",
        description="The authenticating gateway in front of MCP servers without authorization.",
    )
    commands = root.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the gateway (settings from the environment)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        metavar="IPS",
        help="addresses whose X-Forwarded-* headers are trusted (the load balancer's)",
    )
    serve.set_defaults(func=_serve)
    key = commands.add_parser(
        "identity-key", help="the key one upstream verifies X-Authproxy-Identity with"
    )
    key.add_argument("name", help="the upstream's NAME (/mcp/NAME) or resource URI")
    key.set_defaults(func=_identity_key)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(exc.report("authproxy-gateway"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
