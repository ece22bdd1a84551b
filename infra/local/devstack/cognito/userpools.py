"""Adapter over moto's in-process ``cognito-idp`` state: user pools, app clients, users, the key.

Everything else in the stand-in works on the plain, frozen records this module returns; it is the
only module that reads moto's models, and the only one that writes to them (the admin layer's
Cognito-faithful corrections of ``CreateUserPoolClient`` / ``UpdateUserPoolClient``).
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import RSAKey
from moto.cognitoidp.models import (
    CognitoIdpUserPool,
    CognitoIdpUserPoolClient,
    UserStatus,
    cognitoidp_backends,
)
from moto.utilities.utils import load_resource

# Cognito's lifetime units and the app-client defaults (CreateUserPoolClient API reference).
UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
DEFAULT_UNITS = {"AccessToken": "hours", "IdToken": "hours", "RefreshToken": "days"}
_DEFAULT_VALIDITY = {"AccessToken": 1, "IdToken": 1, "RefreshToken": 30}
_VALIDITY_FIELDS = {
    "AccessToken": "AccessTokenValidity",
    "IdToken": "IdTokenValidity",
    "RefreshToken": "RefreshTokenValidity",
}


@dataclass(frozen=True)
class UserPool:
    """A user pool as the managed-login endpoints see it."""

    pool_id: str
    domain_prefix: str | None
    #: resource-server identifier → its scope names (without the identifier prefix)
    resource_servers: Mapping[str, tuple[str, ...]]
    identity_providers: tuple[str, ...]

    def custom_scopes(self) -> frozenset[str]:
        """Every ``<identifier>/<scope>`` the pool's resource servers define."""
        return frozenset(
            f"{identifier}/{name}"
            for identifier, names in self.resource_servers.items()
            for name in names
        )


@dataclass(frozen=True)
class AppClient:
    """An app client's OAuth settings, with Cognito's defaults applied."""

    client_id: str
    pool_id: str
    name: str
    secret: str | None
    oauth_enabled: bool
    oauth_flows: frozenset[str]
    scopes: tuple[str, ...]
    callback_urls: tuple[str, ...]
    logout_urls: tuple[str, ...]
    identity_providers: tuple[str, ...]
    read_attributes: tuple[str, ...] | None
    access_token_seconds: int
    id_token_seconds: int
    refresh_token_seconds: int
    token_revocation: bool
    rotation_enabled: bool
    rotation_grace_seconds: int

    @property
    def confidential(self) -> bool:
        return self.secret is not None


@dataclass(frozen=True)
class PoolUser:
    """A user of a pool: identity, status and attributes."""

    pool_id: str
    username: str
    sub: str
    enabled: bool
    confirmed: bool
    groups: tuple[str, ...]
    attributes: Mapping[str, str]


@functools.cache
def signing_key() -> RSAKey:
    """moto's own token-signing key (``moto/cognitoidp/resources/jwks-private.json``)."""
    return RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))


def _pools() -> Iterator[CognitoIdpUserPool]:
    for account_id in list(cognitoidp_backends.keys()):
        for backend in list(cognitoidp_backends[account_id].values()):
            yield from list(backend.user_pools.values())


def _find_pool(pool_id: str) -> CognitoIdpUserPool | None:
    # A pool id starts with its region; pools may live in any account moto has seen.
    region = pool_id.split("_", 1)[0]
    for account_id in list(cognitoidp_backends.keys()):
        regional = cognitoidp_backends[account_id]
        if region in regional:
            pool = regional[region].user_pools.get(pool_id)
            if pool is not None:
                return pool
    return None


def _find_client(client_id: str) -> CognitoIdpUserPoolClient | None:
    for pool in _pools():
        client = pool.clients.get(client_id)
        if client is not None:
            return client
    return None


def user_pool(pool_id: str) -> UserPool | None:
    """The pool with this id, or ``None``."""
    pool = _find_pool(pool_id)
    if pool is None:
        return None
    domain = pool.domain
    return UserPool(
        pool_id=pool.id,
        domain_prefix=domain.domain if domain else None,
        resource_servers={
            server.identifier: tuple(scope["ScopeName"] for scope in server.scopes or ())
            for server in list(pool.resource_servers.values())
        },
        identity_providers=tuple(pool.identity_providers),
    )


def _lifetime(config: Mapping[str, Any], token: str) -> int:
    units = config.get("TokenValidityUnits") or {}
    unit = units.get(token) or DEFAULT_UNITS[token]
    # 0 (or absent) means the default, which is expressed in the default unit.
    value = config.get(_VALIDITY_FIELDS[token])
    if not value:
        return _DEFAULT_VALIDITY[token] * UNIT_SECONDS[DEFAULT_UNITS[token]]
    return int(value) * UNIT_SECONDS[unit]


def _client_secret(client: CognitoIdpUserPoolClient) -> str | None:
    return client.secret if client.generate_secret else None


def app_client(client_id: str) -> AppClient | None:
    """The app client with this id in any pool, or ``None``."""
    client = _find_client(client_id)
    if client is None:
        return None
    config = client.extended_config
    rotation = config.get("RefreshTokenRotation") or {}
    return AppClient(
        client_id=client.id,
        pool_id=client.user_pool_id,
        name=config.get("ClientName", ""),
        secret=_client_secret(client),
        oauth_enabled=bool(config.get("AllowedOAuthFlowsUserPoolClient")),
        oauth_flows=frozenset(config.get("AllowedOAuthFlows") or ()),
        scopes=tuple(config.get("AllowedOAuthScopes") or ()),
        callback_urls=tuple(config.get("CallbackURLs") or ()),
        logout_urls=tuple(config.get("LogoutURLs") or ()),
        identity_providers=tuple(config.get("SupportedIdentityProviders") or ()),
        read_attributes=tuple(config["ReadAttributes"]) if config.get("ReadAttributes") else None,
        access_token_seconds=_lifetime(config, "AccessToken"),
        id_token_seconds=_lifetime(config, "IdToken"),
        refresh_token_seconds=_lifetime(config, "RefreshToken"),
        token_revocation=config.get("EnableTokenRevocation", True) is not False,
        rotation_enabled=rotation.get("Feature") == "ENABLED",
        rotation_grace_seconds=int(rotation.get("RetryGracePeriodSeconds") or 0),
    )


def domain_taken(domain: str) -> bool:
    """Whether a managed-login domain prefix is already in use in any pool."""
    return any(
        domain in cognitoidp_backends[account_id][region].user_pool_domains
        for account_id in list(cognitoidp_backends.keys())
        for region in list(cognitoidp_backends[account_id].keys())
    )


def client_count(pool_id: str) -> int:
    """How many app clients the pool has (for the app-client quota)."""
    pool = _find_pool(pool_id)
    return len(pool.clients) if pool else 0


def existing_client(pool_id: str, client_id: str) -> AppClient | None:
    """The app client if it belongs to this pool."""
    client = app_client(client_id)
    return client if client is not None and client.pool_id == pool_id else None


def reset_client_settings(pool_id: str, client_id: str) -> None:
    """Put an app client's settings back to their defaults, keeping its name.

    Cognito's ``UpdateUserPoolClient`` replaces the whole configuration (omitted fields return
    to their defaults); moto merges the update into the old one, so the admin layer calls this
    right before moto applies an update.
    """
    pool = _find_pool(pool_id)
    client = pool.clients.get(client_id) if pool else None
    if client is None:
        return
    defaults = CognitoIdpUserPoolClient(pool_id, False, None).extended_config
    defaults["ClientName"] = client.extended_config.get("ClientName")
    client.extended_config = defaults


def set_client_secret(pool_id: str, client_id: str, secret: str) -> None:
    """Give a newly created client the secret Cognito would hold (generated or supplied)."""
    pool = _find_pool(pool_id)
    client = pool.clients.get(client_id) if pool else None
    if client is None:
        return
    client.secret = secret
    client.generate_secret = True
    # moto keeps a supplied ClientSecret among the settings; Cognito reports it only once.
    client.extended_config.pop("ClientSecret", None)


def _user(pool: CognitoIdpUserPool, username: str) -> PoolUser | None:
    # _get_user resolves usernames and, where the pool has them, email/phone username attributes.
    found = pool._get_user(username)
    if found is None:
        return None
    attributes = {attribute["Name"]: attribute["Value"] for attribute in found.attributes}
    return PoolUser(
        pool_id=pool.id,
        username=found.username,
        sub=found.id,
        enabled=bool(found.enabled),
        confirmed=found.status == UserStatus.CONFIRMED,
        groups=tuple(sorted(group.group_name for group in found.groups)),
        attributes=attributes,
    )


def pool_user(pool_id: str, username: str) -> PoolUser | None:
    """The user of the pool with this username (or alias), or ``None``."""
    pool = _find_pool(pool_id)
    return _user(pool, username) if pool else None


def check_password(pool_id: str, username: str, password: str) -> PoolUser | None:
    """The user if the username and password match an enabled, confirmed user."""
    pool = _find_pool(pool_id)
    if pool is None:
        return None
    found = pool._get_user(username)
    if (
        found is None
        or found.password is None
        or not hmac.compare_digest(found.password.encode(), password.encode())
    ):
        return None
    user = _user(pool, username)
    return user if user is not None and user.enabled and user.confirmed else None
