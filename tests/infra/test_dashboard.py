"""The template's dashboard and metric alarms against the metric catalogue (servicekit/metrics.py).

CloudWatch identifies a metric by namespace, name and the exact set of dimension names: a widget or
alarm that spells one of them differently from what the functions emit draws an empty graph or
never fires, and nothing in AWS says so. These tests read every reference to the ``authproxy``
namespace in the dashboard body (plain metric arrays and ``SEARCH`` expressions) and in the alarms
(``MetricStat`` and Metrics Insights queries) and hold it to :data:`servicekit.metrics.CATALOGUE`:
the name is declared, the dimension set is the declared one plus ``Service``, ``Service`` names the
deployable that emits it, and a stated unit (the widget's axis label, the alarm's ``Unit``) is the
declared unit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from servicekit.metrics import CATALOGUE, NAMESPACE
from support import sam_template

# SEARCH('{Namespace,Dim1,Dim2} MetricName="Name" Service="authproxy"', 'Stat', Period)
SEARCH = re.compile(
    r"SEARCH\('\{(?P<schema>[^}]*)\}\s+(?P<terms>[^']*)',\s*'(?P<stat>[^']+)',\s*\d+\)"
)
# SELECT SUM(Name) FROM SCHEMA(Namespace, Dim1, Dim2) WHERE Service = 'authproxy'
INSIGHTS = re.compile(
    r"SELECT\s+\w+\((?P<name>\w+)\)\s+FROM\s+SCHEMA\((?P<schema>[^)]*)\)"
    r"(?:\s+WHERE\s+(?P<where>.*))?",
    re.DOTALL,
)
TERM = re.compile(r'(\w+)\s*=\s*["\']([^"\']*)["\']')


@dataclass(frozen=True)
class Reference:
    """One metric a widget or alarm names: where, and what it says the metric is."""

    where: str
    namespace: str
    name: str
    dimensions: frozenset[str]
    #: Dimension values the reference pins (``Service`` at least, for our namespace).
    values: dict[str, str]
    unit: str | None


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return sam_template.load()


def dashboard_body(template: dict[str, Any]) -> dict[str, Any]:
    """The body as CloudWatch receives it, each ``${…}`` substitution replaced by a stand-in."""
    (dashboard,) = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(body, str), "the body is one !Sub string"
    return json.loads(re.sub(r"\$\{[^}]+\}", "substituted", body))


def from_search(where: str, expression: str, unit: str | None) -> Reference:
    match = SEARCH.fullmatch(expression)
    assert match, f"{where}: not a SEARCH this test reads: {expression}"
    namespace, *dimensions = (part.strip() for part in match["schema"].split(","))
    terms = dict(TERM.findall(match["terms"]))
    name = terms.pop("MetricName")
    return Reference(where, namespace, name, frozenset(dimensions), terms, unit)


def from_insights(where: str, query: str) -> Reference:
    match = INSIGHTS.fullmatch(query.strip())
    assert match, f"{where}: not a Metrics Insights query this test reads: {query}"
    namespace, *dimensions = (part.strip().strip('"') for part in match["schema"].split(","))
    values = dict(TERM.findall(match["where"] or ""))
    return Reference(where, namespace, match["name"], frozenset(dimensions), values, None)


def from_array(where: str, metric: list[Any], unit: str | None) -> Reference:
    """``[Namespace, Name, Dim1, Value1, …, {options}]`` (no ``"."`` shorthand in this body)."""
    fields = [item for item in metric if not isinstance(item, dict)]
    assert "." not in fields, f"{where}: spell metrics out, the shorthand hides what they are"
    namespace, name, *pairs = fields
    values = dict(zip(pairs[::2], pairs[1::2], strict=True))
    return Reference(where, namespace, name, frozenset(values), values, unit)


def dashboard_references(template: dict[str, Any]) -> Iterator[Reference]:
    for widget in dashboard_body(template)["widgets"]:
        if widget["type"] != "metric":
            continue
        properties = widget["properties"]
        where = f"widget {properties['title']!r}"
        unit = properties.get("yAxis", {}).get("left", {}).get("label")
        for metric in properties["metrics"]:
            options = metric[-1] if isinstance(metric[-1], dict) else {}
            if "expression" in options:
                if options["expression"].startswith("SEARCH("):
                    yield from_search(where, options["expression"], unit)
            else:
                yield from_array(where, metric, unit)


def alarm_references(template: dict[str, Any]) -> Iterator[Reference]:
    for name, alarm in template["Resources"].items():
        if alarm["Type"] != "AWS::CloudWatch::Alarm":
            continue
        properties = alarm["Properties"]
        where = f"alarm {name}"
        if "MetricName" in properties:
            values = {d["Name"]: d["Value"] for d in properties.get("Dimensions", [])}
            yield Reference(
                where,
                properties["Namespace"],
                properties["MetricName"],
                frozenset(values),
                values,
                properties.get("Unit"),
            )
        for query in properties.get("Metrics", []):
            if "MetricStat" in query:
                metric = query["MetricStat"]["Metric"]
                values = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                yield Reference(
                    where,
                    metric["Namespace"],
                    metric["MetricName"],
                    frozenset(values),
                    values,
                    query["MetricStat"].get("Unit"),
                )
            elif query["Expression"].lstrip().upper().startswith("SELECT"):
                yield from_insights(where, query["Expression"])


def ours(references: Iterator[Reference]) -> list[Reference]:
    return [r for r in references if r.namespace == NAMESPACE]


def assert_declared(reference: Reference) -> None:
    spec = CATALOGUE.get(reference.name)
    assert spec is not None, f"{reference.where}: {reference.name} is not in CATALOGUE"
    assert reference.dimensions == {"Service", *spec.dimensions}, (
        f"{reference.where}: {reference.name} has dimensions {sorted(spec.dimensions)} + Service"
    )
    assert reference.values.get("Service") == spec.service, (
        f"{reference.where}: {reference.name} is emitted by {spec.service}"
    )
    if reference.unit is not None:
        assert reference.unit == spec.unit, f"{reference.where}: {reference.name} is {spec.unit}"


def test_dashboard_widgets_name_only_catalogued_metrics(template: dict[str, Any]) -> None:
    references = ours(dashboard_references(template))
    assert references
    for reference in references:
        assert_declared(reference)


def test_every_catalogued_metric_is_on_the_dashboard(template: dict[str, Any]) -> None:
    shown = {r.name for r in ours(dashboard_references(template))}
    assert shown == set(CATALOGUE)


def test_our_widgets_state_the_unit_they_plot(template: dict[str, Any]) -> None:
    # A widget mixing counts and milliseconds on one axis would read as one scale.
    for reference in ours(dashboard_references(template)):
        assert reference.unit is not None, f"{reference.where}: no unit on the left axis"


def test_alarms_name_only_catalogued_metrics(template: dict[str, Any]) -> None:
    references = ours(alarm_references(template))
    assert {r.name for r in references} == {
        "SignInsFailed",
        "SignInsStarted",
        "TokenErrors",
        "TokensIssued",
    }
    for reference in references:
        assert_declared(reference)


@pytest.mark.parametrize(
    ("alarm", "threshold", "numerator", "denominator"),
    [
        ("SignInFailureRateAlarm", "SignInFailureAlarmPercent", {"failed"}, {"started"}),
        ("TokenErrorRateAlarm", "TokenErrorAlarmPercent", {"errors"}, {"errors", "issued"}),
    ],
)
def test_rate_alarms_divide_failures_by_attempts(
    template: dict[str, Any],
    alarm: str,
    threshold: str,
    numerator: set[str],
    denominator: set[str],
) -> None:
    properties = template["Resources"][alarm]["Properties"]
    assert properties["Threshold"] == {"Ref": threshold}
    assert 1 <= int(template["Parameters"][threshold]["Default"]) <= 100
    assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    queries = {q["Id"]: q for q in properties["Metrics"]}
    (watched,) = [q for q in queries.values() if q.get("ReturnData")]
    # What the watched expression divides: numerator ids before "/", denominator ids after,
    # following intermediate expressions (answers = errors + issued) to the queries they combine.

    def ids_in(expression: str) -> set[str]:
        found = set()
        for token in re.findall(r"[a-z]\w*", expression):
            if token in queries and "Expression" in queries[token]:
                inner = queries[token]["Expression"]
                found |= {token} if inner.lstrip().upper().startswith("SELECT") else ids_in(inner)
            elif token in queries:
                found.add(token)
        return found

    division = re.search(r"100 \* (?P<top>[^/]+) / (?P<bottom>[^,]+),", watched["Expression"])
    assert division, watched["Expression"]
    assert ids_in(division["top"]) == numerator
    assert ids_in(division["bottom"]) == denominator
    # Every query of one alarm aggregates over the same period.
    periods = {
        q["Period"] if "Period" in q else q["MetricStat"]["Period"]
        for q in queries.values()
        if "Period" in q or "MetricStat" in q
    }
    assert len(periods) == 1, periods
