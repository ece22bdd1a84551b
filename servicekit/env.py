"""Reading and validating settings from the environment; every error names its variable."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Concatenate, ParamSpec, TypeVar
from urllib.parse import urlsplit

POOL_ID = re.compile(r"^(?P<region>[a-z]{2}(-[a-z]+)+-\d)_[0-9A-Za-z]+$")
COGNITO_ISSUER_HOST = re.compile(
    r"^cognito-idp\.(?P<region>[a-z]{2}(-[a-z]+)+-\d)\.amazonaws\.com$"
)
# Cognito scope names: no '/', '"' or '\' (resource-server scope name rules).
SCOPE_NAME = re.compile(r"^[\x21\x23-\x2E\x30-\x5B\x5D-\x7E]{1,256}$")
# A path segment naming an upstream behind the gateway (``/mcp/<name>``, ``--upstream NAME=URL``).
UPSTREAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingsError(ValueError):
    """Configuration variables are missing or malformed: one line per problem, each starting
    with its variable's name (:attr:`variable` is the first's)."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problems: tuple[SettingsError, ...] = (self,)

    @classmethod
    def together(cls, problems: list[SettingsError]) -> SettingsError:
        """Every problem in one error, so an operator fixes them all in one run."""
        flat = tuple(one for problem in problems for one in problem.problems)
        if len(flat) == 1:
            return flat[0]
        combined = cls(flat[0].variable, "")
        combined.args = ("\n".join(str(p) for p in flat),)
        combined.problems = flat
        return combined

    def report(self, program: str) -> str:
        """What a command line prints: the one problem, or every problem on a line of its own."""
        if len(self.problems) == 1:
            return f"{program}: configuration error: {self}"
        lines = "".join(f"\n  {problem}" for problem in self.problems)
        return f"{program}: {len(self.problems)} configuration errors:{lines}"


T = TypeVar("T")
P = ParamSpec("P")
Reader = Callable[Concatenate[Mapping[str, str], P], T]


class Reading(Mapping[str, str]):
    """The environment as one settings object reads it: readers given a ``Reading`` record a
    problem and return a fallback instead of raising (:func:`collected`), so
    :meth:`valid` reports every problem at once. It also remembers every name looked up."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.problems: list[SettingsError] = []
        self.names: set[str] = set()
        #: Inside a :func:`collected` reader, whose own reads raise to it.
        self.inside = False

    def __getitem__(self, name: str) -> str:
        self.names.add(name)
        return self._env[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._env)

    def __len__(self) -> int:
        return len(self._env)

    def report(self, problem: SettingsError) -> None:
        self.problems.append(problem)

    def valid(self, settings: T) -> T:
        """``settings`` if nothing was wrong; else every problem, in reading order."""
        if self.problems:
            raise SettingsError.together(self.problems)
        return settings


def reading(env: Mapping[str, str]) -> Reading:
    return env if isinstance(env, Reading) else Reading(env)


def collected(fallback: T) -> Callable[[Reader[P, T]], Reader[P, T]]:
    """Make a reader ``(env, …) -> value`` record its :class:`SettingsError` in a
    :class:`Reading` and return ``fallback``; given a plain mapping it raises as before."""

    def decorate(read: Reader[P, T]) -> Reader[P, T]:
        @functools.wraps(read)
        def reader(env: Mapping[str, str], *args: P.args, **kwargs: P.kwargs) -> T:
            if not isinstance(env, Reading) or env.inside:
                return read(env, *args, **kwargs)  # a reader's readers raise to it
            env.inside = True
            try:
                return read(env, *args, **kwargs)
            except SettingsError as exc:
                env.report(exc)
                return fallback
            finally:
                env.inside = False

        return reader

    return decorate


def problem(env: Mapping[str, str], variable: str, text: str) -> None:
    """A problem a settings object finds itself: recorded in a :class:`Reading`, else raised."""
    error = SettingsError(variable, text)
    if not isinstance(env, Reading):
        raise error
    env.report(error)


@collected("")
def required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(name, "is required")
    return value


@collected("")
def url(env: Mapping[str, str], name: str, *, needed: bool = False) -> str:
    """An absolute http(s) URL without query or fragment, trailing slash removed; "" if unset."""
    value = required(env, name) if needed else env.get(name, "").strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(name, f"{value!r} is not an absolute http(s) URL")
    if parts.query or parts.fragment:
        raise SettingsError(name, "must not have a query or fragment")
    return value.rstrip("/")


@collected(0)
def integer(env: Mapping[str, str], name: str, default: int, *, low: int) -> int:
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


@collected(False)
def boolean(env: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(name, f"{raw!r} is not true or false")


def items(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list, blanks dropped."""
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


@collected("INFO")
def log_level(env: Mapping[str, str], name: str) -> str:
    level = env.get(name, "INFO").strip().upper() or "INFO"
    if level not in LOG_LEVELS:
        raise SettingsError(name, f"must be one of {', '.join(LOG_LEVELS)}")
    return level


@collected(("", ""))
def user_pool(env: Mapping[str, str], name: str = "USER_POOL_ID") -> tuple[str, str]:
    """The pool id and the region it names."""
    pool_id = required(env, name)
    match = POOL_ID.match(pool_id)
    if not match:
        raise SettingsError(name, f"{pool_id!r} is not a Cognito user pool id")
    return pool_id, match["region"]


def region(env: Mapping[str, str], default: str) -> str:
    """The region of AWS APIs not tied to the user pool (a DynamoDB store, the MCP server's
    tools). Lambda sets AWS_REGION to the function's region; elsewhere it may be unset. The
    pool's own region always comes from its id (:func:`user_pool`), whatever AWS_REGION says."""
    return env.get("AWS_REGION", "").strip() or env.get("AWS_DEFAULT_REGION", "").strip() or default


@collected("")
def cognito_issuer(env: Mapping[str, str], pool_id: str, pool_region: str) -> str:
    """``COGNITO_ISSUER``, or the issuer Cognito gives the pool (``https://cognito-idp.<pool's
    region>.amazonaws.com/<pool id>``, the ``iss`` of its tokens). A ``COGNITO_ISSUER`` that names
    another pool, or another region on Cognito's own host, is a start-up error naming both."""
    derived = f"https://cognito-idp.{pool_region}.amazonaws.com/{pool_id}"
    issuer = url(env, "COGNITO_ISSUER")
    if not issuer:
        return derived
    parts = urlsplit(issuer)
    on_aws = COGNITO_ISSUER_HOST.match(parts.netloc)
    if parts.path.rstrip("/").rsplit("/", 1)[-1] != pool_id or (
        on_aws and on_aws["region"] != pool_region
    ):
        raise SettingsError(
            "COGNITO_ISSUER",
            f"{issuer!r} is not the issuer of USER_POOL_ID {pool_id!r} (that is {derived!r})",
        )
    return issuer


def origin_of(value: str) -> str:
    """The RFC 6454 origin (``scheme://host[:port]``) of an absolute URL."""
    parts = urlsplit(value)
    return f"{parts.scheme}://{parts.netloc}"


@collected(())
def key_list(env: Mapping[str, str], name: str, *, min_length: int) -> tuple[str, ...]:
    """Keys for rotation (design D3): comma-separated, the current key first, then the previous
    ones still accepted; each at least ``min_length`` characters. Empty when unset."""
    keys = tuple(dict.fromkeys(items(env, name)))
    for position, key in enumerate(keys, start=1):
        if len(key) < min_length:
            raise SettingsError(name, f"key {position} must be at least {min_length} characters")
    return keys


#: The Secrets Manager versions that hold keys, the signing one first: AWSCURRENT signs;
#: AWSPENDING (a new key being introduced) and AWSPREVIOUS (the key it replaced) still open.
SECRET_STAGES = ("AWSCURRENT", "AWSPENDING", "AWSPREVIOUS")


def read_secret_keys(arn: str, variable: str, *, min_length: int) -> tuple[str, ...]:
    """The keys held in an AWS Secrets Manager secret, one per version, in :data:`SECRET_STAGES`
    order; only AWSCURRENT must exist.

    The region comes from the ARN (``arn:aws:secretsmanager:<region>:…``); a bare name uses the
    default region.
    """
    # Deferred: deployments that set the key directly skip botocore's import cost.
    from botocore.exceptions import BotoCoreError, ClientError

    from servicekit import aws

    parts = arn.split(":")
    in_region = parts[3] if len(parts) > 3 and parts[0] == "arn" else None
    keys: list[str] = []
    try:
        client = aws.LazyClient("secretsmanager", in_region).connect()
        for stage in SECRET_STAGES:
            try:
                response = client.get_secret_value(SecretId=arn, VersionStage=stage)
            except ClientError as exc:
                missing = exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException"
                if missing and stage != "AWSCURRENT":
                    continue  # no key is being introduced, or none was replaced yet
                raise
            secret = response.get("SecretString")
            if not secret:
                raise SettingsError(variable, f"its {stage} version holds no SecretString")
            if len(secret) < min_length:
                raise SettingsError(
                    variable, f"its {stage} key must be at least {min_length} characters"
                )
            keys.append(str(secret))
    except (BotoCoreError, ClientError) as exc:
        raise SettingsError(variable, f"cannot be read ({exc})") from None
    return tuple(dict.fromkeys(keys))
