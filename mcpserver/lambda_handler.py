"""The MCP server's Lambda entry point: ``mcpserver.lambda_handler.handler``.

The application is built at import, so its work (settings, the Secrets Manager read) happens in the
init phase, which SnapStart snapshots, and every warm invocation reuses it. The session keys are
read again right after each restore, so a key rotated in Secrets Manager takes effect without
publishing a new version.
"""

from __future__ import annotations

from mcpserver.aws_lambda import build_handler
from mcpserver.settings import Settings
from servicekit.keys import refresh_after_restore

settings = Settings.from_env()
refresh_after_restore(settings.session_keys)
handler = build_handler(settings)
