"""Bedrock usage: totals, daily, per model and per caller, from model-invocation logs.

Bedrock writes one JSON record per model invocation to a CloudWatch Logs group when model
invocation logging is on ("Monitor model invocation using CloudWatch Logs" in the Bedrock user
guide). The report reads those records for the last ``days`` days and adds up their token counts.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from mcpserver.tools.aws import Region, aws_errors, client, tool_error

DEFAULT_LOG_GROUP = "/aws/bedrock/modelinvocations"
# A bound on the work one call does: 10,000 events a page, so up to two million invocations.
MAX_PAGES = 200

LogGroup = Annotated[
    str,
    Field(pattern=r"^[\.\-_/#A-Za-z0-9]{1,512}$", description="CloudWatch Logs group name"),
]

REPORT_ANNOTATIONS = ToolAnnotations(
    title="Bedrock usage report",
    read_only_hint=True,
    destructive_hint=False,
    idempotent_hint=True,
    open_world_hint=True,
)


class Usage(BaseModel):
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0

    def add(self, input_tokens: int, output_tokens: int) -> None:
        self.requests += 1
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.total_tokens += input_tokens + output_tokens


class UsageSummary(BaseModel):
    totals: Usage
    daily: dict[str, Usage] = Field(description="By UTC day, YYYY-MM-DD")
    models: dict[str, Usage] = Field(description="By model id")
    callers: dict[str, Usage] = Field(description="By caller identity (IAM ARN)")
    skipped_events: int = Field(description="Log events that are not model-invocation records")


class UsageReport(UsageSummary):
    region: str
    log_group: str
    start: str
    end: str
    truncated: bool = Field(description="True if the log group had more events than one call reads")


def _token_count(section: Any, key: str) -> int:
    value = section.get(key) if isinstance(section, dict) else None
    return value if isinstance(value, int) and value >= 0 else 0


def summarize(messages: Iterable[str]) -> UsageSummary:
    """Add up model-invocation log records (totals, by day, model and caller); count the rest."""
    totals = Usage()
    daily: defaultdict[str, Usage] = defaultdict(Usage)
    models: defaultdict[str, Usage] = defaultdict(Usage)
    callers: defaultdict[str, Usage] = defaultdict(Usage)
    skipped = 0
    for message in messages:
        try:
            record = json.loads(message)
        except ValueError:
            skipped += 1
            continue
        if not isinstance(record, dict) or not isinstance(record.get("modelId"), str):
            skipped += 1
            continue
        input_tokens = _token_count(record.get("input"), "inputTokenCount")
        output_tokens = _token_count(record.get("output"), "outputTokenCount")
        # A model ARN names the model after its last slash.
        model = record["modelId"].rsplit("/", 1)[-1]
        identity = record.get("identity")
        caller = identity.get("arn") if isinstance(identity, dict) else None
        day = str(record.get("timestamp", ""))[:10] or "unknown"
        for usage in (totals, daily[day], models[model], callers[caller or "unknown"]):
            usage.add(input_tokens, output_tokens)
    return UsageSummary(
        totals=totals,
        daily=dict(sorted(daily.items())),
        models=dict(models),
        callers=dict(callers),
        skipped_events=skipped,
    )


def register(server: MCPServer, default_region: str) -> None:
    """Add the Bedrock usage report tool to ``server``."""

    @server.tool(annotations=REPORT_ANNOTATIONS)
    async def bedrock_usage_report(
        ctx: Context,
        region: Region | None = None,
        log_group: LogGroup = DEFAULT_LOG_GROUP,
        days: Annotated[int, Field(ge=1, le=90)] = 1,
    ) -> UsageReport:
        """Bedrock usage from model-invocation logs: requests and tokens in total, per day,
        per model and per caller, over the last `days` days."""
        region = region or default_region
        end = datetime.now(UTC)
        start = end - timedelta(days=days)
        request: dict[str, Any] = {
            "logGroupName": log_group,
            "startTime": int(start.timestamp() * 1000),
            "endTime": int(end.timestamp() * 1000),
        }
        messages: list[str] = []
        truncated = False
        try:
            logs = await anyio.to_thread.run_sync(client, "logs", region)
            for page_number in range(1, MAX_PAGES + 1):
                page = await anyio.to_thread.run_sync(
                    functools.partial(logs.filter_log_events, **request)
                )
                messages.extend(event.get("message", "") for event in page.get("events", []))
                await ctx.report_progress(
                    page_number, message=f"Read {len(messages)} log events from {log_group}"
                )
                if not page.get("nextToken"):
                    break
                request["nextToken"] = page["nextToken"]
            else:
                truncated = True
        except aws_errors() as exc:
            raise tool_error(exc) from exc
        return UsageReport(
            **dict(summarize(messages)),
            region=region,
            log_group=log_group,
            start=start.isoformat(timespec="seconds"),
            end=end.isoformat(timespec="seconds"),
            truncated=truncated,
        )
