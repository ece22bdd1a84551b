"""The bench's measurements that run inside a system's own virtual environment (ours, FastMCP's
or the bare SDK's), so this file imports only the standard library and ``scripts/build_lambdas``.

    python bench/probe.py cold MODULE EVENTS.json       # import the handler, answer the first event
    python bench/probe.py warm MODULE EVENTS.json N     # first tool call after init, then N warm
    python bench/probe.py artifact REQUIREMENTS MODULE TREE

``cold`` and ``warm`` time a Lambda handler in this fresh interpreter from the first import of its
module: ``cold`` answers ``first`` (the first request a client sends on that wire revision);
``warm`` is a SnapStart-style restore (the module is imported and its app built, as in the init
phase a snapshot is taken after, then the first event is a tool call) followed by ``N`` warm tool
calls. A call that raises or answers 5xx is reported, not retried. ``artifact`` installs into TREE
what a Lambda deployment of a peer ships (its module and a pip-target install of its requirements
for the Lambda runtime), the way ``scripts/build_lambdas.py`` installs ours; ``compare.py`` zips it
with the same writer as ours. Each prints one JSON line.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _call(handler: Any, event: dict[str, Any]) -> tuple[float, float, int | str]:
    """Wall and CPU milliseconds of one invocation, and its status (or the exception's name)."""
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        response = handler(event, None)
    except Exception as exc:
        return (time.perf_counter() - wall) * 1000, 0.0, type(exc).__name__
    elapsed = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
    return (*elapsed, _failure(response.get("body", "")) or response["statusCode"])


def _failure(body: str) -> str | None:
    """What went wrong in a 200 answer: a JSON-RPC error, or a tool result flagged isError."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    if "error" in message:
        return f"JSON-RPC error {message['error']}"
    result = message.get("result")
    return "tool error" if isinstance(result, dict) and result.get("isError") else None


def cold(module: str, events: dict[str, Any]) -> dict[str, Any]:
    started, cpu = time.perf_counter(), time.process_time()
    handler = importlib.import_module(module).handler
    imported = time.perf_counter()
    first_ms, _, status = _call(handler, events["first"])
    return {
        "import_ms": (imported - started) * 1000,
        "first_response_ms": first_ms,
        "total_ms": (imported - started) * 1000 + first_ms,
        # The same span in CPU time: steadier than the wall figure when the machine is busy.
        "total_cpu_ms": (time.process_time() - cpu) * 1000,
        "status": status,
    }


def warm(module: str, events: dict[str, Any], calls: int) -> dict[str, Any]:
    handler = importlib.import_module(module).handler
    first_ms, _, status = _call(handler, events["call"])
    report: dict[str, Any] = {"first_call_ms": first_ms, "status": status}
    walls, cpus = [], []
    for index in range(calls):
        wall, cpu, status = _call(handler, events["call"])
        if status != 200:
            verb = "answered" if isinstance(status, int) else "raised"
            report["failed"] = f"call {index + 2} {verb} {status}"
            break
        walls.append(wall)
        cpus.append(cpu)
    if walls:
        report["warm_wall_ms"] = statistics.median(walls)
        report["warm_cpu_ms"] = statistics.median(cpus)
    return report


def artifact(requirements: Path, module: str, tree: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "scripts"))
    from build_lambdas import pip_install

    wanted = {}
    for line in requirements.read_text().split():
        name, _, version = line.partition("==")
        if name != "uvicorn":  # the local server; a Lambda does not ship it
            wanted[name] = version
    tree.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="bench-artifact-") as scratch:
        pip_install(wanted, tree, Path(scratch))
    shutil.rmtree(tree / "bin", ignore_errors=True)
    shutil.copy2(Path(importlib.util.find_spec(module).origin), tree)
    return {"files": sum(1 for path in tree.rglob("*") if path.is_file())}


def main(argv: list[str]) -> None:
    kind, *args = argv
    if kind == "cold":
        result = cold(args[0], json.loads(Path(args[1]).read_text()))
    elif kind == "warm":
        result = warm(args[0], json.loads(Path(args[1]).read_text()), int(args[2]))
    elif kind == "artifact":
        result = artifact(Path(args[0]), args[1], Path(args[2]))
    else:
        raise SystemExit(f"unknown probe {kind!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
