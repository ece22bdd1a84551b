"""The authorization request as Cognito's ``/oauth2/authorize`` and ``/login`` validate it.

RFC 6749 §4.1.1 and §4.1.2.1 (which errors may be redirected), RFC 7636 §4.3 (S256 only, as
Cognito), RFC 8707 §2 (``resource``, only with resource binding), OIDC Core §3.1.2.1 (``nonce``,
``prompt``, ``login_hint``). Problems with the client or its redirect URI are never sent to the
redirect URI: they end on the domain's error page, as Cognito's do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from devstack.cognito import userpools
from devstack.cognito.state import Options
from devstack.cognito.userpools import AppClient, UserPool

_PROMPTS = frozenset({"none", "login", "select_account", "consent"})
# RFC 7636 §4.2: code_challenge = BASE64URL(SHA256(verifier)), 43 characters for S256.
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")


class AuthorizeError(Exception):
    """An authorization request Cognito refuses."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


class ErrorPage(AuthorizeError):
    """Refused before the redirect URI is trusted: shown on the domain's ``/error`` page."""


class ErrorRedirect(AuthorizeError):
    """Refused after client and redirect URI checked out: sent back to the redirect URI."""

    def __init__(self, error: str, description: str, redirect_uri: str, state: str | None) -> None:
        super().__init__(error, description)
        self.redirect_uri = redirect_uri
        self.state = state


@dataclass(frozen=True)
class AuthorizationRequest:
    """A valid authorization request, ready for the login form."""

    client: AppClient
    pool: UserPool
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str | None
    nonce: str | None
    resource: str | None
    login_hint: str | None
    prompt: frozenset[str]


def _single(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def parse_authorization_request(
    query: Iterable[tuple[str, str]], options: Options
) -> AuthorizationRequest:
    """Validate an authorization request in Cognito's order; raise ``AuthorizeError`` if refused."""
    params: dict[str, list[str]] = {}
    for name, value in query:
        params.setdefault(name, []).append(value)

    client_id = _single(params, "client_id")
    client = userpools.app_client(client_id) if client_id else None
    if client is None or len(params["client_id"]) > 1:
        raise ErrorPage("invalid_request", "unknown client_id")
    pool = userpools.user_pool(client.pool_id)
    if pool is None or pool.domain_prefix is None:
        raise ErrorPage("invalid_request", "the client's user pool has no domain")
    redirect_uri = _single(params, "redirect_uri")
    if (
        redirect_uri is None
        or len(params["redirect_uri"]) > 1
        or redirect_uri not in client.callback_urls
    ):
        raise ErrorPage("redirect_mismatch", "redirect_uri is not a callback URL of the client")

    state = _single(params, "state")

    def refuse(error: str, description: str) -> ErrorRedirect:
        return ErrorRedirect(error, description, redirect_uri, state)

    repeated = sorted(name for name, values in params.items() if len(values) > 1)
    if repeated:
        raise refuse("invalid_request", f"repeated parameter: {', '.join(repeated)}")
    if not client.oauth_enabled:
        raise refuse("unauthorized_client", "the client is not enabled for OAuth flows")

    response_type = _single(params, "response_type")
    if response_type is None:
        raise refuse("invalid_request", "response_type is required")
    if response_type != "code":
        # The implicit grant (response_type=token) is not emulated.
        raise refuse("unsupported_response_type", "only response_type=code is supported")
    if "code" not in client.oauth_flows:
        raise refuse("unauthorized_client", "the client may not use the code grant")

    code_challenge = _single(params, "code_challenge")
    method = _single(params, "code_challenge_method")
    if (code_challenge is None) != (method is None):
        raise refuse("invalid_request", "code_challenge and code_challenge_method go together")
    if method is not None and method != "S256":
        raise refuse("invalid_request", "code_challenge_method must be S256")
    if code_challenge is not None and not _S256_CHALLENGE.fullmatch(code_challenge):
        raise refuse("invalid_request", "malformed code_challenge")

    identity_provider = _single(params, "identity_provider")
    if not client.identity_providers:
        raise refuse("unauthorized_client", "the client has no identity provider")
    if identity_provider is not None and identity_provider not in client.identity_providers:
        raise refuse("invalid_request", "identity_provider is not enabled for the client")

    requested = (_single(params, "scope") or "").split()
    scopes = tuple(dict.fromkeys(requested)) if requested else client.scopes
    if not set(scopes) <= set(client.scopes):
        # Seen from Cognito: invalid scopes come back as invalid_request + invalid_scope.
        raise refuse("invalid_request", "invalid_scope")

    resource = _single(params, "resource")
    if resource is not None:
        if not options.resource_binding:
            raise refuse("invalid_request", "resource binding is not enabled for this user pool")
        if resource not in pool.resource_servers:
            raise refuse("invalid_target", "resource is not a resource server of this user pool")

    prompt = frozenset((_single(params, "prompt") or "").split())
    if not prompt <= _PROMPTS or ("none" in prompt and len(prompt) > 1):
        raise refuse("invalid_request", "unsupported prompt")

    return AuthorizationRequest(
        client=client,
        pool=pool,
        redirect_uri=redirect_uri,
        scopes=scopes,
        state=state,
        code_challenge=code_challenge,
        nonce=_single(params, "nonce"),
        resource=resource,
        login_hint=_single(params, "login_hint"),
        prompt=prompt,
    )
