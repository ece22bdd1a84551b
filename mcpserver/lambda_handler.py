"""The MCP server's Lambda entry point: ``mcpserver.lambda_handler.handler``.

The application is built at import, so its work (settings, the Secrets Manager read) happens in the
init phase, which SnapStart snapshots, and every warm invocation reuses it. The session keys are
read again right after each restore, so a key rotated in Secrets Manager takes effect without
publishing a new version.

The cyclic garbage collector is off while init runs. Importing the SDK builds about 130,000
tracked objects that live as long as the execution environment, and the collector's ~200 passes
over them cost a tenth of the cold start while finding under a thousand unreachable ones. What the
imports built is frozen (never scanned again, its few cycles kept); the application's build and
rehearsal are then collected and frozen as before (:class:`mcpserver.aws_lambda.LambdaApp`), and
the collector is turned back on, also when init fails.
"""

from __future__ import annotations

import gc

gc.disable()
try:
    from servicekit.imports import defer_package_init

    # Before anything imports the SDK: the server needs mcp.server and mcp.types, not the client
    # that mcp/__init__ imports (a tenth of the cold start).
    defer_package_init("mcp")

    from mcpserver.aws_lambda import build_handler
    from mcpserver.settings import Settings
    from servicekit.keys import refresh_after_restore

    gc.freeze()
    settings = Settings.from_env()
    refresh_after_restore(settings.session_keys)
    handler = build_handler(settings)
finally:
    gc.enable()
