"""The façade's one settings object, read from the environment and validated at start-up.

Every variable is documented in the README's configuration reference. A missing or malformed value
raises :class:`SettingsError` naming the variable, so a misconfigured Lambda fails its first
invocation with a readable message instead of a 500 on the first user.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from servicekit import env as config
from servicekit.env import SCOPE_NAME, SettingsError

__all__ = ["OperatorSettings", "ProtectedResource", "Settings", "SettingsError"]

ClientPolicy = Literal["pooled", "dedicated"]
AUTH_METHODS = ("none", "client_secret_post", "client_secret_basic")
MIN_SECRET_LENGTH = 32


@dataclass(frozen=True)
class ProtectedResource:
    """One MCP server the façade fronts (RFC 8707 resource, design D5).

    ``uri`` is the canonical MCP URL and the identifier of a Cognito resource server, so the Cognito
    scope for a name ``read`` is ``<uri>/read``. ``descriptions`` say in words what each scope name
    lets an application do; the consent page shows them before the scope strings.
    """

    uri: str
    scopes: tuple[str, ...]
    default_scopes: tuple[str, ...]
    name: str
    descriptions: Mapping[str, str] = field(default_factory=dict, compare=False)

    def cognito_scope(self, name: str) -> str:
        return f"{self.uri}/{name}"

    @property
    def cognito_scopes(self) -> tuple[str, ...]:
        return tuple(self.cognito_scope(s) for s in self.scopes)

    @property
    def default_cognito_scopes(self) -> tuple[str, ...]:
        return tuple(self.cognito_scope(s) for s in self.default_scopes)

    def describe(self, name: str) -> str:
        """What the scope ``name`` lets an application do, in words for the person approving: the
        configured description, else words for the conventional ``read`` and ``write``."""
        if name in self.descriptions:
            return self.descriptions[name]
        return GENERIC_SCOPE_DESCRIPTIONS.get(name, f"Use what this server allows under “{name}”")


@dataclass(frozen=True)
class Settings:
    """Everything the façade needs to know about its deployment."""

    issuer: str
    user_pool_id: str
    #: The pool's region, from its id: Cognito's admin API and issuer.
    region: str
    cognito_domain: str
    resources: tuple[ProtectedResource, ...]
    cognito_issuer: str = ""
    jwks_url: str = ""
    #: AUTHPROXY_SECRET_KEY: the current sealing key first, then previous ones still accepted.
    secret_keys: tuple[str, ...] = field(default=(), repr=False)
    secret_arn: str | None = None
    cognito_endpoint: str | None = None
    #: Region of the DynamoDB store: AWS_REGION, else AWS_DEFAULT_REGION, else the pool's.
    store_region: str = ""
    store_url: str = "sqlite:///authproxy.db"
    client_policy: ClientPolicy = "pooled"
    max_backing_clients: int = 900
    unused_registration_days: int = 30
    allowed_redirect_hosts: frozenset[str] = frozenset()
    trusted_redirect_hosts: frozenset[str] = frozenset()
    identity_providers: tuple[str, ...] = ("COGNITO",)
    resource_binding: bool = False
    cimd: bool = True
    cimd_allow_loopback: bool = False
    #: Client authentication methods offered at /token and /register (RFC 8414, OAuth 2.1 §2.4).
    client_auth_methods: tuple[str, ...] = ("none", "client_secret_post", "client_secret_basic")
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
        env = config.reading(os.environ if environ is None else environ)
        issuer = config.url(env, "ISSUER", needed=True)
        pool_id, pool_region = config.user_pool(env)
        secret_keys = config.key_list(env, "AUTHPROXY_SECRET_KEY", min_length=MIN_SECRET_LENGTH)
        secret_arn = env.get("AUTHPROXY_SECRET_ARN", "").strip() or None
        if not secret_keys and not secret_arn:
            config.problem(
                env, "AUTHPROXY_SECRET_KEY", "set it (or AUTHPROXY_SECRET_ARN) to a random key"
            )
        policy = env.get("AUTHPROXY_CLIENT_POLICY", "pooled")
        if policy not in ("pooled", "dedicated"):
            config.problem(env, "AUTHPROXY_CLIENT_POLICY", "must be 'pooled' or 'dedicated'")
        cognito_issuer = config.cognito_issuer(env, pool_id, pool_region)
        auth_methods = _client_auth_methods(env)
        settings = cls(
            issuer=issuer,
            user_pool_id=pool_id,
            region=pool_region,
            store_region=config.region(env, pool_region),
            cognito_issuer=cognito_issuer,
            jwks_url=config.url(env, "JWKS_URL") or f"{cognito_issuer}/.well-known/jwks.json",
            cognito_domain=config.url(env, "COGNITO_DOMAIN", needed=True),
            resources=_resources(env),
            secret_keys=secret_keys,
            secret_arn=secret_arn,
            cognito_endpoint=config.url(env, "COGNITO_ENDPOINT") or None,
            store_url=_store_url(env, "sqlite:///authproxy.db"),
            client_policy=policy,  # type: ignore[arg-type]  # checked above
            max_backing_clients=config.integer(env, "AUTHPROXY_MAX_BACKING_CLIENTS", 900, low=1),
            unused_registration_days=config.integer(
                env, "AUTHPROXY_UNUSED_REGISTRATION_DAYS", 30, low=1
            ),
            allowed_redirect_hosts=_hosts(env, "AUTHPROXY_ALLOWED_REDIRECT_HOSTS"),
            trusted_redirect_hosts=_hosts(env, "AUTHPROXY_TRUSTED_REDIRECT_HOSTS"),
            identity_providers=config.items(env, "AUTHPROXY_IDENTITY_PROVIDERS") or ("COGNITO",),
            resource_binding=config.boolean(env, "AUTHPROXY_RESOURCE_BINDING"),
            # Metadata-document clients are public: without `none` there are none.
            cimd=config.boolean(env, "AUTHPROXY_CIMD", default=True) and "none" in auth_methods,
            client_auth_methods=auth_methods,
            cimd_allow_loopback=config.boolean(env, "AUTHPROXY_CIMD_ALLOW_LOOPBACK"),
            upstream_timeout=float(config.integer(env, "AUTHPROXY_UPSTREAM_TIMEOUT", 10, low=1)),
            log_level=config.log_level(env, "AUTHPROXY_LOG_LEVEL"),
        )
        return env.valid(settings)


@dataclass(frozen=True)
class OperatorSettings:
    """What ``authproxy clients`` needs: the pool and the store, read from the same variables as
    :class:`Settings` so a shell set up for one works for the other."""

    user_pool_id: str
    #: The pool's region, from its id.
    region: str
    store_url: str
    cognito_endpoint: str | None = None
    #: Region of the DynamoDB store: AWS_REGION, else AWS_DEFAULT_REGION, else the pool's.
    store_region: str = ""
    #: The resources the façade fronts, when ``AUTHPROXY_RESOURCES`` is set (reconcile checks
    #: that every backing client allows their scopes).
    resources: tuple[ProtectedResource, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OperatorSettings:
        env = config.reading(os.environ if environ is None else environ)
        pool_id, pool_region = config.user_pool(env)
        settings = cls(
            user_pool_id=pool_id,
            region=pool_region,
            store_region=config.region(env, pool_region),
            store_url=_store_url(env, None),
            cognito_endpoint=config.url(env, "COGNITO_ENDPOINT") or None,
            resources=_resources(env) if env.get("AUTHPROXY_RESOURCES", "").strip() else (),
        )
        return env.valid(settings)


@config.collected(AUTH_METHODS)
def _client_auth_methods(env: Mapping[str, str]) -> tuple[str, ...]:
    """OAuth 2.1 §2.4.1: HTTP Basic must be offered to every client issued a secret; the body
    (``client_secret_post``) and public clients (``none``) may be left out."""
    name = "AUTHPROXY_CLIENT_AUTH_METHODS"
    methods = config.items(env, name) or AUTH_METHODS
    unknown = [m for m in methods if m not in AUTH_METHODS]
    if unknown:
        raise SettingsError(name, f"{unknown[0]!r} is not one of {', '.join(AUTH_METHODS)}")
    if "client_secret_basic" not in methods:
        raise SettingsError(name, "must include client_secret_basic (OAuth 2.1 §2.4.1)")
    return tuple(m for m in AUTH_METHODS if m in methods)


@config.collected("")
def _store_url(env: Mapping[str, str], default: str | None) -> str:
    url = env.get("AUTHPROXY_STORE", "").strip() or default
    if url is None:
        raise SettingsError("AUTHPROXY_STORE", "is required")
    if not url.startswith(("sqlite:///", "dynamodb://")):
        raise SettingsError("AUTHPROXY_STORE", "must be sqlite:///<path> or dynamodb://<table>")
    return url


def _hosts(env: Mapping[str, str], name: str) -> frozenset[str]:
    return frozenset(host.lower() for host in config.items(env, name))


# ``upstream`` and ``tool_scopes`` make an entry a route of the gateway, which reads this same list
# (design D12); the façade fronts such a resource like any other.
RESOURCE_KEYS = ("resource", "name", "scopes", "default_scopes", "upstream", "tool_scopes")
# Cognito's limit on a resource server's ScopeDescription, which carries the same words.
MAX_SCOPE_DESCRIPTION = 256
# Words for scopes configured without a description; they cannot name a particular server's tools.
GENERIC_SCOPE_DESCRIPTIONS = {
    "read": "Read information through this server's tools",
    "write": "Make changes through this server's tools",
}


@config.collected(())
def _resources(env: Mapping[str, str]) -> tuple[ProtectedResource, ...]:
    """``AUTHPROXY_RESOURCES``: a JSON list of entries, each with ``resource`` and the optional
    ``name``, ``scopes`` (a list of names, or an object from name to description) and
    ``default_scopes``. A key that is none of these is an error, not silently ignored."""
    name = "AUTHPROXY_RESOURCES"
    raw = config.required(env, name)
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
        where = f"entry {index} ({uri})"
        unknown = [key for key in item if key not in RESOURCE_KEYS]
        if unknown:
            raise SettingsError(name, f"{where}: {_unknown_keys(unknown)}")
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise SettingsError(name, f"{where}: {uri!r} is not an absolute URL")
        scopes = item.get("scopes", ["read", "write"])
        descriptions = scopes if isinstance(scopes, dict) else {}
        if not isinstance(scopes, list | dict) or not scopes:
            raise SettingsError(
                name, f"{where}: 'scopes' must be a non-empty list or object of descriptions"
            )
        for scope in scopes:
            if not isinstance(scope, str) or not SCOPE_NAME.match(scope):
                raise SettingsError(name, f"{where}: {scope!r} is not a Cognito scope name")
        for scope, text in descriptions.items():
            if not (isinstance(text, str) and 0 < len(text.strip()) <= MAX_SCOPE_DESCRIPTION):
                raise SettingsError(
                    name,
                    f"{where}: the description of {scope!r} must be text of 1 to "
                    f"{MAX_SCOPE_DESCRIPTION} characters",
                )
        names = list(scopes)
        # One approval up front unless the operator chooses step-up: clients that cannot step up
        # (mcp-remote 0.15.1, ChatGPT's reconnect without scope) could otherwise never write.
        defaults = item.get("default_scopes", names)
        if not isinstance(defaults, list) or not set(defaults) <= set(names):
            raise SettingsError(name, f"{where}: 'default_scopes' must be a subset of 'scopes'")
        resources.append(
            ProtectedResource(
                uri=uri.rstrip("/"),
                scopes=tuple(names),
                default_scopes=tuple(defaults),
                name=str(item.get("name") or uri),
                descriptions={scope: text.strip() for scope, text in descriptions.items()},
            )
        )
    return tuple(resources)


def _unknown_keys(keys: list[str]) -> str:
    """Names each unknown key of a resource entry, with the known key it is probably a typo for."""
    named = []
    for key in keys:
        close = difflib.get_close_matches(key, RESOURCE_KEYS, n=1)
        named.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    noun = "unknown key" if len(named) == 1 else "unknown keys"
    return f"{noun} {', '.join(named)}; the keys are {', '.join(RESOURCE_KEYS)}"
