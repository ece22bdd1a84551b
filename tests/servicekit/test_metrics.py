"""CloudWatch Embedded Metric Format records: the shape CloudWatch requires, only declared
metrics, bounded dimensions, written as log lines at any log level."""

import io
import json
import logging
from collections.abc import Iterator

import pytest

from servicekit import logs
from servicekit.metrics import CATALOGUE, NAMESPACE, Metrics, parse


@pytest.fixture
def written() -> Iterator[io.StringIO]:
    """What the façade's JSON log handler writes, configured at WARNING (metrics still pass)."""
    logs.configure("authproxy", "WARNING")
    out = io.StringIO()
    handler = logging.getLogger("authproxy").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(out)
    yield out
    handler.setStream(previous)


def test_a_record_is_one_json_log_line_of_valid_emf(written: io.StringIO) -> None:
    Metrics("authproxy").emit("TokenErrors", Error="invalid_grant")
    (line,) = written.getvalue().splitlines()
    record = json.loads(line)
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == NAMESPACE
    assert directive["Dimensions"] == [["Service", "Error"]]
    assert directive["Metrics"] == [{"Name": "TokenErrors", "Unit": "Count"}]
    assert isinstance(record["_aws"]["Timestamp"], int)
    # Every dimension and the metric itself are members of the root object (EMF specification).
    assert record["Service"] == "authproxy"
    assert record["Error"] == "invalid_grant"
    assert record["TokenErrors"] == 1
    assert record["logger"] == "authproxy.metrics"
    assert parse(["not json", '{"message": "no metric"}', line]) == [record]


def test_latency_is_in_milliseconds(written: io.StringIO) -> None:
    Metrics("authproxy").emit("CognitoLatency", 12.5, Operation="token")
    record = json.loads(written.getvalue())
    assert record["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] == "Milliseconds"
    assert record["CognitoLatency"] == 12.5


@pytest.mark.parametrize(
    ("service", "name", "dimensions"),
    [
        ("authproxy", "TokenErrors", {}),  # a declared dimension missing
        ("authproxy", "SignInsStarted", {"ClientId": "abc"}),  # an undeclared, unbounded one
        ("authproxy", "AuthRefusals", {"Status": "401", "Reason": "missing"}),  # not the façade's
    ],
)
def test_only_declared_metrics_and_dimensions(service: str, name: str, dimensions: dict) -> None:
    with pytest.raises(ValueError, match=name):
        Metrics(service).emit(name, **dimensions)


def test_every_metric_belongs_to_a_deployable() -> None:
    assert {spec.service for spec in CATALOGUE.values()} == {"authproxy", "mcpserver"}
