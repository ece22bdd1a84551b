"""``authproxy dev``: the whole local stack in one process.

The Cognito stand-in (admin API + issuer on one port, managed login on another), and on one origin,
``http://127.0.0.1:<port>``, the façade and the MCP server routed by path exactly as the AWS
front door routes them; with ``--upstream NAME=URL``, the gateway too, serving each such MCP
server at ``/mcp/NAME`` as a resource of its own. The first thing printed is a block of
``export KEY=value`` lines that both deployables, ``authproxy clients`` and ``authproxy check``
read from the environment (``--env-file`` also writes it, as ``KEY=value`` lines for
``set -a; . PATH``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shlex
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import uvicorn
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from devstack import client_hosts
from devstack.cognito import CognitoStandIn
from gateway.identity import upstream_key
from mcpserver.server import SCOPE_DESCRIPTIONS
from resourcekit.metadata import metadata_path
from servicekit.serving import StartupError, listening_socket, stopped_by_signals

DEMO_USER = "demo"
INSPECTOR_ORIGINS = ("http://localhost:6274", "http://127.0.0.1:6274")
MCP_PATH = "/mcp"
KEEP_ALIVE_SECONDS = 65
# The scopes of an upstream behind the gateway (--upstream): every call needs read.
UPSTREAM_SCOPES = ("read", "write")
# moto accepts any credentials; boto3 needs some to sign with.
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass(frozen=True)
class DevOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    demo_user: str = DEMO_USER
    demo_password: str | None = None
    client_policy: str = "pooled"
    token_ttl: int | None = None
    resource_binding: bool = False
    trusted_redirect_hosts: str = ""
    store: str | None = None
    #: ``(NAME, URL)``: MCP servers the gateway fronts at ``/mcp/NAME``.
    upstreams: tuple[tuple[str, str], ...] = ()
    #: Both deployables' log level; the stand-in's own logging is not theirs and stays as it is.
    log_level: str = "INFO"
    #: Least privilege with step-up (``default_scopes: ["read"]``) instead of the default, one
    #: approval up front for every scope (README, "Step-up or one approval up front").
    step_up: bool = False
    #: Also write the variables here, ``KEY=value`` lines for ``set -a; . PATH``.
    env_file: str | None = None
    #: More browser origins the MCP server accepts (``--allowed-origin``).
    allowed_origins: tuple[str, ...] = ()


class OneOrigin:
    """Routes by path as the AWS front door does: the gateway's paths (exactly) to the gateway,
    the MCP endpoint and its protected-resource metadata to the MCP server, everything else to
    the façade. Runs every app's lifespan."""

    def __init__(
        self,
        facade: Starlette,
        mcp: Starlette,
        mcp_path: str,
        gateway: Starlette | None = None,
        gateway_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.facade = facade
        self.mcp = mcp
        self.mcp_prefixes = (mcp_path, "/.well-known/oauth-protected-resource")
        self.gateway = gateway
        self.gateway_paths = gateway_paths

    def routes_to_mcp(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.mcp_prefixes)

    def app_for(self, path: str) -> Starlette:
        if self.gateway is not None and path in self.gateway_paths:
            return self.gateway
        return self.mcp if self.routes_to_mcp(path) else self.facade

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.app_for(scope.get("path", ""))(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        async with contextlib.AsyncExitStack() as stack:
            await receive()  # lifespan.startup
            try:
                for app in (self.facade, self.mcp, self.gateway):
                    if app is not None:
                        await stack.enter_async_context(app.router.lifespan_context(app))
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})


def stack_environment(
    options: DevOptions, standin: CognitoStandIn, port: int, store: str
) -> dict[str, str]:
    """Seed the stand-in and return every variable the two deployables need."""
    origin = f"http://{options.host}:{port}"
    mcp_url = origin + MCP_PATH
    password = options.demo_password or f"demo-{secrets.token_urlsafe(9)}"
    # The gateway's upstreams are resources like the MCP server: each gets a Cognito resource
    # server, an entry the façade fronts (consent names it) and a route at the gateway.
    fronted = {f"{mcp_url}/{name}": (name, url) for name, url in options.upstreams}
    pool = standin.seed(
        pool_name="authproxy-dev",
        resources=[
            (mcp_url, SCOPE_DESCRIPTIONS),
            *((resource, UPSTREAM_SCOPES) for resource in fronted),
        ],
        users=[(options.demo_user, password, ["admins"])],
    )
    gateway_secret = secrets.token_urlsafe(32)
    gateway: dict[str, str] = {}
    if fronted:
        gateway["GATEWAY_SECRET"] = gateway_secret
        for resource, (name, _url) in fronted.items():
            variable = name.upper().replace("-", "_")
            gateway[f"MCP_URL_{variable}"] = resource
            gateway[f"GATEWAY_IDENTITY_KEY_{variable}"] = upstream_key(gateway_secret, resource)
    return {
        "ISSUER": origin,
        "MCP_URL": mcp_url,
        "COGNITO_ENDPOINT": standin.endpoint,
        "COGNITO_ISSUER": pool.issuer,
        "COGNITO_DOMAIN": pool.domain,
        "JWKS_URL": pool.jwks_url,
        "USER_POOL_ID": pool.pool_id,
        "AWS_REGION": pool.region,
        **FAKE_AWS,
        "AUTHPROXY_STORE": f"sqlite:///{store}",
        "AUTHPROXY_SECRET_KEY": secrets.token_urlsafe(32),
        "AUTHPROXY_RESOURCES": json.dumps(
            [
                {
                    "resource": mcp_url,
                    "scopes": SCOPE_DESCRIPTIONS,
                    "default_scopes": list(SCOPE_DESCRIPTIONS)[: 1 if options.step_up else None],
                    "name": "authproxy dev MCP server",
                },
                *(
                    {
                        "resource": resource,
                        "upstream": url,
                        "scopes": list(UPSTREAM_SCOPES),
                        "default_scopes": ["read"],
                        "name": f"{name} (through the gateway)",
                    }
                    for resource, (name, url) in fronted.items()
                ),
            ]
        ),
        **gateway,
        "AUTHPROXY_CLIENT_POLICY": options.client_policy,
        "AUTHPROXY_RESOURCE_BINDING": "true" if options.resource_binding else "false",
        "AUTHPROXY_TRUSTED_REDIRECT_HOSTS": options.trusted_redirect_hosts,
        # The clients' metadata documents are served on loopback here (devstack.client_hosts).
        "AUTHPROXY_CIMD_ALLOW_LOOPBACK": "true",
        "MCP_SESSION_SECRET": secrets.token_urlsafe(32),
        "AUTHPROXY_LOG_LEVEL": options.log_level,
        "MCP_LOG_LEVEL": options.log_level,
        "GATEWAY_LOG_LEVEL": options.log_level,
        "MCP_ALLOWED_HOSTS": f"{options.host}:{port},localhost:{port}",
        # The stack's own origin and MCP Inspector's web UI, which calls the server from its page.
        "MCP_ALLOWED_ORIGINS": ",".join(
            [origin, f"http://localhost:{port}", *INSPECTOR_ORIGINS, *options.allowed_origins]
        ),
        "DEMO_USER": options.demo_user,
        "DEMO_PASSWORD": password,
    }


def seed_demo_aws(endpoint: str, region: str) -> None:
    """Something for the MCP server's tools to show: two EC2 instances and a few Bedrock
    model-invocation log records, in the stand-in's moto."""
    import boto3

    clients = {"endpoint_url": endpoint, "region_name": region, **_FAKE_CREDENTIALS}
    ec2 = boto3.client("ec2", **clients)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    for name in ("demo-web", "demo-worker"):
        ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}
            ],
        )
    logs = boto3.client("logs", **clients)
    group, stream = "/aws/bedrock/modelinvocations", "demo"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    events = [
        {
            "timestamp": now - minutes * 60_000,
            "message": json.dumps(
                {
                    "schemaType": "ModelInvocationLog",
                    "timestamp": time.strftime(
                        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(now / 1000 - minutes * 60)
                    ),
                    "identity": {"arn": f"arn:aws:iam::123456789012:user/{who}"},
                    "modelId": model,
                    "input": {"inputTokenCount": 120 + minutes},
                    "output": {"outputTokenCount": 40 + minutes},
                }
            ),
        }
        for minutes, who, model in (
            (30, "alice", "anthropic.claude-3-5-haiku-20241022-v1:0"),
            (20, "bob", "amazon.nova-lite-v1:0"),
            (10, "alice", "amazon.nova-lite-v1:0"),
        )
    ]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def build_app(env: Mapping[str, str], **facade_options: Any) -> OneOrigin:
    """The façade and the MCP server, each from its own settings object, on one origin.
    ``facade_options`` go to the façade's ``create_app`` (tests only)."""
    import authproxy.app
    import authproxy.settings
    import gateway.app
    import gateway.settings
    import mcpserver.app
    import mcpserver.settings

    facade = authproxy.app.create_app(authproxy.settings.Settings.from_env(env), **facade_options)
    mcp = mcpserver.app.create_app(mcpserver.settings.Settings.from_env(env))
    if "GATEWAY_SECRET" not in env:
        return OneOrigin(facade, mcp, MCP_PATH)
    settings = gateway.settings.Settings.from_env(env)
    paths = {u.path for u in settings.upstreams} | {
        metadata_path(u.resource) for u in settings.upstreams
    }
    return OneOrigin(facade, mcp, MCP_PATH, gateway.app.create_app(settings), frozenset(paths))


# Variables the block shows first, in this order; the rest follow.
HEADLINE = (
    "ISSUER",
    "MCP_URL",
    "COGNITO_ENDPOINT",
    "COGNITO_ISSUER",
    "JWKS_URL",
    "USER_POOL_ID",
    "DEMO_USER",
    "DEMO_PASSWORD",
)


def assignments(env: Mapping[str, str], prefix: str = "") -> str:
    """The variables as shell assignments, :data:`HEADLINE` first, values quoted for POSIX sh."""
    keys = [*HEADLINE, *(k for k in sorted(env) if k not in HEADLINE)]
    return "".join(f"{prefix}{k}={shlex.quote(env[k])}\n" for k in keys)


def write_env_file(path: str, env: Mapping[str, str]) -> None:
    """``KEY=value`` lines for ``set -a; . PATH``; owner-only, as they hold the stack's keys."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(descriptor, "w", encoding="utf-8") as handle:
        handle.write(assignments(env))
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT


def banner(env: Mapping[str, str]) -> str:
    block = assignments(env, "export ").rstrip("\n")
    url = env["MCP_URL"]
    fronted = "".join(
        f"\n  {env[key]}  (its upstream verifies identities with "
        f"GATEWAY_IDENTITY_KEY_{key.removeprefix('MCP_URL_')})"
        for key in sorted(env)
        if key.startswith("MCP_URL_")
    )
    gateway = f"\nMCP servers behind the gateway, same sign-in:{fronted}\n" if fronted else ""
    desktop = json.dumps(
        {"mcpServers": {"authproxy-dev": {"command": "npx", "args": ["-y", "mcp-remote", url]}}}
    )
    return f"""{block}

authproxy dev is running. Point an MCP client at {url}
and sign in as {env["DEMO_USER"]} / {env["DEMO_PASSWORD"]}.
{gateway}
  Claude Code:     claude mcp add --transport http authproxy-dev {url}
  mcp-remote:      npx -y mcp-remote {url}
  Claude Desktop:  {desktop}
  MCP Inspector:   npx @modelcontextprotocol/inspector   (Transport: Streamable HTTP, URL: {url})

Paste the block above into another shell (or `eval` it; `--env-file PATH` writes it for
`set -a; . PATH`) to run `authproxy clients list` or
`authproxy check {url}` against this stack. Ctrl-C stops everything.
"""


async def _serve(server: uvicorn.Server, sock: socket.socket, on_ready: Callable[[], None]) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task
            return
        await asyncio.sleep(0.02)
    on_ready()
    await task


def run(options: DevOptions, out: TextIO = sys.stdout) -> None:
    """Start everything, print the block, serve until Ctrl-C or SIGTERM, stop cleanly.

    The stand-in and the temporary store are cleaned up however the stack is stopped.
    """
    if options.env_file and not Path(options.env_file).absolute().parent.is_dir():
        raise StartupError(f"--env-file {options.env_file}: its directory does not exist")
    # Bound before anything is told the port (with --port 0, the kernel picks it).
    sock = listening_socket(options.host, options.port)
    port = sock.getsockname()[1]
    try:
        with (
            stopped_by_signals(),
            tempfile.TemporaryDirectory(prefix="authproxy-dev-") as scratch,
            CognitoStandIn(
                host=options.host,
                resource_binding=options.resource_binding,
                token_ttl_override=options.token_ttl,
            ) as standin,
        ):
            store = options.store or str(Path(scratch) / "authproxy.db")
            env = stack_environment(options, standin, port, store)
            # boto3 reads credentials and per-service endpoints from the process environment:
            # the MCP server's EC2 and CloudWatch Logs tools reach moto on the stand-in too.
            os.environ.update(FAKE_AWS)
            os.environ["AWS_ENDPOINT_URL_EC2"] = standin.endpoint
            os.environ["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"] = standin.endpoint
            seed_demo_aws(standin.endpoint, env["AWS_REGION"])
            config = uvicorn.Config(
                build_app(
                    env,
                    cimd_resolver=client_hosts.resolve,
                    cimd_transport=client_hosts.transport(),
                ),
                log_config=None,
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=3,
                # Longer than any client keeps an idle connection (httpx: 5 s, uvicorn's own
                # default too), as a load balancer's idle timeout (60 s) is: otherwise the server
                # closes a connection just as a client reuses it, and the request is reset.
                timeout_keep_alive=KEEP_ALIVE_SECONDS,
            )
            server = uvicorn.Server(config)

            def ready() -> None:
                if options.env_file:
                    write_env_file(options.env_file, env)
                out.write(banner(env))
                out.flush()

            asyncio.run(_serve(server, sock, ready))
    finally:
        sock.close()
