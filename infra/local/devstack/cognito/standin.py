"""``CognitoStandIn``: the admin API, the issuer and the managed-login domain, in this process.

Like AWS, the stand-in has two hosts. The *endpoint* (``standin.endpoint``) is the admin API that
boto3 reaches through ``endpoint_url`` — moto behind ``AdminApi`` — and, as on
``cognito-idp.<region>.amazonaws.com``, the issuer: ``<endpoint>/<pool id>`` with its discovery
document and JWKS. The *domain* (``standin.domain``) is the managed login. Both are served from
background threads of the calling process so the emulator shares moto's in-process state.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import boto3
import uvicorn
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from devstack.cognito.admin import AdminApi
from devstack.cognito.faults import parse_fault
from devstack.cognito.issuer import IssuerDocuments
from devstack.cognito.managed_login import FaultInjection, managed_login_app
from devstack.cognito.state import DEFAULT_CLIENT_QUOTA, Options, StandInState

_START_TIMEOUT_SECONDS = 10.0
_JOIN_TIMEOUT_SECONDS = 5.0
_POLL_SECONDS = 0.005
# Any credentials work against moto; boto3 only needs some.
_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass(frozen=True)
class SeededPool:
    """A user pool made by ``CognitoStandIn.seed`` and the URLs a façade needs for it."""

    pool_id: str
    region: str
    #: ``iss`` of its tokens and base of its discovery document (``COGNITO_ISSUER``)
    issuer: str
    #: ``JWKS_URL``
    jwks_url: str
    #: managed-login base URL (``COGNITO_DOMAIN``)
    domain: str
    domain_prefix: str


class _QuietRequestHandler(MotoRequestHandler):
    """moto's request handler without werkzeug's per-request lines on stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class CognitoStandIn:
    """A local Amazon Cognito: moto's admin API held to Cognito's rules, plus managed login.

    ``port`` / ``domain_port`` of 0 pick free ports. ``clock`` (seconds since the epoch) drives
    token times and code expiry, so tests can move time instead of sleeping.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        domain_port: int = 0,
        region: str = "us-east-1",
        *,
        resource_binding: bool = False,
        token_ttl_override: int | None = None,
        client_quota: int = DEFAULT_CLIENT_QUOTA,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.region = region
        self._ports = (port, domain_port)
        self.state = StandInState(
            options=Options(
                resource_binding=resource_binding,
                token_ttl_override=token_ttl_override,
                client_quota=client_quota,
            ),
            clock=clock,
        )
        self._admin_server: BaseWSGIServer | None = None
        self._domain_server: uvicorn.Server | None = None
        self._domain_app: FaultInjection | None = None
        self._threads: list[threading.Thread] = []
        self._stopped = False
        self._idp: Any = None

    @property
    def endpoint(self) -> str:
        """Admin API and issuer base URL: boto3's ``endpoint_url`` (``COGNITO_ENDPOINT``)."""
        return self.state.issuer_base

    @property
    def domain(self) -> str:
        """The managed-login base URL shared by every seeded pool (``COGNITO_DOMAIN``)."""
        return self.state.domain_base

    @property
    def running(self) -> bool:
        """Whether a server thread is still alive."""
        return any(thread.is_alive() for thread in self._threads)

    def start(self) -> Self:
        """Serve both hosts from daemon threads; return once both accept connections."""
        if self._threads:
            raise RuntimeError("the stand-in is already started")
        admin_port, domain_port = self._ports
        moto_app = DomainDispatcherApplication(create_backend_app)
        admin_app = IssuerDocuments(AdminApi(moto_app, self.state), self.state)
        self._admin_server = make_server(
            self.host, admin_port, admin_app, threaded=True, request_handler=_QuietRequestHandler
        )
        self.state.issuer_base = f"http://{self._url_host()}:{self._admin_server.server_port}"

        domain_socket = socket.create_server((self.host, domain_port))
        # Accepted connections inherit this; without it Nagle's algorithm and delayed ACKs add
        # 40 ms to every keep-alive request (uvicorn writes headers and body separately).
        domain_socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.state.domain_base = f"http://{self._url_host()}:{domain_socket.getsockname()[1]}"
        self._domain_app = managed_login_app(self.state)
        config = uvicorn.Config(
            self._domain_app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=_JOIN_TIMEOUT_SECONDS,
        )
        self._domain_server = uvicorn.Server(config)

        admin_server, domain_server = self._admin_server, self._domain_server
        self._threads = [
            threading.Thread(
                target=admin_server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="cognito-standin-admin",
                daemon=True,
            ),
            threading.Thread(
                target=domain_server.run,
                kwargs={"sockets": [domain_socket]},
                name="cognito-standin-domain",
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not domain_server.started:
            if time.monotonic() > deadline or not self._threads[1].is_alive():
                self.stop()
                raise RuntimeError("the managed-login server did not start")
            time.sleep(_POLL_SECONDS)
        return self

    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def stop(self) -> None:
        """Stop both servers and end pending fault delays; safe to call more than once."""
        if self._stopped:
            return
        self._stopped = True
        self.state.faults.stopping.set()
        if self._domain_app is not None:
            self._domain_app.release_delays()
        if self._domain_server is not None:
            self._domain_server.should_exit = True
        if self._admin_server is not None and self._threads:
            self._admin_server.shutdown()
        for thread in self._threads:
            thread.join(_JOIN_TIMEOUT_SECONDS)
        if self._admin_server is not None:
            self._admin_server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def cognito_idp(self) -> Any:
        """A boto3 ``cognito-idp`` client for the admin API (made once, then reused)."""
        if self._idp is None:
            self._idp = boto3.client(
                "cognito-idp", endpoint_url=self.endpoint, region_name=self.region, **_CREDENTIALS
            )
        return self._idp

    def seed(
        self,
        pool_name: str = "authproxy-dev",
        domain_prefix: str | None = None,
        resources: Iterable[tuple[str, Sequence[str] | Mapping[str, str]]] = (),
        users: Iterable[tuple[str, str, Sequence[str]]] = (),
    ) -> SeededPool:
        """Create a pool with a domain, resource servers and users, through the admin API.

        ``resources`` are (identifier, scopes): the scopes are names, or names mapped to the
        ScopeDescription each carries (a bare name describes itself). ``users`` are (username,
        password, groups), each confirmed with a permanent password and the email
        ``<username>@example.com`` (verified). The pool's password policy asks only for 8
        characters.
        """
        idp = self.cognito_idp()
        pool_id = idp.create_user_pool(
            PoolName=pool_name,
            Policies={
                "PasswordPolicy": {
                    "MinimumLength": 8,
                    "RequireUppercase": False,
                    "RequireLowercase": False,
                    "RequireNumbers": False,
                    "RequireSymbols": False,
                }
            },
        )["UserPool"]["Id"]
        prefix = domain_prefix or f"{pool_name}-{secrets.token_hex(4)}"
        idp.create_user_pool_domain(UserPoolId=pool_id, Domain=prefix)
        for identifier, scopes in resources:
            described = scopes if isinstance(scopes, Mapping) else {name: name for name in scopes}
            idp.create_resource_server(
                UserPoolId=pool_id,
                Identifier=identifier,
                Name=identifier,
                Scopes=[{"ScopeName": n, "ScopeDescription": d} for n, d in described.items()],
            )
        groups: set[str] = set()
        for username, password, user_groups in users:
            idp.admin_create_user(
                UserPoolId=pool_id,
                Username=username,
                MessageAction="SUPPRESS",
                UserAttributes=[
                    {"Name": "email", "Value": f"{username}@example.com"},
                    {"Name": "email_verified", "Value": "true"},
                ],
            )
            idp.admin_set_user_password(
                UserPoolId=pool_id, Username=username, Password=password, Permanent=True
            )
            for group in user_groups:
                if group not in groups:
                    idp.create_group(UserPoolId=pool_id, GroupName=group)
                    groups.add(group)
                idp.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)
        issuer = self.state.issuer(pool_id)
        return SeededPool(
            pool_id=pool_id,
            region=self.region,
            issuer=issuer,
            jwks_url=f"{issuer}/.well-known/jwks.json",
            domain=self.domain,
            domain_prefix=prefix,
        )

    def inject_fault(self, **fault: Any) -> None:
        """Add a fault, as ``POST <domain>/_standin/faults`` does (see ``faults.parse_fault``)."""
        self.state.faults.add(parse_fault(fault))

    def clear_faults(self) -> None:
        """Remove every fault, as ``DELETE <domain>/_standin/faults`` does."""
        self.state.faults.clear()
