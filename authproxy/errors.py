"""OAuth error responses (RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 7009 §2.2.1, RFC 8707 §2).

Every refusal the façade makes is an :class:`OAuthError`; the endpoint that raised it decides how
it reaches the client: a JSON body at the token, registration and revocation endpoints, a redirect
with ``error`` and ``state`` from ``/authorize`` once the redirect URI is trusted, or an HTML page
when it is not (never an open redirect).
"""

from __future__ import annotations

from starlette.responses import JSONResponse

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """An error the client can act on, named by its registered OAuth error code."""

    def __init__(
        self,
        error: str,
        description: str = "",
        *,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body

    def response(self) -> JSONResponse:
        return JSONResponse(
            self.body(), status_code=self.status, headers={**NO_STORE, **self.headers}
        )


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def invalid_client(description: str = "client authentication failed") -> OAuthError:
    # RFC 6749 §5.2: 401 with a challenge when the client tried HTTP Basic; harmless otherwise.
    return OAuthError(
        "invalid_client",
        description,
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="token"'},
    )


def invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def temporarily_unavailable(description: str, retry_after: int = 5) -> OAuthError:
    """Cognito timed out or throttled us; the client should retry, not re-authenticate."""
    return OAuthError(
        "temporarily_unavailable",
        description,
        status=503,
        headers={"Retry-After": str(retry_after)},
    )
