"""What the attack suite (``tests/attacks``) checks again and again: a refusal is a page and never
a redirect, an HTML page refuses framing, and access tokens forged the way an attacker would."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from joserfc.jwk import RSAKey

from devstack.cognito.userpools import signing_key

from .stack import Stack


def assert_refused_with_a_page(response: httpx.Response, status: int = 400) -> None:
    """RFC 9700 §4.1, RFC 6749 §4.1.2.1: an untrusted redirect is never followed; the person
    gets a page from the façade instead."""
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert "location" not in response.headers, response.headers["location"]
    assert response.headers["content-type"].startswith("text/html")
    assert_refuses_framing(response)


def assert_refuses_framing(response: httpx.Response) -> None:
    """MCP security best practices and RFC 9700 §4.16 (clickjacking): no HTML page of the
    façade may be framed, by CSP ``frame-ancestors 'none'`` and, for older browsers,
    ``X-Frame-Options: DENY``."""
    assert "frame-ancestors 'none'" in response.headers.get("content-security-policy", ""), (
        response.url
    )
    assert response.headers.get("x-frame-options") == "DENY", response.url


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signing_input(header: dict[str, Any], claims: dict[str, Any] | str) -> str:
    """RFC 7515 §5.1: BASE64URL(header) '.' BASE64URL(payload), built by hand so that a test can
    put in it whatever an attacker would (a library's encoder refuses much of it)."""
    payload = claims if isinstance(claims, str) else json.dumps(claims)
    return f"{b64url(json.dumps(header).encode())}.{b64url(payload.encode())}"


def rs256(header: dict[str, Any], claims: dict[str, Any] | str, key: RSAKey) -> str:
    """A compact JWS with a genuine RS256 signature by ``key`` over whatever header and payload."""
    signed = signing_input(header, claims)
    signature = key.private_key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signed}.{b64url(signature)}"


def cognito_key() -> RSAKey:
    """The key the Cognito stand-in signs every access token with (moto's), so a test can mint a
    token exactly as Cognito would and then change one thing about it."""
    return signing_key()


def access_claims(stack: Stack, subject: str = "attack-subject", **changes: Any) -> dict[str, Any]:
    """Claims of a Cognito access token for the stack's MCP server (None removes a claim)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": stack["COGNITO_ISSUER"],
        "client_id": "attackbackingclient",
        "origin_jti": str(uuid.uuid4()),
        "token_use": "access",
        "scope": f"{stack.mcp_url}/read",
        "auth_time": now,
        "iat": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
        "username": subject,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def cognito_token(stack: Stack, header: dict[str, Any] | None = None, **changes: Any) -> str:
    """An access token signed with the stand-in's own key: valid unless ``header`` or
    ``changes`` break it."""
    key = cognito_key()
    return rs256(
        {"alg": "RS256", "kid": key.kid, **(header or {})}, access_claims(stack, **changes), key
    )
