"""Metrics as CloudWatch Embedded Metric Format records: a log line per data point whose JSON
carries the ``_aws`` directive, which CloudWatch Logs turns into a metric with no API call and no
agent. They travel with the deployable's other JSON log lines (:mod:`servicekit.logs`), so a local
log file holds them too, always at INFO whatever the configured level.

Every metric either deployable may emit is declared once in :data:`CATALOGUE`, with its unit and
dimensions: the emitters refuse anything else, the template's dashboard is checked against it, and
a test parses the records of real sign-ins against it. Dimension values are bounded vocabularies
(error codes, step names), never identifiers, so the number of metrics stays fixed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Unit = Literal["Count", "Milliseconds"]

NAMESPACE = "authproxy"


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its unit and the dimensions every data point carries (besides ``Service``)."""

    unit: Unit
    dimensions: tuple[str, ...] = ()
    #: Who emits it: ``authproxy`` (the façade) or ``mcpserver`` (a resource server, the gateway).
    service: str = "authproxy"


CATALOGUE: dict[str, MetricSpec] = {
    # RFC 7591 registrations and CIMD first sightings, by kind (dcr, cimd) and backing policy.
    "Registrations": MetricSpec("Count", ("Kind", "Policy")),
    # One sign-in: /authorize accepted → consent → Cognito → /callback → code on the redirect URI.
    "SignInsStarted": MetricSpec("Count"),
    "SignInsCompleted": MetricSpec("Count"),
    "SignInsDenied": MetricSpec("Count"),
    "SignInsFailed": MetricSpec("Count", ("Reason",)),
    # Token endpoint: successful grants by type, errors by OAuth error code (RFC 6749 §5.2).
    "TokensIssued": MetricSpec("Count", ("GrantType",)),
    "TokenErrors": MetricSpec("Count", ("Error",)),
    # Calls to Cognito's /oauth2 endpoints and admin API.
    "CognitoLatency": MetricSpec("Milliseconds", ("Operation",)),
    "CognitoThrottles": MetricSpec("Count", ("Operation",)),
    # Resource servers (the MCP server, the gateway): refusals by status (401, 403, 503) and
    # reason, and key-set refreshes by outcome.
    "AuthRefusals": MetricSpec("Count", ("Status", "Reason"), service="mcpserver"),
    "JwksRefreshes": MetricSpec("Count", ("Outcome",), service="mcpserver"),
}


class Metrics:
    """Writes EMF records for one deployable (``service``) through the JSON logs of ``package``
    (by default the service's own; a shared library names the package its hosts configure)."""

    def __init__(self, service: str, package: str | None = None) -> None:
        self.service = service
        self._log = logging.getLogger(f"{package or service}.metrics")
        # Metrics are not diagnostics: they are written whatever level the deployable logs at.
        self._log.setLevel(logging.INFO)

    def emit(self, name: str, value: float = 1, **dimensions: str) -> None:
        """One data point of ``name``; ``dimensions`` must be exactly the catalogue's."""
        spec = CATALOGUE[name]
        if spec.service != self.service or set(dimensions) != set(spec.dimensions):
            raise ValueError(f"{name} is declared for {spec.service} with {spec.dimensions}")
        directive = {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Service", *spec.dimensions]],
                    "Metrics": [{"Name": name, "Unit": spec.unit}],
                }
            ],
        }
        fields = {"_aws": directive, "Service": self.service, **dimensions, name: value}
        self._log.info("metric", extra=fields)

    def timed(self, operation: str, started: float) -> None:
        """``CognitoLatency`` for ``operation`` since ``started`` (``time.perf_counter()``)."""
        self.emit("CognitoLatency", (time.perf_counter() - started) * 1000, Operation=operation)


def parse(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The EMF records among JSON log lines (for tests and operators' tools)."""
    records = []
    for line in lines:
        if '"_aws"' not in line:
            continue
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and isinstance(document.get("_aws"), dict):
            records.append(document)
    return records
