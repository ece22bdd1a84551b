"""The boto3 edge: clients for the tools, and AWS errors turned into tool errors.

boto3 is imported on first use, not at start-up: requests that never reach a tool (the 401 that
starts every client's sign-in, metadata, listings) should not pay for its import on a cold start.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

# Optional in every tool: the annotation carries None so that the description stays on the
# parameter itself (a description inside one branch of anyOf is one clients do not show).
Region = Annotated[
    str | None,
    Field(
        pattern=r"^[a-z]{2}(-[a-z]+)+-\d$",
        description="AWS region, e.g. eu-west-1; defaults to the server's region",
    ),
]

# Tool calls should fail fast and visibly rather than outlive an API Gateway's 29-second limit.
_CONNECT_TIMEOUT = 5
_READ_TIMEOUT = 20


@functools.lru_cache(maxsize=32)
def client(service: str, region: str) -> Any:
    """A boto3 client for ``service`` in ``region``, created once per process and region."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=_CONNECT_TIMEOUT,
        read_timeout=_READ_TIMEOUT,
        retries={"mode": "standard", "max_attempts": 3},
    )
    return boto3.client(service, region_name=region, config=config)


def aws_errors() -> tuple[type[Exception], ...]:
    """The exceptions a boto3 call raises for an AWS-side or transport failure."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def tool_error(exc: Exception) -> ToolError:
    """A ``ToolError`` (a result with ``isError: true``) carrying the AWS error code and message."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        error = response["Error"]
        return ToolError(f"AWS error {error.get('Code', 'Unknown')}: {error.get('Message', '')}")
    return ToolError(f"AWS error: {exc}")
