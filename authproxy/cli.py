"""The ``authproxy`` command line.

``serve`` the façade, run the local stack with ``dev``, manage registrations with ``clients``, and
``check`` a deployment's discovery chain. Settings come from the environment, as for the Lambda.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from servicekit.env import UPSTREAM_NAME
from servicekit.serving import StartupError, listening_socket, stopped_by_signals
from servicekit.text import inert

from .cognito_admin import CognitoAdminError
from .manage import SETTLING, plural
from .settings import SettingsError
from .store import StoreUnavailable

# The local stack lives in the repository, not in the wheel: ``authproxy dev`` runs from a checkout.
LOCAL_STACK = Path(__file__).resolve().parents[1] / "infra" / "local"

if TYPE_CHECKING:
    from .cognito_admin import CognitoAdmin
    from .settings import Settings
    from .store import Store


#: A client id no pool has: DescribeUserPoolClient of it is a cheap "can I reach the pool?".
PROBE_CLIENT_ID = "authproxystartupcheck"


def reach_cognito(admin: CognitoAdmin) -> None:
    """Ask Cognito about a client that does not exist, with the one read the serving role may
    make (DescribeUserPoolClient): ResourceNotFoundException for the client proves credentials,
    permission, endpoint and pool; anything else is a :class:`StartupError` saying what to fix."""
    try:
        admin.describe_client(PROBE_CLIENT_ID)
    except CognitoAdminError as exc:
        # Cognito names what it did not find: the pool ("User pool <id> does not exist.") or
        # the client; only the client's absence is the expected answer.
        if exc.not_found and admin.user_pool_id not in exc.message:
            return
        raise StartupError(f"cannot reach Cognito: {_cognito_hint(exc)}") from None


def _cognito_hint(exc: CognitoAdminError) -> str:
    if exc.code == "NoCredentialsError":
        return (
            "no AWS credentials found; set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    if exc.code in ("AccessDeniedException", "UnrecognizedClientException"):
        return (
            f"{exc.code}; the serving role needs cognito-idp:DescribeUserPoolClient, "
            "CreateUserPoolClient and DeleteUserPoolClient on the pool"
        )
    if exc.not_found:
        return f"{exc.message.rstrip('.')}; check USER_POOL_ID (and its region)"
    if exc.code.endswith(("ConnectionError", "TimeoutError")):
        return f"{exc.code} ({exc.message}); check AWS_REGION and COGNITO_ENDPOINT"
    return f"{exc.operation} failed with {exc.code}: {exc.message}"


def reach_store(store: Store) -> None:
    """One read, so a missing table or a refused permission shows now, not at the first user."""
    store.get_registration(PROBE_CLIENT_ID)


def startup_line(settings: Settings, origin: str) -> str:
    fronted = ", ".join(r.uri for r in settings.resources)
    return (
        f"authproxy serve: listening on {origin}; issuer {settings.issuer}, pool "
        f"{settings.user_pool_id} ({settings.region}), store {settings.store_url}, "
        f"fronting {fronted}"
    )


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .cognito_admin import CognitoAdmin
    from .settings import Settings
    from .store import open_store

    _log_file(args)
    settings = Settings.from_env()
    store = open_store(settings.store_url, region=settings.store_region)
    reach_store(store)
    admin = CognitoAdmin(settings.user_pool_id, settings.region, settings.cognito_endpoint)
    reach_cognito(admin)
    app = create_app(settings, store=store, admin=admin)
    sock = listening_socket(args.host, args.port)
    host, port = sock.getsockname()[:2]
    print(
        startup_line(settings, f"http://{f'[{host}]' if ':' in host else host}:{port}"), flush=True
    )
    config = uvicorn.Config(app, log_config=None, access_log=False)
    with stopped_by_signals(), sock:
        uvicorn.Server(config).run(sockets=[sock])
    return 0


def _dev(args: argparse.Namespace) -> int:
    if (LOCAL_STACK / "devstack").is_dir() and str(LOCAL_STACK) not in sys.path:
        sys.path.append(str(LOCAL_STACK))
    try:
        from devstack.stack import DevOptions, run
    except ImportError as exc:  # the local stack is in the checkout, with the development extra
        print(
            "authproxy dev runs from a checkout of the repository with the development install: "
            f"pip install -e '.[dev]' ({exc})",
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
            upstreams=tuple(args.upstream),
            log_level=args.log_level.upper(),
            step_up=args.step_up,
            env_file=args.env_file,
            allowed_origins=tuple(args.allowed_origin),
        )
    )
    return 0


def _upstream(value: str) -> tuple[str, str]:
    """``NAME=URL`` of ``dev --upstream``: a path segment and an absolute http(s) URL."""
    name, sep, url = value.partition("=")
    parts = urlsplit(url)
    if not sep or not UPSTREAM_NAME.match(name):
        raise argparse.ArgumentTypeError(f"{value!r}: NAME is letters, digits, '-' and '_'")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"{value!r}: URL must be an absolute http(s) URL")
    return name, url


def _log_file(args: argparse.Namespace) -> None:
    """``--log-file``: every JSON log line also goes to this file (``authproxy trace`` reads it)."""
    if args.log_file:
        from servicekit import logs

        logs.also_write_to(args.log_file)


def _cell(value: Any) -> str:
    """A table cell; a timestamp that never was (JSON null) reads "never"."""
    return "never" if value is None else str(value)


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    # Registrants choose their client_name: shown, never obeyed, by the operator's terminal.
    cells = [{c: inert(_cell(r[c])) for c in columns} for r in rows]
    widths = {c: max([len(c), *(len(r[c]) for r in cells)]) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns) for r in cells]
    return "\n".join(lines)


def _progress(done: int, total: int) -> None:
    """A counter rewritten in place on a terminal; nothing in a log or a pipe, where every
    ``\r`` would be one more line of noise."""
    if not sys.stderr.isatty():
        return
    print(f"\r  {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)


def _clients(args: argparse.Namespace) -> int:
    from . import manage
    from .cognito_admin import CognitoAdmin, deployment_mark
    from .resources import scopes_supported
    from .settings import OperatorSettings
    from .store import open_store

    settings = OperatorSettings.from_env()
    store = open_store(settings.store_url, region=settings.store_region, create=False)
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
        print(f"revoked {revoked.registration.client_id}")
        if revoked.backing:
            print(revoked.backing)
        return 1 if revoked.failed else 0
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
            f"{plural(len(plan.registrations), 'registration')} and "
            f"{plural(len(plan.backing), 'backing client')} "
            + ("to delete" if args.yes else "would be deleted (dry run; --yes to delete)")
        )
        for registration in plan.registrations:
            print(f"  {registration.client_id}  {inert(registration.client_name)}")
        for backing in plan.not_owned:
            print(f"  left alone, not this deployment's: backing client {backing.client_id}")
        if not args.yes:
            return 0
        failures = manage.apply_prune(store, admin, plan, _progress)
        print("done" if not failures else f"{plural(failures, 'backing client')} not deleted")
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
        print("repaired" if not failures else f"{plural(failures, 'Cognito client')} not deleted")
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

    serve = commands.add_parser(
        "serve",
        help="serve the façade (settings from the environment); checks Cognito and the store first",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument("--log-file", metavar="PATH", help=LOG_FILE_HELP)
    serve.set_defaults(func=_serve)

    dev = commands.add_parser(
        "dev", help="run the whole local stack: Cognito stand-in, façade and MCP server"
    )
    dev.add_argument("--host", default="127.0.0.1", help="address of every listener")
    dev.add_argument("--port", type=int, default=8000, help="origin port (0: pick a free one)")
    dev.add_argument("--demo-user", default="demo", help="the seeded user's name")
    dev.add_argument("--demo-password", help="default: a random one, printed")
    dev.add_argument(
        "--client-policy",
        choices=["pooled", "dedicated"],
        default="pooled",
        help="AUTHPROXY_CLIENT_POLICY",
    )
    dev.add_argument(
        "--token-ttl", type=int, metavar="SECONDS", help="lifetime of access and ID tokens"
    )
    dev.add_argument(
        "--resource-binding", action="store_true", help="emulate Cognito resource binding (aud)"
    )
    dev.add_argument(
        "--trusted-redirect-hosts",
        default="",
        metavar="HOSTS",
        help="AUTHPROXY_TRUSTED_REDIRECT_HOSTS",
    )
    dev.add_argument("--store", metavar="PATH", help="SQLite file (default: a new temporary one)")
    dev.add_argument(
        "--upstream",
        action="append",
        default=[],
        type=_upstream,
        metavar="NAME=URL",
        help="an MCP server (Streamable HTTP) to protect at /mcp/NAME through the gateway; "
        "repeatable",
    )
    dev.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="info",
        type=str.lower,
        help="every deployable's log level (AUTHPROXY_, MCP_, GATEWAY_LOG_LEVEL)",
    )
    dev.add_argument(
        "--step-up",
        action="store_true",
        help="first sign-in grants read only; write tools make the client step up (403)",
    )
    dev.add_argument(
        "--env-file",
        metavar="PATH",
        help="also write the block to PATH (mode 0600) for `set -a; . PATH`",
    )
    dev.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="another browser origin the MCP server accepts (MCP_ALLOWED_ORIGINS), e.g. "
        "MCP Inspector on another port; repeatable",
    )
    dev.add_argument("--log-file", metavar="PATH", help=LOG_FILE_HELP)
    dev.set_defaults(func=_dev)

    clients = commands.add_parser(
        "clients",
        help="registrations and their backing Cognito clients (USER_POOL_ID, AUTHPROXY_STORE)",
    )
    actions = clients.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every registration")
    listing.add_argument(
        "--json", action="store_true", help="JSON: ISO 8601 UTC timestamps, null for never"
    )
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
    prune.add_argument("--yes", action="store_true", help="delete (default: a dry run)")
    settling_help = "leave alone what is younger than this: it may be a registration in flight"
    prune.add_argument(
        "--min-age",
        type=float,
        default=SETTLING,
        metavar="SECONDS",
        help=f"{settling_help} (default {SETTLING:g})",
    )
    reconcile = actions.add_parser("reconcile", help="compare the store with Cognito")
    reconcile.add_argument("--fix", action="store_true", help="repair what was found")
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
    check.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="per request (default 10)"
    )
    check.set_defaults(func=_check)

    tracing = commands.add_parser(
        "trace", help="the timeline of recent sign-ins of a client, a flow or a user"
    )
    tracing.add_argument("who", help="a registration's client_id, a flow_id or a user name")
    source = tracing.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--log-file", metavar="PATH", help="JSON log lines (what dev or serve wrote to stderr)"
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
        print(exc.report("authproxy"), file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"authproxy: {exc}", file=sys.stderr)
        return 1
    except CognitoAdminError as exc:
        print(
            f"authproxy: Cognito {exc.operation} failed ({exc.code}): {exc.message}\n"
            f"  check: AWS credentials and region, USER_POOL_ID, and that the caller may "
            f"cognito-idp:{exc.operation} on the pool",
            file=sys.stderr,
        )
        return 1
    except StoreUnavailable as exc:
        dynamodb = "dynamodb" in str(exc).lower()
        print(
            f"authproxy: the registration store failed: {exc}; check AUTHPROXY_STORE"
            + (", the table's region and the caller's DynamoDB permissions" if dynamodb else ""),
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
