"""The façade's one settings object, read from the environment and validated at start-up.

Every variable is documented in the README's configuration reference. A missing or malformed value
raises :class:`SettingsError` naming the variable, so a misconfigured Lambda fails its first
invocation with a readable message instead of a 500 on the first user.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

ClientPolicy = Literal["pooled", "dedicated"]

_POOL_ID = re.compile(r"^(?P<region>[a-z]{2}(-[a-z]+)+-\d)_[0-9A-Za-z]+$")
_SCOPE_NAME = re.compile(r"^[\x21\x23-\x2E\x30-\x5B\x5D-\x7E]{1,256}$")  # Cognito: no '/', '"', '\'
MIN_SECRET_LENGTH = 32


class SettingsError(ValueError):
    """A configuration variable is missing or malformed; the message names it."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class ProtectedResource:
    """One MCP server the façade fronts (RFC 8707 resource, design D5).

    ``uri`` is the canonical MCP URL and the identifier of a Cognito resource server, so the Cognito
    scope for a name ``read`` is ``<uri>/read``.
    """

    uri: str
    scopes: tuple[str, ...]
    default_scopes: tuple[str, ...]
    name: str

    def cognito_scope(self, name: str) -> str:
        return f"{self.uri}/{name}"

    @property
    def cognito_scopes(self) -> tuple[str, ...]:
        return tuple(self.cognito_scope(s) for s in self.scopes)

    @property
    def default_cognito_scopes(self) -> tuple[str, ...]:
        return tuple(self.cognito_scope(s) for s in self.default_scopes)


@dataclass(frozen=True)
class Settings:
    """Everything the façade needs to know about its deployment."""

    issuer: str
    user_pool_id: str
    region: str
    cognito_domain: str
    resources: tuple[ProtectedResource, ...]
    cognito_issuer: str = ""
    jwks_url: str = ""
    secret_key: str | None = field(default=None, repr=False)
    secret_arn: str | None = None
    cognito_endpoint: str | None = None
    store_url: str = "sqlite:///authproxy.db"
    client_policy: ClientPolicy = "pooled"
    max_backing_clients: int = 900
    allowed_redirect_hosts: frozenset[str] = frozenset()
    trusted_redirect_hosts: frozenset[str] = frozenset()
    identity_providers: tuple[str, ...] = ("COGNITO",)
    resource_binding: bool = False
    cimd: bool = True
    cimd_allow_loopback: bool = False
    upstream_timeout: float = 10.0
    log_level: str = "INFO"

    @property
    def callback_url(self) -> str:
        """The one callback URL every backing Cognito app client has (design D1)."""
        return self.endpoint("/callback")

    @property
    def issuer_path(self) -> str:
        return urlsplit(self.issuer).path.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        """``__Host-`` cookies need ``Secure``, which browsers only keep over https."""
        return self.issuer.startswith("https://")

    @property
    def default_resource(self) -> ProtectedResource:
        return self.resources[0]

    def endpoint(self, path: str) -> str:
        return f"{self.issuer}{path}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        issuer = _url(env, "ISSUER", required=True)
        pool_id = _required(env, "USER_POOL_ID")
        match = _POOL_ID.match(pool_id)
        if not match:
            raise SettingsError("USER_POOL_ID", f"{pool_id!r} is not a Cognito user pool id")
        secret_key = env.get("AUTHPROXY_SECRET_KEY") or None
        secret_arn = env.get("AUTHPROXY_SECRET_ARN") or None
        if not secret_key and not secret_arn:
            raise SettingsError(
                "AUTHPROXY_SECRET_KEY", "set it (or AUTHPROXY_SECRET_ARN) to a random key"
            )
        if secret_key and len(secret_key) < MIN_SECRET_LENGTH:
            raise SettingsError(
                "AUTHPROXY_SECRET_KEY", f"must be at least {MIN_SECRET_LENGTH} characters"
            )
        policy = env.get("AUTHPROXY_CLIENT_POLICY", "pooled")
        if policy not in ("pooled", "dedicated"):
            raise SettingsError("AUTHPROXY_CLIENT_POLICY", "must be 'pooled' or 'dedicated'")
        store_url = env.get("AUTHPROXY_STORE") or "sqlite:///authproxy.db"
        if not store_url.startswith(("sqlite:///", "dynamodb://")):
            raise SettingsError("AUTHPROXY_STORE", "must be sqlite:///<path> or dynamodb://<table>")
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or match["region"]
        cognito_issuer = (
            _url(env, "COGNITO_ISSUER") or f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"
        )
        return cls(
            issuer=issuer,
            user_pool_id=pool_id,
            region=region,
            cognito_issuer=cognito_issuer,
            jwks_url=_url(env, "JWKS_URL") or f"{cognito_issuer}/.well-known/jwks.json",
            cognito_domain=_url(env, "COGNITO_DOMAIN", required=True),
            resources=_resources(env),
            secret_key=secret_key,
            secret_arn=secret_arn,
            cognito_endpoint=_url(env, "COGNITO_ENDPOINT") or None,
            store_url=store_url,
            client_policy=policy,  # type: ignore[arg-type]  # checked above
            max_backing_clients=_int(env, "AUTHPROXY_MAX_BACKING_CLIENTS", 900, low=1),
            allowed_redirect_hosts=_hosts(env, "AUTHPROXY_ALLOWED_REDIRECT_HOSTS"),
            trusted_redirect_hosts=_hosts(env, "AUTHPROXY_TRUSTED_REDIRECT_HOSTS"),
            identity_providers=tuple(
                p.strip()
                for p in env.get("AUTHPROXY_IDENTITY_PROVIDERS", "COGNITO").split(",")
                if p.strip()
            )
            or ("COGNITO",),
            resource_binding=_bool(env, "AUTHPROXY_RESOURCE_BINDING"),
            cimd=_bool(env, "AUTHPROXY_CIMD", default=True),
            cimd_allow_loopback=_bool(env, "AUTHPROXY_CIMD_ALLOW_LOOPBACK"),
            upstream_timeout=float(_int(env, "AUTHPROXY_UPSTREAM_TIMEOUT", 10, low=1)),
            log_level=_log_level(env),
        )


@dataclass(frozen=True)
class OperatorSettings:
    """What ``authproxy clients`` needs: the pool and the store, read from the same variables as
    :class:`Settings` so a shell set up for one works for the other."""

    user_pool_id: str
    region: str
    store_url: str
    cognito_endpoint: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OperatorSettings:
        env = os.environ if environ is None else environ
        pool_id = _required(env, "USER_POOL_ID")
        match = _POOL_ID.match(pool_id)
        if not match:
            raise SettingsError("USER_POOL_ID", f"{pool_id!r} is not a Cognito user pool id")
        store_url = _required(env, "AUTHPROXY_STORE")
        if not store_url.startswith(("sqlite:///", "dynamodb://")):
            raise SettingsError("AUTHPROXY_STORE", "must be sqlite:///<path> or dynamodb://<table>")
        return cls(
            user_pool_id=pool_id,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or match["region"],
            store_url=store_url,
            cognito_endpoint=_url(env, "COGNITO_ENDPOINT") or None,
        )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(name, "is required")
    return value


def _url(env: Mapping[str, str], name: str, *, required: bool = False) -> str:
    value = _required(env, name) if required else env.get(name, "").strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(name, f"{value!r} is not an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise SettingsError(name, "must not have a query or fragment")
    return value.rstrip("/")


def _int(env: Mapping[str, str], name: str, default: int, *, low: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"{raw!r} is not a whole number") from None
    if value < low:
        raise SettingsError(name, f"must be at least {low}")
    return value


def _bool(env: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(name, f"{raw!r} is not true or false")


def _hosts(env: Mapping[str, str], name: str) -> frozenset[str]:
    return frozenset(h.strip().lower() for h in env.get(name, "").split(",") if h.strip())


def _log_level(env: Mapping[str, str]) -> str:
    level = env.get("AUTHPROXY_LOG_LEVEL", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError("AUTHPROXY_LOG_LEVEL", "must be DEBUG, INFO, WARNING or ERROR")
    return level


def _resources(env: Mapping[str, str]) -> tuple[ProtectedResource, ...]:
    name = "AUTHPROXY_RESOURCES"
    raw = _required(env, name)
    try:
        items = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(name, f"is not JSON ({exc.msg})") from None
    if not isinstance(items, list) or not items:
        raise SettingsError(name, "must be a non-empty JSON list of resources")
    resources = []
    for index, item in enumerate(items):
        where = f"entry {index}"
        if not isinstance(item, dict) or not isinstance(item.get("resource"), str):
            raise SettingsError(name, f"{where} needs a 'resource' URL")
        uri = item["resource"]
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise SettingsError(name, f"{where}: {uri!r} is not an absolute URL")
        scopes = item.get("scopes", ["read", "write"])
        if not isinstance(scopes, list) or not scopes:
            raise SettingsError(name, f"{where}: 'scopes' must be a non-empty list")
        for scope in scopes:
            if not isinstance(scope, str) or not _SCOPE_NAME.match(scope):
                raise SettingsError(name, f"{where}: {scope!r} is not a Cognito scope name")
        defaults = item.get("default_scopes", scopes[:1])
        if not isinstance(defaults, list) or not set(defaults) <= set(scopes):
            raise SettingsError(name, f"{where}: 'default_scopes' must be a subset of 'scopes'")
        resources.append(
            ProtectedResource(
                uri=uri.rstrip("/"),
                scopes=tuple(scopes),
                default_scopes=tuple(defaults),
                name=str(item.get("name") or uri),
            )
        )
    return tuple(resources)
