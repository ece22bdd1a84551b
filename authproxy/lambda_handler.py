"""AWS Lambda entry point for the façade: Application Load Balancer, API Gateway HTTP API and
Function URL events.

The application is built at import, so its work (settings, the Secrets Manager read) happens in
the init phase, which SnapStart snapshots, and warm invocations reuse it. The AWS clients are made
on first use, or before the snapshot under SnapStart (``create_lambda_handler``). The
sealing keys are read again right after each restore (``create_app``), so a key rotated
in Secrets Manager takes effect without publishing a new version.
"""

from __future__ import annotations

from .app import create_lambda_handler
from .settings import Settings

handler = create_lambda_handler(Settings.from_env())
