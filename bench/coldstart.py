"""What the bench scripts share: a Lambda cold start measured in a fresh interpreter, and the
summary of a series of samples."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

# Run in a fresh interpreter: import the handler module (the Lambda init phase builds the app
# there), then answer one event.
_COLD = """
import importlib, json, sys, time
started = time.perf_counter()
handler = importlib.import_module(sys.argv[1]).handler
imported = time.perf_counter()
response = handler(json.loads(sys.argv[2]), None)
answered = time.perf_counter()
print(json.dumps({"import_ms": (imported - started) * 1000,
                  "first_response_ms": (answered - imported) * 1000,
                  "status": response["statusCode"]}))
"""


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 2),
        "p95": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
        "min": round(ordered[0], 2),
        "max": round(ordered[-1], 2),
    }


def cold_starts(module: str, env: dict[str, str], first_event: dict, runs: int) -> dict[str, Any]:
    """``runs`` fresh interpreters importing ``module`` and answering ``first_event``."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", _COLD, module, json.dumps(first_event)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        wall = (time.perf_counter() - started) * 1000
        samples.append({**json.loads(result.stdout.splitlines()[-1]), "process_ms": wall})
    return {
        "status": samples[0]["status"],
        "import_ms": summary([s["import_ms"] for s in samples]),
        "first_response_ms": summary([s["first_response_ms"] for s in samples]),
        "import_plus_first_response_ms": summary(
            [s["import_ms"] + s["first_response_ms"] for s in samples]
        ),
        "whole_process_ms": summary([s["process_ms"] for s in samples]),
    }
