"""Ours, as the bench serves it with uvicorn: ``uvicorn --factory ours:app`` builds the MCP server
from the same environment its Lambda handler (``mcpserver.lambda_handler``) reads."""

from __future__ import annotations

from starlette.applications import Starlette

from mcpserver.app import create_app
from mcpserver.settings import Settings


def app() -> Starlette:
    return create_app(Settings.from_env())
