"""The MCP server's Lambda entry point: ``mcpserver.lambda_handler.handler``.

The application is built at import, so its work (settings, the Secrets Manager read) happens in the
init phase, which SnapStart snapshots, and every warm invocation reuses it. The session keys are
read again right after each restore, so a key rotated in Secrets Manager takes effect without
publishing a new version.
"""

from __future__ import annotations

from servicekit.imports import defer_package_init

# Before anything imports the SDK: the server needs mcp.server and mcp.types, not the client that
# mcp/__init__ imports (a tenth of the cold start).
defer_package_init("mcp")

from mcpserver.aws_lambda import build_handler  # noqa: E402
from mcpserver.settings import Settings  # noqa: E402
from servicekit.keys import refresh_after_restore  # noqa: E402

settings = Settings.from_env()
refresh_after_restore(settings.session_keys)
handler = build_handler(settings)
