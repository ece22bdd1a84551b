import json
from collections.abc import Iterable

from mcpserver.tools.bedrock_usage import Tally, UsageSummary


def summarize(messages: Iterable[str]) -> UsageSummary:
    tally = Tally()
    for message in messages:
        tally.add(message)
    return tally.summary()


def record(
    model: str,
    day: str = "2026-11-20",
    caller: str | None = "arn:aws:iam::1:user/a",
    tokens_in: object = 10,
    tokens_out: object = 2,
) -> str:
    return json.dumps(
        {
            "timestamp": f"{day}T08:00:00Z",
            "identity": {"arn": caller} if caller else None,
            "modelId": model,
            "input": {"inputTokenCount": tokens_in},
            "output": {"outputTokenCount": tokens_out},
        }
    )


def test_summarize_adds_up_by_day_model_and_caller() -> None:
    summary = summarize(
        [
            record("amazon.nova-lite-v1:0", day="2026-11-21"),
            record("amazon.nova-lite-v1:0", day="2026-11-20", tokens_in=5, tokens_out=5),
            record("arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-v2", caller=None),
        ]
    )
    assert summary.totals.model_dump() == {
        "requests": 3,
        "input_tokens": 25,
        "output_tokens": 9,
        "total_tokens": 34,
    }
    assert list(summary.daily) == ["2026-11-20", "2026-11-21"]
    assert summary.daily["2026-11-20"].requests == 2
    assert set(summary.models) == {"amazon.nova-lite-v1:0", "anthropic.claude-v2"}
    assert summary.callers["unknown"].requests == 1
    assert summary.callers["arn:aws:iam::1:user/a"].total_tokens == 22
    assert summary.skipped_events == 0


def test_summarize_skips_what_is_not_an_invocation_record() -> None:
    summary = summarize(["plain text", "[1, 2]", json.dumps({"no": "model"})])
    assert summary.skipped_events == 3
    assert summary.totals.requests == 0


def test_bad_token_counts_count_as_zero() -> None:
    summary = summarize([record("m", tokens_in="many", tokens_out=-4)])
    assert summary.totals.requests == 1
    assert summary.totals.total_tokens == 0
