"""The log audit: both deployables at DEBUG in ``authproxy dev``, every kind of flow run through
them — registration and RFC 7592 management, consent, a failed and a good login, the code
exchange (once while Cognito throttles), refresh, an MCP session with a tool call, revocation —
and then every secret the run produced is looked for in everything the process wrote to its log.
None may appear (README "Logs"; MCP security best practices: tokens never logged).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from authproxy.sealing import Purpose, Sealer
from support.mcp_http import initialize_params, open_session, result, rpc
from support.oauth import obtain_code, token_request
from support.person import Person, SignInError
from support.stack import Stack, dev_stack

REDIRECT = "http://localhost:8409/cb"
WRONG_PASSWORD = "not-the-password-7d1c9e"


def exchange(stack: Stack, client: dict, code: str, verifier: str) -> httpx.Response:
    return token_request(
        stack.issuer,
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT,
        },
    )


def every_flow(stack: Stack) -> dict[str, str]:
    """Run the flows; return every secret they produced, by name."""
    found: dict[str, str] = {"password": stack["DEMO_PASSWORD"], "wrong password": WRONG_PASSWORD}
    client = stack.register(
        client_name="log audit",
        redirect_uris=[REDIRECT],
        token_endpoint_auth_method="client_secret_post",
    )
    found["client secret"] = client["client_secret"]
    found["registration access token"] = client["registration_access_token"]
    bearer = {"Authorization": f"Bearer {client['registration_access_token']}"}
    read = httpx.get(client["registration_client_uri"], headers=bearer).json()
    found["reissued registration access token"] = read["registration_access_token"]

    with pytest.raises(SignInError):
        Person(stack["DEMO_USER"], WRONG_PASSWORD, (stack.issuer, stack["COGNITO_DOMAIN"])).sign_in(
            f"{stack.issuer}/authorize?response_type=code&client_id={client['client_id']}"
            f"&redirect_uri={REDIRECT}&code_challenge={'c' * 43}&code_challenge_method=S256"
        )

    code, verifier, callback = obtain_code(stack, client, scope="openid")
    found |= {"code": code, "verifier": verifier, "state": callback["state"]}
    sealer = Sealer(stack["AUTHPROXY_SECRET_KEY"])
    found["Cognito's code"] = sealer.open(Purpose.CODE, code)["code"]
    faults = f"{stack['COGNITO_DOMAIN']}/_standin/faults"
    httpx.post(faults, json={"path": "/oauth2/token", "kind": "throttle"})
    assert exchange(stack, client, code, verifier).status_code == 503
    tokens = exchange(stack, client, code, verifier).json()
    found |= {f"{kind} token": tokens[f"{kind}_token"] for kind in ("access", "id", "refresh")}
    found["Cognito's refresh token"] = sealer.open(Purpose.REFRESH, tokens["refresh_token"])[
        "refresh_token"
    ]
    refreshed = token_request(
        stack.issuer,
        client,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    ).json()
    found["refreshed access token"] = refreshed["access_token"]
    found["rotated refresh token"] = refreshed["refresh_token"]

    _, session = open_session(
        stack, tokens["access_token"], initialize_params("2025-06-18", "audit", "0")
    )
    found["MCP session id"] = session["Mcp-Session-Id"]
    called = result(rpc(stack, "tools/call", {"name": "whoami", "arguments": {}}, session))
    assert called["isError"] is False

    revoked = httpx.post(
        f"{stack.issuer}/revoke",
        data={
            "token": refreshed["refresh_token"],
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    )
    assert revoked.status_code == 200
    found |= backing_client_secrets(stack)
    return found


def backing_client_secrets(stack: Stack) -> dict[str, str]:
    """The Cognito app clients' secrets, which only the façade should ever hold."""
    idp: Any = stack.aws("cognito-idp")
    pool = stack["USER_POOL_ID"]
    clients = idp.list_user_pool_clients(UserPoolId=pool, MaxResults=60)["UserPoolClients"]
    return {
        f"backing client secret {c['ClientId']}": idp.describe_user_pool_client(
            UserPoolId=pool, ClientId=c["ClientId"]
        )["UserPoolClient"]["ClientSecret"]
        for c in clients
    }


def test_debug_logs_of_both_deployables_hold_no_secret() -> None:
    output: list[str] = []
    with dev_stack("--log-level", "debug", output=output) as stack:
        produced = every_flow(stack)
        produced |= {k: stack[k] for k in ("AUTHPROXY_SECRET_KEY", "MCP_SESSION_SECRET")}
    logs = "\n".join(output)
    # The audit read something: the deployables' own DEBUG detail and access lines are there.
    assert '"logger": "authproxy.access"' in logs
    assert '"logger": "mcpserver.access"' in logs
    leaked = sorted(name for name, value in produced.items() if appears(value, logs))
    assert not leaked, f"in the DEBUG logs of authproxy dev: {leaked}"


WINDOW = 16


def appears(secret: str, logs: str) -> bool:
    """Whether any 16 consecutive characters of ``secret`` are in ``logs``: a handler that wraps
    long lines (rich's, at a console's width) splits a secret, yet leaks it all the same. The
    secrets are random, so 16 of their characters match nothing else by chance."""
    if len(secret) <= WINDOW:
        return secret in logs
    return any(secret[i : i + WINDOW] in logs for i in range(0, len(secret) - WINDOW + 1, 4))
