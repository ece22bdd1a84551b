"""Metrics as CloudWatch Embedded Metric Format records: one JSON line on stdout per data point,
which CloudWatch Logs turns into metrics with no API call and no agent (Lambda writes stdout to
the function's log group).

Every metric either deployable may emit is declared once in :data:`CATALOGUE`, with its unit and
dimensions: the emitters refuse anything else, the template's dashboard is checked against it, and
a test parses the records of real sign-ins against it. Dimension values are bounded vocabularies
(error codes, step names), never identifiers, so the number of metrics stays fixed.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, Literal

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
    # Resource servers: refusals by status (401, 403) and reason, and key-set refreshes.
    "AuthRefusals": MetricSpec("Count", ("Status", "Reason"), service="mcpserver"),
    "JwksRefreshes": MetricSpec("Count", ("Outcome",), service="mcpserver"),
}


class Metrics:
    """Writes EMF records for one deployable (``service``) to ``stream`` (stdout by default)."""

    def __init__(self, service: str, stream: IO[str] | None = None) -> None:
        self.service = service
        self._stream = stream
        self._lock = threading.Lock()

    def emit(self, name: str, value: float = 1, **dimensions: str) -> None:
        """One data point of ``name``; ``dimensions`` must be exactly the catalogue's."""
        spec = CATALOGUE[name]
        if spec.service != self.service or set(dimensions) != set(spec.dimensions):
            raise ValueError(f"{name} is declared for {spec.service} with {spec.dimensions}")
        keys = ["Service", *spec.dimensions]
        record = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": [keys],
                        "Metrics": [{"Name": name, "Unit": spec.unit}],
                    }
                ],
            },
            "Service": self.service,
            **dimensions,
            name: value,
        }
        line = json.dumps(record, separators=(",", ":")) + "\n"
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(line)
            stream.flush()

    def timed(self, operation: str, started: float) -> None:
        """``CognitoLatency`` for ``operation`` since ``started`` (``time.perf_counter()``)."""
        self.emit("CognitoLatency", (time.perf_counter() - started) * 1000, Operation=operation)


def parse(lines: list[str]) -> list[dict[str, object]]:
    """The EMF records among log lines (for tests and ``authproxy trace``)."""
    records = []
    for line in lines:
        if line.startswith('{"_aws"'):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records
