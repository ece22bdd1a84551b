"""Bedrock usage: totals, daily, per model and per caller, from model-invocation logs.

Bedrock writes one JSON record per model invocation to a CloudWatch Logs group when model
invocation logging is on ("Monitor model invocation using CloudWatch Logs" in the Bedrock user
guide). The report reads those records for the last ``days`` days and adds up their token counts.
"""

from __future__ import annotations

import functools
import json
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from mcpserver.tools.aws import Region, aws_errors, client, tool_error

DEFAULT_LOG_GROUP = "/aws/bedrock/modelinvocations"
# Bounds on the work one call does: up to 200 pages of up to 10,000 events, and no longer than
# leaves a Lambda (60 s) time to answer; past either, the report says it is truncated.
MAX_PAGES = 200
MAX_SECONDS = 40

LogGroup = Annotated[
    str | None,
    Field(
        pattern=r"^[\.\-_/#A-Za-z0-9]{1,512}$",
        description="CloudWatch Logs group of the Bedrock invocation logs; defaults to the "
        "server's",
    ),
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
    truncated: bool = Field(
        description="True if the log group had more events than one call reads in time"
    )


def _token_count(section: Any, key: str) -> int:
    value = section.get(key) if isinstance(section, dict) else None
    return value if isinstance(value, int) and value >= 0 else 0


class Tally:
    """Adds up model-invocation log records as they are read (totals, by day, model and caller),
    so a report holds counts, not events."""

    def __init__(self) -> None:
        self.totals = Usage()
        self.daily: defaultdict[str, Usage] = defaultdict(Usage)
        self.models: defaultdict[str, Usage] = defaultdict(Usage)
        self.callers: defaultdict[str, Usage] = defaultdict(Usage)
        self.events = 0
        self.skipped = 0

    def add(self, message: str) -> None:
        self.events += 1
        try:
            record = json.loads(message)
        except ValueError:
            self.skipped += 1
            return
        if not isinstance(record, dict) or not isinstance(record.get("modelId"), str):
            self.skipped += 1
            return
        input_tokens = _token_count(record.get("input"), "inputTokenCount")
        output_tokens = _token_count(record.get("output"), "outputTokenCount")
        # A model ARN names the model after its last slash.
        model = record["modelId"].rsplit("/", 1)[-1]
        identity = record.get("identity")
        caller = identity.get("arn") if isinstance(identity, dict) else None
        day = str(record.get("timestamp", ""))[:10] or "unknown"
        for usage in (
            self.totals,
            self.daily[day],
            self.models[model],
            self.callers[caller or "unknown"],
        ):
            usage.add(input_tokens, output_tokens)

    def summary(self) -> UsageSummary:
        return UsageSummary(
            totals=self.totals,
            daily=dict(sorted(self.daily.items())),
            models=dict(self.models),
            callers=dict(self.callers),
            skipped_events=self.skipped,
        )


def register(server: MCPServer, default_region: str, default_log_group: str) -> None:
    """Add the Bedrock usage report tool to ``server``, reading ``default_log_group`` unless the
    caller names another (which the function's role must then be allowed to read)."""

    @server.tool(annotations=REPORT_ANNOTATIONS)
    async def bedrock_usage_report(
        ctx: Context,
        region: Region = None,
        log_group: LogGroup = None,
        days: Annotated[int, Field(ge=1, le=90, description="How many days back, 1 to 90")] = 1,
    ) -> UsageReport:
        """Bedrock usage from model-invocation logs: requests and tokens in total, per day,
        per model and per caller, over the last `days` days."""
        region = region or default_region
        log_group = log_group or default_log_group
        end = datetime.now(UTC)
        start = end - timedelta(days=days)
        request: dict[str, Any] = {
            "logGroupName": log_group,
            "startTime": int(start.timestamp() * 1000),
            "endTime": int(end.timestamp() * 1000),
        }
        tally = Tally()
        truncated = False
        deadline = time.monotonic() + MAX_SECONDS
        try:
            logs = await anyio.to_thread.run_sync(client, "logs", region)
            for page_number in range(1, MAX_PAGES + 1):
                page = await anyio.to_thread.run_sync(
                    functools.partial(logs.filter_log_events, **request)
                )
                for event in page.get("events", []):
                    tally.add(event.get("message", ""))
                await ctx.report_progress(
                    page_number, message=f"Read {tally.events} log events from {log_group}"
                )
                if not page.get("nextToken"):
                    break
                if time.monotonic() > deadline:
                    truncated = True
                    break
                request["nextToken"] = page["nextToken"]
            else:
                truncated = True
        except aws_errors() as exc:
            raise tool_error(exc) from exc
        return UsageReport(
            **dict(tally.summary()),
            region=region,
            log_group=log_group,
            start=start.isoformat(timespec="seconds"),
            end=end.isoformat(timespec="seconds"),
            truncated=truncated,
        )
