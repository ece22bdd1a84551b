"""The MCP server's Lambda entry point: ``mcpserver.lambda_handler.handler``.

The application is built at import, so its work (settings, the Secrets Manager read) happens in the
init phase, which SnapStart snapshots, and every warm invocation reuses it.
"""

from __future__ import annotations

from mcpserver.aws_lambda import build_handler
from mcpserver.settings import Settings

handler = build_handler(Settings.from_env())
