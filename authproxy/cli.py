"""The ``authproxy`` command line.

``serve`` the façade, run the local stack with ``dev``, manage registrations with ``clients``, and
``check`` a deployment's discovery chain. Settings come from the environment, as for the Lambda.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from servicekit.text import inert

from .cognito_admin import CognitoAdminError
from .manage import SETTLING
from .settings import SettingsError
from .store import StoreUnavailable


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    """uvicorn shuts down gracefully on SIGINT and SIGTERM, then raises the signal again; these
    handlers turn that into a normal exit, so cleanup runs and the exit status is 0."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .settings import Settings

    _log_file(args)
    app = create_app(Settings.from_env())
    with stopped_by_signals():
        uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
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
    _log_file(args)
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
            log_level=args.log_level.upper(),
            step_up=args.step_up,
        )
    )
    return 0


def _log_file(args: argparse.Namespace) -> None:
    """``--log-file``: every JSON log line also goes to this file (``authproxy trace`` reads it)."""
    if args.log_file:
        from servicekit import logs

        logs.also_write_to(args.log_file)


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    # Registrants choose their client_name: shown, never obeyed, by the operator's terminal.
    cells = [{c: inert(str(r[c])) for c in columns} for r in rows]
    widths = {c: max([len(c), *(len(r[c]) for r in cells)]) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns) for r in cells]
    return "\n".join(lines)


def _progress(done: int, total: int) -> None:
    print(f"\r  {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)


def _clients(args: argparse.Namespace) -> int:
    from . import manage
    from .cognito_admin import CognitoAdmin, deployment_mark
    from .resources import scopes_supported
    from .settings import OperatorSettings
    from .store import open_store

    settings = OperatorSettings.from_env()
    store = open_store(settings.store_url, region=settings.store_region)
    admin = CognitoAdmin(settings.user_pool_id, settings.region, settings.cognito_endpoint)
    owner = deployment_mark(settings.store_url, settings.region)
    if args.action == "list":
        rows = manage.list_clients(store)
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            columns = (
                "client_id",
                "client_name",
                "kind",
                "auth_method",
                "status",
                "backing_client_id",
                "policy",
                "created",
                "last_used",
            )
            print(_table(rows, columns) if rows else "no registrations")
        return 0
    if args.action == "show":
        shown = manage.show_client(store, admin, args.client_id)
        if shown is None:
            print(f"authproxy: no registration {args.client_id!r}", file=sys.stderr)
            return 1
        print(json.dumps(shown, indent=2))
        return 0
    if args.action == "revoke":
        revoked = manage.revoke_client(store, admin, args.client_id, delete_backing=args.backing)
        if revoked is None:
            print(f"authproxy: no registration {args.client_id!r}", file=sys.stderr)
            return 1
        print(
            f"revoked {revoked.client_id}"
            + (" and retired its backing client" if args.backing else "")
        )
        return 0
    if args.action == "prune":
        plan = manage.plan_prune(
            store,
            admin,
            owner,
            never_used_days=args.never_used_days,
            idle_days=args.idle_days,
            settling=args.min_age,
        )
        print(
            f"{len(plan.registrations)} registrations and {len(plan.backing)} backing clients "
            + ("to delete" if args.yes else "would be deleted (dry run; --yes to delete)")
        )
        for registration in plan.registrations:
            print(f"  {registration.client_id}  {inert(registration.client_name)}")
        for backing in plan.not_owned:
            print(f"  left alone, not this deployment's: backing client {backing.client_id}")
        if not args.yes:
            return 0
        failures = manage.apply_prune(store, admin, plan, _progress)
        print("done" if not failures else f"{failures} backing clients could not be deleted")
        return 1 if failures else 0
    if args.action == "reconcile":
        scopes = scopes_supported(settings.resources) if settings.resources else []
        drift = manage.find_drift(
            store, admin, owner, _progress, settling=args.min_age, scopes=scopes
        )
        print(json.dumps(drift.as_dict(), indent=2))
        if drift.clean:
            print("store and Cognito agree")
            return 0
        if not args.fix:
            print("drift found (dry run; --fix to repair)")
            return 1
        failures = manage.fix_drift(store, admin, owner, drift)
        print("repaired" if not failures else f"{failures} Cognito clients could not be deleted")
        return 1 if failures else 0
    raise AssertionError(args.action)


CHECK_PASSWORD_VARIABLE = "AUTHPROXY_CHECK_PASSWORD"
LOG_FILE_HELP = "also append the JSON log lines to this file (for authproxy trace)"


def _check(args: argparse.Namespace) -> int:
    from .check import render, run_check

    if not args.client:
        report = run_check(args.url, register=args.register, token=args.token, timeout=args.timeout)
        print(render(report))
        return 0 if report.ok else 1

    from .client_check import run_client_check
    from .client_profiles import PROFILES

    user = None
    if args.user:
        password = os.environ.get(CHECK_PASSWORD_VARIABLE)
        if not password:
            print(
                f"authproxy: --user needs the password in {CHECK_PASSWORD_VARIABLE}",
                file=sys.stderr,
            )
            return 2
        user = (args.user, password)
    names = list(PROFILES) if args.client == "all" else [args.client]
    failed = []
    for name in names:
        profile = PROFILES[name]
        print(f"== {name}: {profile.title}")
        report = run_client_check(args.url, profile, user=user, timeout=args.timeout)
        print(render(report))
        if not report.ok:
            failed.append(name)
    if len(names) > 1:
        print(
            f"{len(names) - len(failed)} of {len(names)} clients passed"
            + (f"; failed: {', '.join(failed)}" if failed else "")
        )
    return 1 if failed else 0


def _trace(args: argparse.Namespace) -> int:
    from . import trace

    if args.log_group:
        import boto3

        # AWS_ENDPOINT_URL_LOGS, honoured by botocore, points it elsewhere (the local stand-in).
        logs = boto3.client("logs", region_name=args.region)
        lines = trace.cloudwatch_lines(logs, args.log_group, int(args.since * 3600))
    else:
        with open(args.log_file, encoding="utf-8") as handle:
            lines = handle.readlines()
    selected = trace.select(trace.flows(trace.read_lines(lines)), args.who)
    print(trace.render(selected))
    return 0 if selected else 1


def profile_choices() -> list[str]:
    from .client_profiles import PROFILES

    return [*PROFILES, "all"]


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="authproxy",
        description="An OAuth 2.1 authorization-server façade for Amazon Cognito user pools.",
    )
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the façade (settings from the environment)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-file", metavar="PATH", help=LOG_FILE_HELP)
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
    dev.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="info",
        type=str.lower,
        help="both deployables' log level (AUTHPROXY_LOG_LEVEL, MCP_LOG_LEVEL)",
    )
    dev.add_argument(
        "--step-up",
        action="store_true",
        help="first sign-in grants read only; write tools make the client step up (403)",
    )
    dev.add_argument("--log-file", metavar="PATH", help=LOG_FILE_HELP)
    dev.set_defaults(func=_dev)

    clients = commands.add_parser(
        "clients",
        help="registrations and their backing Cognito clients (USER_POOL_ID, AUTHPROXY_STORE)",
    )
    actions = clients.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every registration")
    listing.add_argument("--json", action="store_true")
    # Ids issued before they were alphanumeric may start with "-": `show -- -abc…` reads them.
    client_id_help = "the registration's client_id (put -- before one that starts with -)"
    show = actions.add_parser("show", help="one registration in full")
    show.add_argument("client_id", help=client_id_help)
    revoke = actions.add_parser("revoke", help="refuse a registration from now on")
    revoke.add_argument("client_id", help=client_id_help)
    revoke.add_argument(
        "--backing", action="store_true", help="also delete its backing Cognito client if unshared"
    )
    prune = actions.add_parser("prune", help="delete unused registrations (dry run unless --yes)")
    prune.add_argument(
        "--never-used-days",
        type=float,
        default=7,
        metavar="DAYS",
        help="grace period for registrations never used (default 7)",
    )
    prune.add_argument(
        "--idle-days",
        type=float,
        metavar="DAYS",
        help="also delete registrations unused for this long",
    )
    prune.add_argument("--yes", action="store_true")
    settling_help = "leave alone what is younger than this: it may be a registration in flight"
    prune.add_argument(
        "--min-age",
        type=float,
        default=SETTLING,
        metavar="SECONDS",
        help=f"{settling_help} (default {SETTLING:g})",
    )
    reconcile = actions.add_parser("reconcile", help="compare the store with Cognito")
    reconcile.add_argument("--fix", action="store_true")
    reconcile.add_argument(
        "--min-age",
        type=float,
        default=SETTLING,
        metavar="SECONDS",
        help=f"ignore Cognito clients younger than this (default {SETTLING:g})",
    )
    clients.set_defaults(func=_clients)

    check = commands.add_parser(
        "check", help="walk a deployment's discovery chain, generically or as a given client"
    )
    check.add_argument("url", help="the MCP URL users paste")
    check.add_argument(
        "--as",
        dest="client",
        choices=profile_choices(),
        metavar="CLIENT",
        help="replay this client's sign-in up to Cognito's sign-in page: "
        + ", ".join(profile_choices()),
    )
    check.add_argument(
        "--user",
        metavar="NAME",
        help=f"with --as: also sign in as this test user (password in {CHECK_PASSWORD_VARIABLE}), "
        "approve, redeem the code and list the tools",
    )
    check.add_argument("--register", action="store_true", help="also a throw-away registration")
    check.add_argument("--token", help="also an authenticated tools/list with this access token")
    check.add_argument("--timeout", type=float, default=10.0)
    check.set_defaults(func=_check)

    tracing = commands.add_parser(
        "trace", help="the timeline of recent sign-ins of a client, a flow or a user"
    )
    tracing.add_argument("who", help="a registration's client_id, a flow_id or a user name")
    source = tracing.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--log-file", metavar="PATH", help="JSON log lines (dev or serve --log-file)"
    )
    source.add_argument(
        "--log-group",
        action="append",
        metavar="NAME",
        help="a CloudWatch log group (repeat for the façade's and the MCP server's)",
    )
    tracing.add_argument(
        "--since", type=float, default=24, metavar="HOURS", help="with --log-group (default 24)"
    )
    tracing.add_argument("--region", help="with --log-group (default: AWS_REGION)")
    tracing.set_defaults(func=_trace)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"authproxy: configuration error: {exc}", file=sys.stderr)
        return 2
    except CognitoAdminError as exc:
        print(
            f"authproxy: Cognito {exc.operation} failed ({exc.code}): {exc.message}\n"
            f"  check: AWS credentials and region, USER_POOL_ID, and that the caller may "
            f"cognito-idp:{exc.operation} on the pool",
            file=sys.stderr,
        )
        return 1
    except StoreUnavailable as exc:
        print(
            f"authproxy: the registration store failed: {exc}\n"
            "  check: AUTHPROXY_STORE, and for DynamoDB the table name, region and permissions",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
