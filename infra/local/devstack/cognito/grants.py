"""Cognito's ``/oauth2/token`` and ``/oauth2/revoke``: client authentication, grants, revocation.

RFC 6749 §2.3.1 (client_secret_basic / client_secret_post), §4.1.3 (authorization code), §6
(refresh), RFC 7636 §4.6 (PKCE, S256), RFC 7009 (revocation, refresh tokens only, as Cognito).
Errors are ``OAuthError``s carrying the OAuth error code and HTTP status Cognito answers with.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from devstack.cognito import userpools
from devstack.cognito.state import StandInState
from devstack.cognito.tokens import SignIn, is_jwt, mint_access_token, mint_id_token
from devstack.cognito.userpools import AppClient

GRANT_TYPES = frozenset({"authorization_code", "refresh_token"})
# RFC 7636 §4.1: code_verifier = 43*128unreserved
_CODE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")


class OAuthError(Exception):
    """An OAuth error response: ``{"error": error}`` with an HTTP status."""

    def __init__(self, error: str, description: str | None = None, status: int = 400) -> None:
        super().__init__(error if description is None else f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        if self.description is None:
            return {"error": self.error}
        return {"error": self.error, "error_description": self.description}


def form_parameters(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The request's parameters; RFC 6749 §3.2: none may be sent twice."""
    params: dict[str, str] = {}
    for name, value in items:
        if name in params:
            raise OAuthError("invalid_request", f"repeated parameter: {name}")
        params[name] = value
    return params


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if authorization is None:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_client", "unsupported Authorization scheme")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "malformed Basic credentials") from None
    client_id, separator, secret = decoded.partition(":")
    if not separator:
        raise OAuthError("invalid_client", "malformed Basic credentials")
    # RFC 6749 §2.3.1 form-encodes both parts; most clients (and Cognito's examples) do not.
    return unquote(client_id), secret


def _secret_matches(expected: str, presented: str) -> bool:
    return any(
        hmac.compare_digest(expected.encode(), candidate.encode())
        for candidate in {presented, unquote(presented)}
    )


def authenticate_client(
    authorization: str | None, params: Mapping[str, str], failure_status: int = 400
) -> AppClient:
    """The calling client (RFC 6749 §2.3.1); a confidential client must present its secret.

    Cognito's token endpoint answers authentication failures with 400 (its documented error
    response); the revocation endpoint with 401. Callers pass the status they need.
    """
    try:
        basic = _basic_credentials(authorization)
    except OAuthError as error:
        error.status = failure_status
        raise
    if basic is not None and "client_secret" in params:
        raise OAuthError("invalid_request", "use one client authentication method")
    client_id = basic[0] if basic else params.get("client_id")
    presented = basic[1] if basic else params.get("client_secret")
    if basic is not None and params.get("client_id", client_id) != client_id:
        raise OAuthError("invalid_client", "client_id does not match", failure_status)
    client = userpools.app_client(client_id) if client_id else None
    if client is None:
        raise OAuthError("invalid_client", "unknown client", failure_status)
    if client.secret is None:
        if presented:
            raise OAuthError("invalid_client", "the client has no secret", failure_status)
    elif not presented or not _secret_matches(client.secret, presented):
        raise OAuthError("invalid_client", "client authentication failed", failure_status)
    return client


def _verify_pkce(code_challenge: str | None, verifier: str | None) -> None:
    if code_challenge is None:
        if verifier is not None:
            # RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt.
            raise OAuthError("invalid_grant", "no code_challenge was sent with this code")
        return
    if verifier is None:
        raise OAuthError("invalid_request", "code_verifier is required")
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    if not _CODE_VERIFIER.fullmatch(verifier) or not hmac.compare_digest(computed, code_challenge):
        raise OAuthError("invalid_grant", "code_verifier does not match code_challenge")


def _check_resource(params: Mapping[str, str], state: StandInState, bound: str | None) -> None:
    # Cognito takes ``resource`` at authorize only; here a token request may repeat the bound one.
    resource = params.get("resource")
    if resource is None:
        return
    if not state.options.resource_binding:
        raise OAuthError("invalid_request", "resource binding is not enabled for this user pool")
    if resource != bound:
        raise OAuthError("invalid_target", "resource differs from the authorization request")


def _token_response(
    state: StandInState, client: AppClient, sign_in: SignIn, refresh_token: str | None
) -> dict[str, Any]:
    user = userpools.pool_user(sign_in.pool_id, sign_in.username)
    if user is None or not user.enabled:
        raise OAuthError("invalid_grant", "the user no longer exists or is disabled")
    now = state.now()
    override = state.options.token_ttl_override
    access_lifetime = override or client.access_token_seconds
    access_token = mint_access_token(sign_in, user, now, access_lifetime)
    response: dict[str, Any] = {"access_token": access_token}
    if "openid" in sign_in.scopes:
        response["id_token"] = mint_id_token(
            sign_in, user, client, now, override or client.id_token_seconds, access_token
        )
    if refresh_token is not None:
        response["refresh_token"] = refresh_token
    response["expires_in"] = access_lifetime
    response["token_type"] = "Bearer"
    return response


def _require_code_flow(client: AppClient) -> None:
    if not client.oauth_enabled or "code" not in client.oauth_flows:
        raise OAuthError("unauthorized_client", "the client may not use the code grant")


def authorization_code_grant(
    state: StandInState, client: AppClient, params: Mapping[str, str]
) -> dict[str, Any]:
    """Exchange a code for tokens (RFC 6749 §4.1.3; exact redirect_uri; PKCE if challenged)."""
    _require_code_flow(client)
    code = params.get("code")
    if not code:
        raise OAuthError("invalid_request", "code is required")
    record = state.redeem_code(code)
    if record is None or record.sign_in.client_id != client.client_id:
        raise OAuthError("invalid_grant", "the code is unknown, used or expired")
    if params.get("redirect_uri") != record.redirect_uri:
        # Cognito reports a redirect_uri mismatch as unauthorized_client / invalid_redirect.
        raise OAuthError("unauthorized_client", "invalid_redirect")
    _verify_pkce(record.code_challenge, params.get("code_verifier"))
    _check_resource(params, state, record.sign_in.audience)
    refresh_token = state.issue_refresh_token(record.sign_in, client.refresh_token_seconds)
    return _token_response(state, client, record.sign_in, refresh_token)


def refresh_token_grant(
    state: StandInState, client: AppClient, params: Mapping[str, str]
) -> dict[str, Any]:
    """Refresh (RFC 6749 §6); with rotation, a new refresh token replaces the presented one."""
    _require_code_flow(client)
    token = params.get("refresh_token")
    if not token:
        raise OAuthError("invalid_request", "refresh_token is required")
    record = state.refresh_token(token, client.rotation_grace_seconds)
    if record is None or record.sign_in.client_id != client.client_id:
        raise OAuthError("invalid_grant", "Invalid Refresh Token")
    _check_resource(params, state, record.sign_in.audience)
    rotated = None
    if client.rotation_enabled:
        state.supersede_refresh_token(token)
        rotated = state.issue_refresh_token(record.sign_in, client.refresh_token_seconds)
    return _token_response(state, client, record.sign_in, rotated)


def token_endpoint(
    state: StandInState, authorization: str | None, params: Mapping[str, str]
) -> dict[str, Any]:
    """Handle one ``POST /oauth2/token`` request; raise ``OAuthError`` when refused."""
    grant_type = params.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required")
    if grant_type not in GRANT_TYPES:
        raise OAuthError("unsupported_grant_type")
    client = authenticate_client(authorization, params)
    if grant_type == "authorization_code":
        return authorization_code_grant(state, client, params)
    return refresh_token_grant(state, client, params)


def revocation_endpoint(
    state: StandInState, authorization: str | None, params: Mapping[str, str]
) -> None:
    """Handle one ``POST /oauth2/revoke`` request (RFC 7009 §2.1, refresh tokens only).

    Unknown tokens and tokens of other clients are answered with success and left alone, so the
    endpoint tells a caller nothing about tokens it does not hold.
    """
    client = authenticate_client(authorization, params, failure_status=401)
    token = params.get("token")
    if not token:
        raise OAuthError("invalid_request", "token is required")
    if not client.token_revocation:
        raise OAuthError("invalid_request", "token revocation is disabled for the client")
    record = state.peek_refresh_token(token)
    if record is None:
        if is_jwt(token):
            raise OAuthError("unsupported_token_type", "only refresh tokens can be revoked")
        return
    if record.sign_in.client_id == client.client_id:
        state.revoke_family(record.sign_in.origin_jti)
