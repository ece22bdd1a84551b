"""Small OAuth helpers for tests that build requests by hand on purpose (to break them)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, create_s256_code_challenge(verifier)


def authorize_url(
    issuer: str, client_id: str, redirect_uri: str, challenge: str, **extra: str
) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "client-state-123",
        **extra,
    }
    return f"{issuer}/authorize?{urlencode({k: v for k, v in params.items() if v is not None})}"


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def token_request(
    issuer: str, client: dict[str, Any], data: dict[str, str], *, basic: bool | None = None
) -> httpx.Response:
    """POST /token authenticating as the registered client would."""
    form = dict(data)
    auth = None
    method = client.get("token_endpoint_auth_method", "none")
    if basic if basic is not None else method == "client_secret_basic":
        auth = (client["client_id"], client["client_secret"])
    else:
        form["client_id"] = client["client_id"]
        if method == "client_secret_post":
            form["client_secret"] = client["client_secret"]
    return httpx.post(f"{issuer}/token", data=form, auth=auth, timeout=30)


def obtain_code(
    stack: Any, client: dict[str, Any], redirect_uri: str | None = None, **params: str
) -> tuple[str, str, dict[str, str]]:
    """Walk a person through authorize; return (wrapped code, verifier, callback query)."""
    verifier, challenge = pkce()
    redirect_uri = redirect_uri or client["redirect_uris"][0]
    url = authorize_url(stack.issuer, client["client_id"], redirect_uri, challenge, **params)
    callback = stack.person().sign_in(url)
    got = query(callback)
    assert "code" in got, callback
    return got["code"], verifier, got


def scopes_requested(authorization_url: str) -> set[str]:
    """The ``scope`` values of an authorization request URL (RFC 6749 §3.3)."""
    return set(parse_qs(urlsplit(authorization_url).query)["scope"][0].split())
