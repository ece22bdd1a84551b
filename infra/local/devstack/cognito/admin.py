"""The admin API layer: moto's server app, held to Cognito's app-client rules.

A WSGI middleware in front of moto. For ``CreateUserPoolClient`` and ``UpdateUserPoolClient`` it
checks what Cognito checks and moto does not (name pattern, callback URLs, OAuth flows and scopes,
limits, the app-client quota) and answers like Cognito: AWS JSON 1.1 errors with Cognito's
exception names. It also corrects two moto behaviours: an update replaces the whole client
configuration (omitted fields return to their defaults), and secrets look like Cognito's.
Admin-API faults (``TooManyRequestsException`` and friends) are applied here too. Every other
request, of any AWS service, passes to moto untouched.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import string
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from devstack.cognito import userpools
from devstack.cognito.state import StandInState

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_ActionHandler = Callable[[dict[str, Any], Callable[..., Any], dict[str, Any]], Iterable[bytes]]

_TARGET_PREFIX = "AWSCognitoIdentityProviderService."
_AMZ_JSON = "application/x-amz-json-1.1"

# CreateUserPoolClient / UpdateUserPoolClient constraints (API reference and service model).
_CLIENT_NAME = re.compile(r"[\w\s+=,.@-]{1,128}", re.ASCII)
_CLIENT_SECRET = re.compile(r"[\w+]{24,64}", re.ASCII)
_OAUTH_FLOWS = frozenset({"code", "implicit", "client_credentials"})
_STANDARD_SCOPES = frozenset({"openid", "email", "phone", "profile"})
_ADMIN_SCOPE = "aws.cognito.signin.user.admin"
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
_MAX_URLS = 100
_MAX_URL_LENGTH = 1024
_MAX_SCOPES = 50
_MAX_GRACE_SECONDS = 60
# (parameter, unit key, shortest, longest) in seconds
_VALIDITY_RANGES = (
    ("AccessTokenValidity", "AccessToken", 300, 86400),
    ("IdTokenValidity", "IdToken", 300, 86400),
    ("RefreshTokenValidity", "RefreshToken", 3600, 315360000),
)
_SECRET_ALPHABET = string.ascii_lowercase + string.digits
_SECRET_LENGTH = 51  # the length of the secrets Cognito generates


class AdminError(Exception):
    """A Cognito admin API error: exception name, message and HTTP status."""

    def __init__(self, error_type: str, message: str, status: int = 400) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.status = status


def _constraint(value: Any, field: str, constraint: str) -> AdminError:
    # The shape of AWS's request-validation messages.
    return AdminError(
        "InvalidParameterException",
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
        f"constraint: {constraint}",
    )


def _check_redirect_url(url: Any, field: str) -> None:
    """A callback or sign-out URL Cognito accepts: absolute, no fragment, https or loopback."""
    if not isinstance(url, str) or not 1 <= len(url) <= _MAX_URL_LENGTH:
        raise _constraint(url, field, f"Member must have length between 1 and {_MAX_URL_LENGTH}")
    if any(character.isspace() for character in url):
        raise AdminError("InvalidParameterException", f"{url} must not contain whitespace.")
    parts = urlsplit(url)
    if not parts.scheme or "#" in url:
        raise AdminError(
            "InvalidParameterException", f"{url} must be an absolute URL without a fragment."
        )
    if parts.scheme == "http" and parts.netloc.rsplit(":", 1)[0] not in _LOOPBACK_HOSTS:
        raise AdminError(
            "InvalidParameterException",
            f"{url} must use HTTPS; plain http is allowed for localhost only.",
        )
    if parts.scheme in {"http", "https"} and not parts.hostname:
        raise AdminError("InvalidParameterException", f"{url} has no host.")


def _check_urls(params: Mapping[str, Any], field: str, wire_name: str) -> list[str]:
    urls = params.get(field) or []
    if len(urls) > _MAX_URLS:
        raise _constraint(
            urls, wire_name, f"Member must have length less than or equal to {_MAX_URLS}"
        )
    for url in urls:
        _check_redirect_url(url, wire_name)
    return urls


def _check_scopes(scopes: list[str], pool: userpools.UserPool) -> None:
    if len(scopes) > _MAX_SCOPES:
        raise _constraint(
            scopes,
            "allowedOAuthScopes",
            f"Member must have length less than or equal to {_MAX_SCOPES}",
        )
    custom = pool.custom_scopes()
    for scope in scopes:
        if scope in _STANDARD_SCOPES or scope == _ADMIN_SCOPE or scope in custom:
            continue
        raise AdminError("ScopeDoesNotExistException", f"Invalid scope requested: {scope}")


def _check_oauth(params: Mapping[str, Any], callback_urls: list[str], has_secret: bool) -> None:
    flows = params.get("AllowedOAuthFlows") or []
    scopes = params.get("AllowedOAuthScopes") or []
    unknown = [flow for flow in flows if flow not in _OAUTH_FLOWS]
    if unknown or len(flows) > len(_OAUTH_FLOWS):
        raise _constraint(
            flows,
            "allowedOAuthFlows",
            "Member must satisfy constraint: "
            "[Member must satisfy enum value set: [implicit, client_credentials, code]]",
        )
    enabled = bool(params.get("AllowedOAuthFlowsUserPoolClient"))
    if not enabled:
        if flows or scopes:
            raise AdminError(
                "InvalidOAuthFlowException",
                "AllowedOAuthFlowsUserPoolClient must be true to set OAuth flows and scopes.",
            )
        return
    if not flows or not scopes:
        raise AdminError(
            "InvalidOAuthFlowException",
            "AllowedOAuthFlows and AllowedOAuthScopes are required if user pool client is "
            "allowed to use OAuth flows.",
        )
    if "client_credentials" in flows:
        if len(flows) > 1:
            raise AdminError(
                "InvalidOAuthFlowException",
                "client_credentials flow can not be selected along with code flow or "
                "implicit flow.",
            )
        if not has_secret:
            raise AdminError(
                "InvalidOAuthFlowException",
                "client_credentials flow can not be selected if client does not have a "
                "client secret.",
            )
        if _STANDARD_SCOPES & set(scopes) or _ADMIN_SCOPE in scopes:
            raise AdminError(
                "InvalidOAuthFlowException",
                "openid, email, phone, profile and aws.cognito.signin.user.admin are not supported "
                "with client_credentials flow.",
            )
    elif not callback_urls:
        raise AdminError("InvalidOAuthFlowException", "CallbackUrls can not be empty.")


def _check_validities(params: Mapping[str, Any]) -> None:
    units = params.get("TokenValidityUnits") or {}
    for field, unit_key, shortest, longest in _VALIDITY_RANGES:
        value = params.get(field)
        if value is None or (field == "RefreshTokenValidity" and value == 0):
            continue
        unit = units.get(unit_key) or userpools.DEFAULT_UNITS[unit_key]
        if unit not in userpools.UNIT_SECONDS:
            raise _constraint(
                unit,
                f"tokenValidityUnits.{unit_key[0].lower()}{unit_key[1:]}",
                "Member must satisfy enum value set: [seconds, minutes, hours, days]",
            )
        if not shortest <= value * userpools.UNIT_SECONDS[unit] <= longest:
            raise AdminError(
                "InvalidParameterException",
                f"{field} of {value} {unit} is outside {shortest} to {longest} seconds.",
            )
    rotation = params.get("RefreshTokenRotation") or {}
    grace = rotation.get("RetryGracePeriodSeconds", 0)
    if not 0 <= grace <= _MAX_GRACE_SECONDS:
        raise _constraint(
            grace,
            "refreshTokenRotation.retryGracePeriodSeconds",
            f"Member must have value less than or equal to {_MAX_GRACE_SECONDS}",
        )


def check_client_settings(
    params: Mapping[str, Any], pool: userpools.UserPool, has_secret: bool
) -> None:
    """Cognito's checks of an app client's settings; raise ``AdminError`` on the first failure."""
    name = params.get("ClientName")
    if name is not None and not (isinstance(name, str) and _CLIENT_NAME.fullmatch(name)):
        raise _constraint(
            name, "clientName", r"Member must satisfy regular expression pattern: [\w\s+=,.@-]+"
        )
    callback_urls = _check_urls(params, "CallbackURLs", "callbackURLs")
    _check_urls(params, "LogoutURLs", "logoutURLs")
    default_redirect = params.get("DefaultRedirectURI")
    if default_redirect is not None and default_redirect not in callback_urls:
        raise AdminError(
            "InvalidParameterException", "DefaultRedirectURI must be one of the CallbackURLs."
        )
    for provider in params.get("SupportedIdentityProviders") or []:
        if provider != "COGNITO" and provider not in pool.identity_providers:
            raise AdminError(
                "InvalidParameterException",
                f"The provider {provider} does not exist for User Pool {pool.pool_id}",
            )
    _check_scopes(params.get("AllowedOAuthScopes") or [], pool)
    _check_oauth(params, callback_urls, has_secret)
    _check_validities(params)


def _parameters(body: bytes) -> dict[str, Any]:
    """The JSON 1.1 request body as an object."""
    try:
        params = json.loads(body or b"{}")
    except ValueError:
        raise AdminError("SerializationException", "The request body is not valid JSON.") from None
    if not isinstance(params, dict):
        raise AdminError("SerializationException", "The request body must be a JSON object.")
    return params


def _new_secret() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(_SECRET_LENGTH))


class AdminApi:
    """WSGI middleware: Cognito's rules and faults in front of moto's server application."""

    def __init__(self, moto_app: WSGIApp, state: StandInState) -> None:
        self.moto_app = moto_app
        self.state = state
        self._checks: dict[str, _ActionHandler] = {
            "CreateUserPoolClient": self._create_client,
            "UpdateUserPoolClient": self._update_client,
            "CreateUserPoolDomain": self._create_domain,
            "DescribeUserPoolClient": self._describe_client,
        }
        # moto keeps no timestamps for app clients; Cognito returns CreationDate and
        # LastModifiedDate (epoch seconds), which reconcile uses to leave young clients alone.
        self._dates: dict[str, tuple[float, float]] = {}

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(_TARGET_PREFIX):
            return self.moto_app(environ, start_response)
        action = target[len(_TARGET_PREFIX) :]
        try:
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            self._apply_fault(action)
            handler = self._checks.get(action)
            if handler is not None:
                return handler(environ, start_response, _parameters(body))
        except AdminError as error:
            return self._error(error, start_response)
        except (TypeError, AttributeError, ValueError):
            # A raw request with a bad Content-Length or parameters of the wrong JSON types
            # (boto3 never sends one).
            error = AdminError("InvalidParameterException", "The request is malformed.")
            return self._error(error, start_response)
        return self.moto_app(environ, start_response)

    def _apply_fault(self, action: str) -> None:
        fault = self.state.faults.take(action=action)
        if fault is None:
            return
        if fault.kind == "delay":
            self.state.faults.stopping.wait(fault.seconds)
        elif fault.kind == "throttle":
            raise AdminError("TooManyRequestsException", "Rate exceeded")
        else:
            raise AdminError("InternalErrorException", "Internal server error", status=500)

    def _pool(self, params: Mapping[str, Any]) -> userpools.UserPool:
        pool_id = params.get("UserPoolId")
        pool = userpools.user_pool(pool_id) if isinstance(pool_id, str) else None
        if pool is None:
            raise AdminError("ResourceNotFoundException", f"User pool {pool_id} does not exist.")
        return pool

    def _create_client(
        self, environ: dict[str, Any], start_response: Callable[..., Any], params: dict[str, Any]
    ) -> Iterable[bytes]:
        pool = self._pool(params)
        supplied_secret = params.get("ClientSecret")
        if supplied_secret is not None:
            if params.get("GenerateSecret"):
                raise AdminError(
                    "InvalidParameterException",
                    "GenerateSecret and ClientSecret can not be set together.",
                )
            if not (isinstance(supplied_secret, str) and _CLIENT_SECRET.fullmatch(supplied_secret)):
                raise _constraint(
                    "***", "clientSecret", r"Member must satisfy regular expression pattern: [\w+]+"
                )
        has_secret = bool(params.get("GenerateSecret")) or supplied_secret is not None
        check_client_settings(params, pool, has_secret)
        if userpools.client_count(pool.pool_id) >= self.state.options.client_quota:
            raise AdminError(
                "LimitExceededException",
                f"The user pool {pool.pool_id} has reached its limit of app clients.",
            )
        status, headers, body = _call(self.moto_app, environ)
        if status.startswith("200"):
            document = json.loads(body)
            client = document["UserPoolClient"]
            if has_secret:
                secret = supplied_secret or _new_secret()
                userpools.set_client_secret(pool.pool_id, client["ClientId"], secret)
                client["ClientSecret"] = secret
            now = self.state.clock()
            self._dates[client["ClientId"]] = (now, now)
            client.update(CreationDate=now, LastModifiedDate=now)
            body, headers = _rewritten(document, headers)
        start_response(status, headers)
        return [body]

    def _describe_client(
        self, environ: dict[str, Any], start_response: Callable[..., Any], params: dict[str, Any]
    ) -> Iterable[bytes]:
        status, headers, body = _call(self.moto_app, environ)
        dates = self._dates.get(str(params.get("ClientId")))
        if status.startswith("200") and dates is not None:
            document = json.loads(body)
            document["UserPoolClient"].update(CreationDate=dates[0], LastModifiedDate=dates[1])
            body, headers = _rewritten(document, headers)
        start_response(status, headers)
        return [body]

    def _update_client(
        self, environ: dict[str, Any], start_response: Callable[..., Any], params: dict[str, Any]
    ) -> Iterable[bytes]:
        pool = self._pool(params)
        client = userpools.existing_client(pool.pool_id, str(params.get("ClientId")))
        # An unknown client is left to moto, which answers ResourceNotFoundException.
        if client is not None:
            check_client_settings(params, pool, client.confidential)
            userpools.reset_client_settings(pool.pool_id, client.client_id)
            created, _ = self._dates.get(client.client_id, (self.state.clock(), 0.0))
            self._dates[client.client_id] = (created, self.state.clock())
        return self.moto_app(environ, start_response)

    def _create_domain(
        self, environ: dict[str, Any], start_response: Callable[..., Any], params: dict[str, Any]
    ) -> Iterable[bytes]:
        if userpools.domain_taken(str(params.get("Domain"))):
            raise AdminError(
                "InvalidParameterException", "Domain already associated with another user pool."
            )
        return self.moto_app(environ, start_response)

    @staticmethod
    def _error(error: AdminError, start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = json.dumps({"__type": error.error_type, "message": error.message}).encode()
        reason = "Bad Request" if error.status == 400 else "Internal Server Error"
        start_response(
            f"{error.status} {reason}",
            [
                ("Content-Type", _AMZ_JSON),
                ("Content-Length", str(len(body))),
                ("x-amzn-ErrorType", error.error_type),
                ("x-amzn-RequestId", str(uuid.uuid4())),
            ],
        )
        return [body]


def _rewritten(
    document: Any, headers: list[tuple[str, str]]
) -> tuple[bytes, list[tuple[str, str]]]:
    """A changed JSON body and its headers with the Content-Length to match."""
    body = json.dumps(document).encode()
    kept = [(name, value) for name, value in headers if name.lower() != "content-length"]
    return body, [*kept, ("Content-Length", str(len(body)))]


def _call(app: WSGIApp, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run a WSGI application to completion and return its status, headers and body."""
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        captured["status"], captured["headers"] = status, list(headers)

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return captured["status"], captured["headers"], body
