"""The gateway inside the local stack (``authproxy dev --upstream`` run in this process), in front
of upstreams the tests control: one that records every request it receives, one that accepts
connections and never answers, one that refuses them. Tokens are obtained the ordinary way: a
registered client, a person signing in at the façade, the code exchanged."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import boto3
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from devstack.stack import FAKE_AWS
from support.oauth import authorize_url, pkce, query, token_request
from support.person import Person
from support.serving import bound_socket, serve
from support.stack import Stack, local_stack

UPSTREAM_SESSION = "upstream-session-1"
REDIRECT_URI = "http://127.0.0.1:53698/callback"
# Long enough never to fire in a healthy test; the hanging upstream makes it fire.
RESPONSE_TIMEOUT = "2"
MAX_BODY = 8192


@dataclass
class Recorder:
    """An upstream MCP server that records each request (method, headers, body) and answers as a
    Streamable HTTP server would: a session id on ``initialize``, SSE for ``stream`` calls and
    ``GET``, ``202`` for notifications, ``204`` for ``DELETE``. Its SSE streams send one event,
    then wait for ``release`` before the second, which shows the gateway does not buffer."""

    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def headers_seen(self) -> list[dict[str, str]]:
        return [headers for _, headers, _ in self.requests]

    async def _events(self) -> AsyncIterator[bytes]:
        yield b'id: 1\nevent: message\ndata: {"jsonrpc":"2.0","method":"first"}\n\n'
        await anyio.to_thread.run_sync(self.release.wait, 60)
        yield b'id: 2\nevent: message\ndata: {"jsonrpc":"2.0","id":7,"result":{}}\n\n'

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await request.body()
        self.requests.append((request.method, dict(request.headers), body))
        response: Response
        if request.method == "DELETE":
            response = Response(status_code=204)
        elif request.method == "GET":
            response = StreamingResponse(self._events(), media_type="text/event-stream")
        else:
            message = json.loads(body)
            if "id" not in message:
                response = Response(status_code=202)
            elif message.get("method") == "stream":
                response = StreamingResponse(self._events(), media_type="text/event-stream")
            elif message.get("method") == "bad-session":
                # Not visible ASCII: a broken upstream (Streamable HTTP, "Session Management").
                response = JSONResponse({}, headers={"mcp-session-id": "session id é"})
            else:
                response = JSONResponse(
                    {"jsonrpc": "2.0", "id": message["id"], "result": {"ok": True}},
                    headers={
                        "mcp-session-id": UPSTREAM_SESSION,
                        # Neither may reach the client: the gateway is the resource it signs in
                        # for, and shares its origin with the façade.
                        "www-authenticate": 'Bearer realm="upstream"',
                        "set-cookie": "upstream=1; Path=/",
                    },
                )
        await response(scope, receive, send)


@dataclass
class Gateway:
    stack: Stack
    recorder: Recorder

    def url(self, name: str) -> str:
        return self.stack[f"MCP_URL_{name.upper()}"]

    def person(self, username: str | None = None) -> Person:
        if username is None:
            return self.stack.person()
        return Person(username, f"{username}-Passw0rd!", self.stack.person().own_origins)

    def add_user(self, username: str) -> None:
        cognito = boto3.client(
            "cognito-idp",
            endpoint_url=self.stack["COGNITO_ENDPOINT"],
            region_name=self.stack["AWS_REGION"],
            aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        )
        pool = self.stack["USER_POOL_ID"]
        cognito.admin_create_user(UserPoolId=pool, Username=username, MessageAction="SUPPRESS")
        cognito.admin_set_user_password(
            UserPoolId=pool, Username=username, Password=f"{username}-Passw0rd!", Permanent=True
        )

    def token(
        self, name: str, scopes: tuple[str, ...] = ("read",), person: Person | None = None
    ) -> str:
        """An access token for upstream ``name`` (RFC 8707 ``resource``) with ``scopes``."""
        resource = self.url(name)
        client = self.stack.register(
            client_name=f"gateway test {name}",
            redirect_uris=[REDIRECT_URI],
            token_endpoint_auth_method="none",
            grant_types=["authorization_code"],
        )
        verifier, challenge = pkce()
        scope = " ".join(f"{resource}/{s}" for s in scopes)
        url = authorize_url(
            self.stack.issuer,
            client["client_id"],
            REDIRECT_URI,
            challenge,
            scope=scope,
            resource=resource,
        )
        answer = query((person or self.person()).sign_in(url))
        exchange = {
            "grant_type": "authorization_code",
            "code": answer["code"],
            "code_verifier": verifier,
            "redirect_uri": REDIRECT_URI,
            "resource": resource,
        }
        response = token_request(self.stack.issuer, client, exchange)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


def with_tool_scopes(env: dict[str, str]) -> dict[str, str]:
    """The ``rec`` upstream's ``danger`` tool needs ``write``: per-tool step-up."""
    resources: list[dict[str, Any]] = json.loads(env["AUTHPROXY_RESOURCES"])
    for resource in resources:
        if resource["resource"].endswith("/mcp/rec"):
            resource["tool_scopes"] = {"danger": ["write"]}
    return {**env, "AUTHPROXY_RESOURCES": json.dumps(resources)}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    recorder = Recorder()
    hanging = bound_socket()
    hanging.listen(8)  # connections complete in the backlog; nothing ever answers them
    refusing = bound_socket()  # bound, not listening: connections are refused
    with serve(Starlette(routes=[Mount("/", app=recorder)]), bound_socket()) as origin:
        upstreams = (
            ("rec", f"{origin}/mcp"),
            ("other", f"{origin}/mcp"),
            ("hang", "http://{}:{}/mcp".format(*hanging.getsockname())),
            ("down", "http://{}:{}/mcp".format(*refusing.getsockname())),
        )
        try:
            with local_stack(
                tmp_path_factory.mktemp("gateway"),
                env={
                    "GATEWAY_RESPONSE_TIMEOUT": RESPONSE_TIMEOUT,
                    "GATEWAY_MAX_BODY_BYTES": str(MAX_BODY),
                },
                adjust=with_tool_scopes,
                upstreams=upstreams,
            ) as stack:
                yield Gateway(stack, recorder)
        finally:
            recorder.release.set()
            for sock in (hanging, refusing):
                sock.close()
