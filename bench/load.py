"""One MCP server under load: served by uvicorn (one worker) in its own process, driven by ``wrk``
(a compiled load generator from Debian, so the client is not the bottleneck), with the server's
CPU time read from ``/proc/<pid>/stat`` before and after, so the load generator's own CPU use
cannot distort the per-call figure."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
START_TIMEOUT = 60.0
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk_path() -> str | None:
    return shutil.which("wrk")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process and all its threads (proc(5): fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_kib(pid: int, field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def uvicorn_command(python: Path, app: str, port: int, factory: bool = False) -> list[str]:
    """One uvicorn worker serving ``app`` on loopback, without access log lines."""
    command = [str(python), "-m", "uvicorn", app, "--port", str(port), "--no-access-log"]
    # The same HTTP parser and event loop for all three systems, whatever else is installed.
    command += ["--http", "h11", "--loop", "asyncio", "--log-level", "warning"]
    return [*command, "--factory"] if factory else command


@contextlib.contextmanager
def serving(command: list[str], port: int, env: dict[str, str]) -> Iterator[tuple[int, str]]:
    """Run a server in its own process; yield its pid and base URL once it answers on ``port``."""
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    name = " ".join(command[:4])
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode} before serving")
            with contextlib.suppress(httpx.TransportError):
                httpx.get(base, timeout=1)
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start within {START_TIMEOUT:.0f} s")
            time.sleep(0.05)
        yield process.pid, base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _lua_string(text: str) -> str:
    return f"[==[{text}]==]"


def wrk_script(body: str, headers: dict[str, str]) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_string(body)}"]
    # wrk adds its own Host header unless one named exactly "Host" is set.
    named = {("Host" if k.lower() == "host" else k): v for k, v in headers.items()}
    lines += [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in named.items()]
    return "\n".join(lines) + "\n"


def _milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests, requests per second, p50/p99 and non-2xx count from ``wrk --latency`` output."""
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    requests = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if not (requests and rate and "50" in percentiles and "99" in percentiles):
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    return {
        "requests": int(requests[1]),
        "rps": float(rate[1]),
        "p50_ms": _milliseconds(percentiles["50"]),
        "p99_ms": _milliseconds(percentiles["99"]),
        "non_2xx": int(errors[1]) if errors else 0,
        "socket_errors": socket_errors[1] if socket_errors else None,
    }


def run_wrk(url: str, script: Path, connections: int, seconds: float) -> dict[str, Any]:
    command = [
        "wrk",
        "--threads",
        "1",
        "--connections",
        str(connections),
        "--duration",
        f"{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "--script",
        str(script),
        url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    return parse_wrk(result.stdout)


def under_load(
    pid: int,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    connections: int,
    warmup: float,
    seconds: float,
) -> dict[str, Any]:
    """Server CPU per request, rate and latency for ``body`` POSTed by ``connections`` clients."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(wrk_script(json.dumps(body), headers))
    script = Path(handle.name)
    try:
        run_wrk(url, script, connections, warmup)
        before = cpu_seconds(pid)
        figures = run_wrk(url, script, connections, seconds)
        cpu = cpu_seconds(pid) - before
    finally:
        script.unlink()
    return {
        **figures,
        "cpu_ms_per_call": cpu * 1000 / max(1, figures["requests"]),
    }
