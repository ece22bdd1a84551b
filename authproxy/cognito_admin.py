"""The Cognito admin API adapter (botocore ``cognito-idp``): backing app clients (design D4).

Everything the façade asks of Cognito's control plane goes through :class:`CognitoAdmin`, so the
rules Cognito enforces (name pattern, callback and scope limits, rate limits) are met in one place
and its errors become :class:`CognitoAdminError` naming the API call.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from servicekit import aws
from servicekit.metrics import Metrics

log = logging.getLogger(__name__)

# Cognito ClientName: 1-128 characters of [\w\s+=,.@-], where \w is ASCII (Java regex semantics).
_NAME_UNSAFE = re.compile(r"[^\w\s+=,.@-]+", re.ASCII)
NAME_PREFIX = "authproxy-"
MARK_LENGTH = 10
_MARKED = re.compile(rf"{NAME_PREFIX}[0-9a-f]{{{MARK_LENGTH}}}-")
MAX_NAME = 128
THROTTLING = frozenset({"TooManyRequestsException", "ThrottlingException"})
# Cognito's own failures and broken or timed-out connections (BotoCoreError, below): nothing the
# request did wrong, so the same request may succeed shortly.
TRANSIENT = frozenset({"InternalErrorException", "ServiceUnavailableException", "ConnectionError"})
ROTATION_UNAVAILABLE = frozenset({"FeatureUnavailableInTierException", "InvalidParameterException"})
# One retry, then the caller answers 503 with Retry-After: a registration request should not hang
# on Cognito's 5-per-second-per-pool limit, and botocore counts LimitExceededException (here the
# app-client quota, which no retry fixes) as throttling.
_BOTO_CONFIG = {
    "retries": {"mode": "standard", "max_attempts": 2},
    "connect_timeout": 5,
    "read_timeout": 10,
}


_METRICS = Metrics("authproxy")


class CognitoAdminError(Exception):
    """A Cognito admin call failed; ``code`` is Cognito's exception name."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation} failed: {code}: {message}")
        self.operation = operation
        self.code = code
        self.message = message

    @property
    def throttled(self) -> bool:
        return self.code in THROTTLING

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT

    @property
    def quota_exceeded(self) -> bool:
        """The pool holds as many app clients as its quota allows (1,000 by default)."""
        return self.code == "LimitExceededException"

    @property
    def not_found(self) -> bool:
        return self.code == "ResourceNotFoundException"


@dataclass(frozen=True)
class CreatedClient:
    client_id: str
    client_secret: str
    rotation: bool


def deployment_mark(store_url: str, region: str) -> str:
    """The owner mark of one deployment (design D4): hex digits derived from its registration
    store, the one thing two deployments sharing a user pool never share (their rows are what
    says which backing client is whose). The façade and ``authproxy clients`` derive it from the
    same settings (``AUTHPROXY_STORE``, ``AWS_REGION``); a SQLite path counts as resolved."""
    if store_url.startswith("sqlite:///"):
        identity = "sqlite:" + str(Path(store_url.removeprefix("sqlite:///")).resolve())
    else:
        identity = f"{store_url} {region}"
    return hashlib.sha256(identity.encode()).hexdigest()[:MARK_LENGTH]


def owner_prefix(mark: str) -> str:
    return f"{NAME_PREFIX}{mark}-"


def backing_client_name(mark: str, client_name: str) -> str:
    """A Cognito-valid ClientName (``[\\w\\s+=,.@-]``, ASCII, at most 128 characters): the
    owner mark, then the client's display name. The name is the only free-form field an app
    client has, and ListUserPoolClients returns it, so ownership is read without a describe."""
    cleaned = " ".join(_NAME_UNSAFE.sub(" ", client_name).split()) or "client"
    return (owner_prefix(mark) + cleaned)[:MAX_NAME]


def owned_by(mark: str, client: dict[str, Any]) -> bool:
    """Whether a listed or described app client carries this deployment's mark."""
    return str(client.get("ClientName", "")).startswith(owner_prefix(mark))


def unmarked(client: dict[str, Any]) -> bool:
    """Named by a release before owner marks: ``authproxy-<name>`` with no deployment's mark."""
    name = str(client.get("ClientName", ""))
    return name.startswith(NAME_PREFIX) and not _MARKED.match(name)


class CognitoAdmin:
    """One user pool's app clients, created as the façade needs them."""

    def __init__(
        self,
        user_pool_id: str,
        region: str,
        endpoint_url: str | None = None,
        client: Any | None = None,
    ) -> None:
        self.user_pool_id = user_pool_id
        self._client = aws.LazyClient(
            "cognito-idp", region, endpoint_url=endpoint_url, config=_BOTO_CONFIG, client=client
        )
        # None until the pool tells us whether it offers refresh-token rotation.
        self._rotation: bool | None = None

    @property
    def _idp(self) -> Any:
        return self._client.connect()

    def connect(self) -> None:
        """Make the ``cognito-idp`` client now rather than on first use (before a snapshot)."""
        self._client.connect()

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            return getattr(self._idp, _snake(operation))(UserPoolId=self.user_pool_id, **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            failure = CognitoAdminError(
                operation, error.get("Code", "Unknown"), error.get("Message", "")
            )
            if failure.throttled:
                _METRICS.emit("CognitoThrottles", Operation=operation)
            raise failure from None
        except ParamValidationError as exc:
            # An older botocore than the API (e.g. a Lambda runtime's) lacks newer parameters.
            raise CognitoAdminError(operation, "ParamValidationError", str(exc)) from None
        except BotoCoreError as exc:
            # The botocore name says which: NoCredentialsError, EndpointConnectionError, …
            raise CognitoAdminError(operation, type(exc).__name__, str(exc)) from None
        finally:
            _METRICS.timed(operation, started)

    def create_client(
        self,
        *,
        owner: str,
        name: str,
        callback_url: str,
        scopes: Sequence[str],
        identity_providers: Sequence[str],
    ) -> CreatedClient:
        """CreateUserPoolClient: a confidential ``code``-flow client whose only callback is the
        façade's, with token revocation and, where the pool offers it, refresh-token rotation;
        named with the ``owner`` mark of the deployment creating it."""
        base = {
            "ClientName": backing_client_name(owner, name),
            "GenerateSecret": True,
            "AllowedOAuthFlows": ["code"],
            "AllowedOAuthFlowsUserPoolClient": True,
            "AllowedOAuthScopes": list(scopes),
            "CallbackURLs": [callback_url],
            "SupportedIdentityProviders": list(identity_providers),
            "EnableTokenRevocation": True,
            "PreventUserExistenceErrors": "ENABLED",
        }
        if self._rotation is not False:
            try:
                created = self._call(
                    "CreateUserPoolClient",
                    **base,
                    # REFRESH_TOKEN_AUTH is refused on rotating clients; managed login needs no
                    # SDK flow, and SRP needs the secret only the façade holds.
                    ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH"],
                    RefreshTokenRotation={"Feature": "ENABLED", "RetryGracePeriodSeconds": 30},
                )["UserPoolClient"]
                self._rotation = True
                return CreatedClient(created["ClientId"], created["ClientSecret"], rotation=True)
            except CognitoAdminError as exc:
                if exc.code not in ROTATION_UNAVAILABLE or "rotation" not in exc.message.lower():
                    raise
                log.warning(
                    "refresh token rotation unavailable for this pool; creating without it",
                    extra={"cognito_error": exc.code},
                )
                self._rotation = False
        created = self._call(
            "CreateUserPoolClient", **base, ExplicitAuthFlows=["ALLOW_REFRESH_TOKEN_AUTH"]
        )["UserPoolClient"]
        return CreatedClient(created["ClientId"], created["ClientSecret"], rotation=False)

    def client_secret(self, client_id: str) -> str:
        """DescribeUserPoolClient returns the secret; used when the sealed copy cannot be opened."""
        described = self._call("DescribeUserPoolClient", ClientId=client_id)
        return str(described["UserPoolClient"]["ClientSecret"])

    def describe_client(self, client_id: str) -> dict[str, Any]:
        return dict(self._call("DescribeUserPoolClient", ClientId=client_id)["UserPoolClient"])

    def _update(
        self, client_id: str, changes: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """UpdateUserPoolClient with ``changes(described)``. It resets every field it is not
        given, so the update carries back everything DescribeUserPoolClient returned."""
        described = self.describe_client(client_id)
        updatable = self._idp.meta.service_model.operation_model(
            "UpdateUserPoolClient"
        ).input_shape.members
        fields = {k: v for k, v in described.items() if k in updatable and k != "UserPoolId"}
        fields.update(changes(described))
        self._call("UpdateUserPoolClient", **fields)
        return fields

    def add_scopes(self, client_id: str, scopes: Sequence[str]) -> list[str]:
        """Give an app client more OAuth scopes (a resource the façade fronts since it was made).
        Returns the scopes now allowed."""

        def more(described: dict[str, Any]) -> dict[str, Any]:
            current = list(described.get("AllowedOAuthScopes", []))
            return {"AllowedOAuthScopes": [*current, *(s for s in scopes if s not in current)]}

        return list(self._update(client_id, more)["AllowedOAuthScopes"])

    def adopt(self, client_id: str, owner: str) -> str:
        """Rename a backing client made before owner marks (``authproxy-<name>``) to carry
        ``owner``'s mark; returns the new name."""

        def marked(described: dict[str, Any]) -> dict[str, Any]:
            name = str(described.get("ClientName", "")).removeprefix(NAME_PREFIX)
            return {"ClientName": backing_client_name(owner, name)}

        return str(self._update(client_id, marked)["ClientName"])

    def delete_client(self, client_id: str) -> None:
        """DeleteUserPoolClient; a client that is already gone counts as deleted."""
        try:
            self._call("DeleteUserPoolClient", ClientId=client_id)
        except CognitoAdminError as exc:
            if not exc.not_found:
                raise

    def list_clients(self) -> Iterator[dict[str, Any]]:
        """ListUserPoolClients, every page (60 a page; empty pages may still carry a token)."""
        token: str | None = None
        while True:
            page = self._call(
                "ListUserPoolClients", MaxResults=60, **({"NextToken": token} if token else {})
            )
            yield from page.get("UserPoolClients", [])
            token = page.get("NextToken")
            if not token:
                return

    def describe_resource_server(self, identifier: str) -> dict[str, Any]:
        return dict(self._call("DescribeResourceServer", Identifier=identifier)["ResourceServer"])


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
