"""What every endpoint shares: settings and the adapters built once per process by :mod:`.app`."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from .cimd import MetadataDocuments
from .clients import Registrar
from .cognito_oauth import CognitoOAuth
from .sealing import Sealer
from .settings import Settings


@dataclass(frozen=True)
class AppState:
    settings: Settings
    registrar: Registrar
    sealer: Sealer
    upstream: CognitoOAuth
    documents: MetadataDocuments


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.authproxy
    return state
