"""`authproxy trace`: sign-ins rebuilt from access-log lines, joined to the MCP calls their tokens
made, the first failure named in words; from a file or from CloudWatch Logs Insights."""

from __future__ import annotations

import json
import time

import boto3
from moto import mock_aws

from authproxy import trace


def line(t: int, step: str, status: int = 200, **fields: object) -> str:
    return json.dumps(
        {
            "time": f"2026-11-30T10:00:{t:02d}+0000",
            "step": step,
            "status": status,
            "duration_ms": 3.0,
            **fields,
        }
    )


SIGN_IN = [
    line(1, "register", 201, client_id="c1"),
    line(2, "authorize", 200, client_id="c1", flow_id="f1"),
    line(3, "consent", 302, client_id="c1", flow_id="f1"),
    line(4, "callback", 302, client_id="c1", flow_id="f1"),
    line(5, "token", 200, client_id="c1", flow_id="f1", user="alice", origin_jti="j1"),
    line(6, "mcp", 200, origin_jti="j1", subject="sub-a", rpc_method="tools/call", tool="whoami"),
    line(7, "mcp", 200, origin_jti="j2", subject="sub-b", rpc_method="tools/call"),  # another
    "a banner line that is not JSON",
]


def test_one_sign_in_in_order_from_register_to_the_mcp_call() -> None:
    (flow,) = trace.select(trace.flows(trace.read_lines(SIGN_IN)), "c1")
    assert [e.step for e in flow.events] == [
        "register",
        "authorize",
        "consent",
        "callback",
        "token",
        "mcp",
    ]
    assert flow.user == "alice"
    assert flow.first_failure is None
    rendered = trace.render([flow])
    assert "flow f1  client c1  user alice" in rendered
    assert "tool=whoami" in rendered


def test_the_same_flow_is_found_by_flow_id_and_by_user() -> None:
    all_flows = trace.flows(trace.read_lines(SIGN_IN))
    assert trace.select(all_flows, "f1") == trace.select(all_flows, "alice")


def test_a_failed_token_exchange_names_the_step_and_its_likely_cause() -> None:
    failed = [
        *SIGN_IN[:4],
        line(5, "token", 400, client_id="c1", flow_id="f1", error="invalid_grant"),
    ]
    (flow,) = trace.select(trace.flows(trace.read_lines(failed)), "c1")
    assert flow.first_failure is not None
    assert flow.first_failure.step == "token"
    rendered = trace.render([flow])
    assert "✗" in rendered
    assert "first failure: token — " in rendered
    assert "code_verifier does not match" in rendered


def test_nothing_found_says_so() -> None:
    assert trace.render(trace.select(trace.flows(trace.read_lines(SIGN_IN)), "nobody")) == (
        "no sign-ins found for that client, flow or user"
    )


def test_lines_come_from_cloudwatch_logs_insights() -> None:
    with mock_aws():
        logs = boto3.client("logs", region_name="us-east-1")
        for group, lines in (("/facade", SIGN_IN[:5]), ("/mcp", SIGN_IN[5:7])):
            logs.create_log_group(logGroupName=group)
            logs.create_log_stream(logGroupName=group, logStreamName="s")
            logs.put_log_events(
                logGroupName=group,
                logStreamName="s",
                logEvents=[
                    {"timestamp": int(time.time() * 1000) + i, "message": m}
                    for i, m in enumerate(lines)
                ],
            )
        lines = trace.cloudwatch_lines(logs, ["/facade", "/mcp"], 3600, poll=0)
    (flow,) = trace.select(trace.flows(trace.read_lines(lines)), "alice")
    assert [e.step for e in flow.events][-1] == "mcp"
