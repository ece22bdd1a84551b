"""Logs are JSON with a request id and never contain a token, code, verifier or secret, through a
whole sign-in: registration, consent, login, code exchange, refresh and revocation."""

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from servicekit.logs import JSONFormatter
from support.oauth import obtain_code, token_request
from support.stack import Stack, local_stack

REDIRECT = "http://localhost:8300/callback"


@contextlib.contextmanager
def captured() -> Iterator[io.StringIO]:
    """Also write the deployables' records here (they configure their own handlers first)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    loggers = [logging.getLogger(name) for name in ("authproxy", "mcpserver")]
    for logger in loggers:
        logger.addHandler(handler)
    yield stream
    for logger in loggers:
        logger.removeHandler(handler)


def test_a_whole_sign_in_logs_no_secret(tmp_path: Path) -> None:
    # The handler stays until the server has stopped: the access line of the last request is
    # written after its response went out. It is added inside, because the app's start-up
    # replaces the loggers' handlers.
    with contextlib.ExitStack() as later, local_stack(tmp_path) as stack:
        logs = later.enter_context(captured())
        secrets = sign_in_everything(stack)
    lines = logs.getvalue().splitlines()
    assert len(lines) >= 9  # two registration events and seven requests
    entries = [json.loads(line) for line in lines]
    assert all(e["request_id"] != "-" for e in entries if e["logger"] == "authproxy.access")
    everything = logs.getvalue()
    for name, value in secrets.items():
        assert value not in everything, f"the {name} appears in the logs"


def sign_in_everything(stack: Stack) -> dict[str, str]:
    client = stack.register(
        client_name="log test",
        redirect_uris=[REDIRECT],
        token_endpoint_auth_method="client_secret_post",
    )
    code, verifier, callback = obtain_code(stack, client, scope="openid")
    tokens = token_request(
        stack.issuer,
        client,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT,
        },
    ).json()
    refreshed = token_request(
        stack.issuer,
        client,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    ).json()
    token_request(stack.issuer, client, {"grant_type": "refresh_token", "refresh_token": "x"})
    return {
        "client secret": client["client_secret"],
        "registration access token": client["registration_access_token"],
        "code": code,
        "code verifier": verifier,
        "access token": tokens["access_token"],
        "refresh token": tokens["refresh_token"],
        "id token": tokens["id_token"],
        "refreshed access token": refreshed["access_token"],
        "password": stack["DEMO_PASSWORD"],
        "state": callback["state"],
    }
