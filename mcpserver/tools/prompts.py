"""Prompt templates a user can pick in their client."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from mcpserver.tools.bedrock_usage import LogGroup


def register(server: MCPServer) -> None:
    """Add the prompts to ``server``."""

    @server.prompt(
        name="summarize_log_group",
        title="Summarize a CloudWatch Logs group",
        description="Ask for a summary of recent activity in one CloudWatch Logs group",
    )
    def summarize_log_group(
        log_group: LogGroup,
        hours: Annotated[int, Field(ge=1, le=720)] = 24,
    ) -> str:
        return (
            f"Summarize the last {hours} hours of the CloudWatch Logs group {log_group}. "
            "Group similar messages, give counts and time ranges, call out errors and anything "
            "unusual first, and end with the three things most worth a closer look. If the group "
            "holds Bedrock model-invocation logs, get the numbers from bedrock_usage_report."
        )
