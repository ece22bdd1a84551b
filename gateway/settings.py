"""The gateway's one settings object, read from the environment and validated at start-up.

The upstreams are the entries of ``AUTHPROXY_RESOURCES`` that name an ``upstream`` URL: the one
list the façade reads to front resources (their Cognito scopes, their metadata, the consent page)
is the list the gateway reads to route them, so the two cannot disagree. Every variable is in the
README's configuration reference; a malformed one raises :class:`SettingsError` naming it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from servicekit import env as config
from servicekit.env import SCOPE_NAME, UPSTREAM_NAME, SettingsError, origin_of
from servicekit.keys import key_ring

__all__ = ["Settings", "SettingsError", "Upstream"]

MIN_SECRET_LENGTH = 32
RESOURCES = "AUTHPROXY_RESOURCES"


@dataclass(frozen=True)
class Upstream:
    """One MCP server behind the gateway.

    ``resource`` is its canonical URI at the gateway (RFC 8707 §2, RFC 9728 §1.2): the URL users
    paste and the identifier of its Cognito resource server. ``url`` is where the gateway reaches
    it. Every call needs ``default_scopes``; a tool named in ``tool_scopes`` needs those too.
    """

    resource: str
    url: str
    scopes: tuple[str, ...]
    default_scopes: tuple[str, ...]
    name: str
    tool_scopes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return urlsplit(self.resource).path

    def cognito_scope(self, name: str) -> str:
        return f"{self.resource}/{name}"

    @property
    def supported_scopes(self) -> tuple[str, ...]:
        return tuple(self.cognito_scope(s) for s in self.scopes)

    @property
    def required_scopes(self) -> tuple[str, ...]:
        return tuple(self.cognito_scope(s) for s in self.default_scopes)

    @property
    def cognito_tool_scopes(self) -> dict[str, list[str]]:
        return {
            tool: [self.cognito_scope(s) for s in names] for tool, names in self.tool_scopes.items()
        }


@dataclass(frozen=True)
class Settings:
    """Everything the gateway needs to know about its deployment."""

    issuer: str
    cognito_issuer: str
    jwks_url: str
    upstreams: tuple[Upstream, ...]
    secret: str = field(repr=False)
    jwks_file: str | None = None
    allowed_client_ids: frozenset[str] | None = None
    allowed_origins: tuple[str, ...] = ()
    connect_timeout: float = 5.0
    response_timeout: float = 60.0
    idle_timeout: float = 300.0
    max_body_size: int = 4 * 1024 * 1024
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build and validate the settings; reads ``GATEWAY_SECRET_ARN`` once if it is set."""
        env = os.environ if environ is None else environ
        issuer = config.url(env, "ISSUER", needed=True)
        cognito_issuer = config.url(env, "COGNITO_ISSUER")
        if not cognito_issuer:
            pool_id, pool_region = config.user_pool(env)
            region = config.region(env, pool_region)
            cognito_issuer = f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"
        return cls(
            issuer=issuer,
            cognito_issuer=cognito_issuer,
            jwks_url=config.url(env, "JWKS_URL") or f"{cognito_issuer}/.well-known/jwks.json",
            upstreams=upstreams(env),
            secret=_secret(env),
            jwks_file=env.get("GATEWAY_JWKS_FILE", "").strip() or None,
            allowed_client_ids=frozenset(config.items(env, "GATEWAY_ALLOWED_CLIENT_IDS")) or None,
            allowed_origins=config.items(env, "GATEWAY_ALLOWED_ORIGINS") or (origin_of(issuer),),
            connect_timeout=float(config.integer(env, "GATEWAY_CONNECT_TIMEOUT", 5, low=1)),
            response_timeout=float(config.integer(env, "GATEWAY_RESPONSE_TIMEOUT", 60, low=1)),
            idle_timeout=float(config.integer(env, "GATEWAY_IDLE_TIMEOUT", 300, low=1)),
            max_body_size=config.integer(env, "GATEWAY_MAX_BODY_BYTES", 4 * 1024 * 1024, low=1024),
            log_level=config.log_level(env, "GATEWAY_LOG_LEVEL"),
        )


def upstreams(env: Mapping[str, str]) -> tuple[Upstream, ...]:
    """The entries of ``AUTHPROXY_RESOURCES`` with an ``upstream``; at least one is required."""
    try:
        items = json.loads(config.required(env, RESOURCES))
    except json.JSONDecodeError as exc:
        raise SettingsError(RESOURCES, f"is not JSON ({exc.msg})") from None
    if not isinstance(items, list):
        raise SettingsError(RESOURCES, "must be a JSON list of resources")
    found = [
        _upstream(item, f"entry {index}")
        for index, item in enumerate(items)
        if isinstance(item, dict) and "upstream" in item
    ]
    if not found:
        raise SettingsError(RESOURCES, "names no resource with an 'upstream' URL")
    paths = [u.path for u in found]
    if len(set(paths)) != len(paths):
        raise SettingsError(RESOURCES, "two upstreams share a resource path")
    return tuple(found)


def _upstream(item: dict[str, Any], where: str) -> Upstream:
    def problem(text: str) -> SettingsError:
        return SettingsError(RESOURCES, f"{where}: {text}")

    resource, url = (_absolute_url(item.get(k), problem, k) for k in ("resource", "upstream"))
    resource = resource.rstrip("/")
    path = urlsplit(resource).path
    if urlsplit(resource).query or not path.startswith("/mcp/"):
        raise problem("a gateway 'resource' is <origin>/mcp/<name>, without a query")
    if not UPSTREAM_NAME.match(path.removeprefix("/mcp/")):
        raise problem(f"{path!r}: the name is letters, digits, '-' and '_'")
    # Scopes are names, or (as the façade also reads them) names mapped to their descriptions.
    raw = item.get("scopes", ["read", "write"])
    scopes = _scope_names(list(raw) if isinstance(raw, dict) else raw, problem, "scopes")
    defaults = _scope_names(item.get("default_scopes", list(scopes[:1])), problem, "default_scopes")
    if not set(defaults) <= set(scopes):
        raise problem("'default_scopes' must be a subset of 'scopes'")
    tool_scopes = item.get("tool_scopes", {})
    if not isinstance(tool_scopes, dict):
        raise problem("'tool_scopes' must map tool names to lists of scope names")
    tools = {
        str(tool): _scope_names(names, problem, f"tool_scopes[{tool!r}]")
        for tool, names in tool_scopes.items()
    }
    if any(not set(names) <= set(scopes) for names in tools.values()):
        raise problem("'tool_scopes' may only name the resource's 'scopes'")
    return Upstream(
        resource=resource,
        url=url,
        scopes=scopes,
        default_scopes=defaults,
        name=str(item.get("name") or resource),
        tool_scopes=tools,
    )


def _absolute_url(value: Any, problem: Any, label: str) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise problem(f"{label!r} must be an absolute http(s) URL")
    return str(value)


def _scope_names(value: Any, problem: Any, label: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise problem(f"{label!r} must be a non-empty list of scope names")
    for name in value:
        if not isinstance(name, str) or not SCOPE_NAME.match(name):
            raise problem(f"{name!r} in {label!r} is not a Cognito scope name")
    return tuple(value)


def _secret(env: Mapping[str, str]) -> str:
    secret = env.get("GATEWAY_SECRET", "")
    arn = env.get("GATEWAY_SECRET_ARN", "").strip()
    if not secret and not arn:
        raise SettingsError("GATEWAY_SECRET", "set it (or GATEWAY_SECRET_ARN) to a random key")
    if not secret:
        # Read once at start: the identity keys upstreams hold derive from it (rotating it means
        # handing them new keys), so the gateway does not take up a new one on its own.
        ring = key_ring((), arn, variable="GATEWAY_SECRET_ARN", min_length=MIN_SECRET_LENGTH)
        return ring.current
    if len(secret) < MIN_SECRET_LENGTH:
        raise SettingsError("GATEWAY_SECRET", f"must be at least {MIN_SECRET_LENGTH} characters")
    return secret
