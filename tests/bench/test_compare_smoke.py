"""CI's smoke of the bench command, so it cannot rot: one short repetition of ours alone.

The peers are left out (``--ours-only``): creating their virtual environments would cost the
smoke more than its budget on a fresh machine. It checks only that the command completes and
prints its table; no figure is compared with anything.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A bound on a hung run, not a time being tested: a quick run takes well under a minute.
HANG_LIMIT_SECONDS = 240


def test_bench_compare_quick_prints_its_table() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "compare.py"), "--quick", "--ours-only"],
        capture_output=True,
        text=True,
        timeout=HANG_LIMIT_SECONDS,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "| figure | wire | ours |" in lines, result.stdout
    for figure in (
        "| server CPU per `tools/call` | 2025-06-18 |",
        "| server CPU per `tools/call` | 2026-07-28 |",
        "| warm Lambda invocation, wall | 2026-07-28 |",
        "| first tool call after restore | 2025-06-18 |",
        "| cold start mcpserver (import → first response) | 2026-07-28 |",
        "| `/token` overhead (façade − direct, p50) | — |",
    ):
        assert any(line.startswith(figure) for line in lines), (figure, result.stdout)
