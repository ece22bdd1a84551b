"""One authorization-code grant with PKCE (RFC 6749 §4.1, RFC 7636) as a registered client runs
it: authorize, a person signs in, the redirect arrives at the client's redirect URI, the code is
exchanged. For tests of how particular clients use their redirect URIs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .oauth import authorize_url, pkce, query, token_request
from .stack import Stack


@dataclass
class Grant:
    redirect: str  # where the browser was sent, query included
    pages: list[str]  # the pages the person saw on the way
    tokens: dict[str, Any]

    @property
    def redirected_to(self) -> str:
        return self.redirect.split("?")[0]


def authorization_code_grant(
    stack: Stack, client: dict[str, Any], redirect_uri: str, **params: str
) -> Grant:
    """Run the grant for ``client`` with ``redirect_uri``; ``params`` go on the authorization
    request, and ``resource`` on the token request too (RFC 8707 §2)."""
    verifier, challenge = pkce()
    person = stack.person()
    redirect = person.sign_in(
        authorize_url(stack.issuer, client["client_id"], redirect_uri, challenge, **params)
    )
    answer = query(redirect)
    assert "code" in answer, redirect
    exchange = {
        "grant_type": "authorization_code",
        "code": answer["code"],
        "code_verifier": verifier,
        "redirect_uri": redirect_uri,
    }
    if "resource" in params:
        exchange["resource"] = params["resource"]
    response = token_request(stack.issuer, client, exchange)
    assert response.status_code == 200, response.text
    return Grant(redirect, person.pages_seen, dict(response.json()))
