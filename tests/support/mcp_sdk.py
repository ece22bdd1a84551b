"""The parts an application supplies to the official ``mcp`` SDK's ``OAuthClientProvider``: token
storage, and the redirect and callback handlers of its browser step, here a person signing in
without a browser."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import anyio.to_thread
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from .person import Person


class MemoryStorage:
    """The SDK's ``TokenStorage`` protocol in memory; remembers every registration it was given."""

    def __init__(self, client_info: OAuthClientInformationFull | None = None) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info = client_info
        self.registrations: list[OAuthClientInformationFull] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        if self.client_info is None or client_info.client_id != self.client_info.client_id:
            self.registrations.append(client_info)
        self.client_info = client_info


class SignIn:
    """``redirect_handler`` and ``callback_handler``: a person signs in at each authorization URL
    and hands the redirect to the client instead of following it (nothing listens there)."""

    def __init__(self, person: Person) -> None:
        self.person = person
        self.authorization_urls: list[str] = []
        self.callbacks: list[str] = []

    async def redirect(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        self.callbacks.append(
            await anyio.to_thread.run_sync(self.person.sign_in, authorization_url)
        )

    async def callback(self) -> AuthorizationCodeResult:
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.callbacks[-1]).query).items()}
        return AuthorizationCodeResult(
            code=query["code"], state=query.get("state"), iss=query.get("iss")
        )


def oauth_provider(
    server_url: str, client_name: str, redirect_uri: str, storage: MemoryStorage, sign_in: SignIn
) -> OAuthClientProvider:
    """The SDK's OAuth provider as an application sets it up: it registers (RFC 7591) for the
    authorization-code and refresh grants, keeps its tokens in ``storage`` and signs in through
    ``sign_in``."""
    return OAuthClientProvider(
        server_url,
        OAuthClientMetadata(
            client_name=client_name,
            redirect_uris=[redirect_uri],  # type: ignore[list-item]
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage,
        redirect_handler=sign_in.redirect,
        callback_handler=sign_in.callback,
    )
