"""The MCP server's one settings object, read from the environment and validated at start-up.

Every variable is listed in the README's configuration reference (the "Shared" and ``mcpserver``
tables). A missing or malformed value raises :class:`SettingsError` naming the variable, so a
misconfigured Lambda fails its cold start with a readable message rather than a 500 later.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from servicekit import env as config
from servicekit.env import COGNITO_ISSUER_HOST, SCOPE_NAME, SettingsError, origin_of
from servicekit.keys import KeyRing, key_ring

__all__ = ["Settings", "SettingsError", "origin_of"]

MIN_SECRET_LENGTH = 32
DESTRUCTIVE_SCOPE = "write"
_LOG_GROUP = re.compile(r"^[\.\-_/#A-Za-z0-9]{1,512}$")


@dataclass(frozen=True)
class Settings:
    """Everything the MCP server needs to know about its deployment.

    ``mcp_url`` is the canonical URI of the protected resource (RFC 8707 §2, RFC 9728 §1.2): the
    URL users paste, the ``resource`` in the metadata, and the prefix of its Cognito scopes.
    """

    mcp_url: str
    issuer: str
    cognito_issuer: str
    jwks_url: str
    region: str
    #: Signs ``Mcp-Session-Id`` values and seals request state: the current key signs, previous
    #: ones still verify (``MCP_SESSION_SECRET``, or the secret ``MCP_SESSION_SECRET_ARN``).
    session_keys: KeyRing = field(repr=False)
    scopes: tuple[str, ...] = ("read", "write")
    jwks_file: str | None = None
    allowed_client_ids: frozenset[str] | None = None
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    resource_name: str = "AWS tools"
    #: The Bedrock model-invocation log group the usage report reads; None: no such tool.
    bedrock_log_group: str | None = "/aws/bedrock/modelinvocations"
    #: The level of the server's own loggers (servicekit.logs); libraries log warnings only.
    log_level: str = "INFO"
    #: Whether the Lambda init phase rehearses a client's first requests (mcpserver.rehearsal):
    #: yes for a SnapStart snapshot or provisioned concurrency, where init is no caller's wait;
    #: no when Lambda says the init is on demand (``AWS_LAMBDA_INITIALIZATION_TYPE``), where the
    #: first caller waits for it and the rehearsal costs more (~25 ms) than it saves (~2 ms).
    rehearse: bool = True

    @property
    def path(self) -> str:
        """The path of ``mcp_url`` on its origin: where the MCP endpoint is served."""
        return urlsplit(self.mcp_url).path or "/"

    def scope(self, name: str) -> str:
        """The full Cognito scope string for a scope name (design D5): ``<mcp_url>/<name>``."""
        return f"{self.mcp_url}/{name}"

    @property
    def supported_scopes(self) -> tuple[str, ...]:
        return tuple(self.scope(name) for name in self.scopes)

    @property
    def required_scopes(self) -> tuple[str, ...]:
        """Scopes every request needs: the first of ``MCP_SCOPES``."""
        return (self.scope(self.scopes[0]),)

    @property
    def destructive_scopes(self) -> tuple[str, ...]:
        """Scopes a destructive tool needs on top of :attr:`required_scopes`."""
        return (self.scope(DESTRUCTIVE_SCOPE),)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build and validate the settings; reads ``MCP_SESSION_SECRET_ARN`` if it is set (and
        the key ring reads it again every few minutes)."""
        env = config.reading(os.environ if environ is None else environ)
        mcp_url = config.url(env, "MCP_URL", needed=True)
        # The pool id names the pool's region, which wins for the issuer and JWKS; AWS_REGION is
        # the region of the tools' AWS APIs, falling back to the pool's (or the issuer's).
        if env.get("USER_POOL_ID", "").strip():
            pool_id, pool_region = config.user_pool(env)
            cognito_issuer = config.cognito_issuer(env, pool_id, pool_region)
        else:
            cognito_issuer = config.url(env, "COGNITO_ISSUER")
            if not cognito_issuer:
                config.problem(env, "COGNITO_ISSUER", "set it, or USER_POOL_ID to derive it")
            issuer_host = COGNITO_ISSUER_HOST.match(urlsplit(cognito_issuer).netloc)
            pool_region = issuer_host["region"] if issuer_host else ""
        region = config.region(env, pool_region)
        if not region:
            config.problem(env, "AWS_REGION", "is required when USER_POOL_ID does not name it")
        jwks_file = env.get("MCP_JWKS_FILE", "").strip() or None
        if jwks_file:
            _check_jwks_file(jwks_file)
        host = urlsplit(mcp_url).netloc
        settings = cls(
            mcp_url=mcp_url,
            issuer=config.url(env, "ISSUER", needed=True),
            cognito_issuer=cognito_issuer,
            jwks_url=config.url(env, "JWKS_URL") or f"{cognito_issuer}/.well-known/jwks.json",
            region=region,
            session_keys=_session_keys(env),
            scopes=_scopes(env),
            jwks_file=jwks_file,
            allowed_client_ids=frozenset(config.items(env, "MCP_ALLOWED_CLIENT_IDS")) or None,
            allowed_hosts=config.items(env, "MCP_ALLOWED_HOSTS") or (host,),
            allowed_origins=config.items(env, "MCP_ALLOWED_ORIGINS") or (origin_of(mcp_url),),
            resource_name=env.get("MCP_RESOURCE_NAME", "").strip() or "AWS tools",
            bedrock_log_group=_bedrock_log_group(env),
            log_level=config.log_level(env, "MCP_LOG_LEVEL"),
            rehearse=env.get("AWS_LAMBDA_INITIALIZATION_TYPE", "").strip() != "on-demand",
        )
        return env.valid(settings)


@config.collected(("read", "write"))
def _scopes(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("MCP_SCOPES", "").strip() or "read,write"
    names = tuple(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    for name in names:
        if not SCOPE_NAME.match(name):
            raise SettingsError("MCP_SCOPES", f"{name!r} is not a Cognito scope name")
    if DESTRUCTIVE_SCOPE not in names:
        raise SettingsError("MCP_SCOPES", f"must include {DESTRUCTIVE_SCOPE!r} (destructive tools)")
    if names[0] == DESTRUCTIVE_SCOPE:
        raise SettingsError("MCP_SCOPES", "the first scope is required by every call; not 'write'")
    return names


@config.collected(None)
def _session_keys(env: Mapping[str, str]) -> KeyRing:
    keys = config.key_list(env, "MCP_SESSION_SECRET", min_length=MIN_SECRET_LENGTH)
    arn = env.get("MCP_SESSION_SECRET_ARN", "").strip()
    if not keys and not arn:
        raise SettingsError(
            "MCP_SESSION_SECRET", "set it (or MCP_SESSION_SECRET_ARN) to a random key"
        )
    return key_ring(keys, arn, variable="MCP_SESSION_SECRET_ARN", min_length=MIN_SECRET_LENGTH)


@config.collected(None)
def _check_jwks_file(path: str) -> None:
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as exc:
        raise SettingsError("MCP_JWKS_FILE", f"cannot be read as JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise SettingsError("MCP_JWKS_FILE", "is not a JWK Set (RFC 7517 §5)")


@config.collected(None)
def _bedrock_log_group(env: Mapping[str, str]) -> str | None:
    raw = env.get("MCP_BEDROCK_LOG_GROUP")
    if raw is None:
        return "/aws/bedrock/modelinvocations"
    name = raw.strip()
    if name and not _LOG_GROUP.match(name):
        raise SettingsError("MCP_BEDROCK_LOG_GROUP", f"{name!r} is not a log group name")
    return name or None
