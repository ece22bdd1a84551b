"""Ours side by side with FastMCP and the bare MCP SDK, in one run on this machine.

    .venv/bin/python bench/compare.py            # the full run BENCHMARKS.md reports
    .venv/bin/python bench/compare.py --quick    # one short repetition (CI's smoke)

The peers are FastMCP 4.1.2 with its JWT verifier and the bare ``mcp`` 2.3.0 server with a joserfc
verifier (``bench/peers/``), each in its own virtual environment, created once under
``build/bench-venvs/``; ours too, with only what its Lambda zips ship (``--ours-only`` runs ours in
the project's environment), and every system's own modules are compiled to bytecode first, as pip
leaves its libraries. One RS256 signing key, its JWK Set and one Cognito-shaped access token are
minted here and trusted by all three; ours calls its ``whoami`` tool, the peers an ``echo`` tool.
Every per-call figure is taken on both wire revisions: ``2025-06-18`` (``initialize`` and its
session first, then ``tools/call`` in it) and ``2026-07-28`` (one self-contained exchange).

Each repetition runs every system in turn, in an order that rotates between repetitions:

- uvicorn, one worker, under ``wrk`` (16 connections): requests per second, p50/p99, and the
  server's own CPU per call from ``/proc/<pid>/stat``; resident memory idle and at peak;
- the Lambda handler through Mangum (``bench/probe.py``, a fresh interpreter per figure): cold
  start from the first import to the first response, of an on-demand init; the first tool call
  after a SnapStart-style restore (a ``snap-start`` init done, then a tool call) and the warm
  invocations after it (``AWS_LAMBDA_INITIALIZATION_TYPE`` set as Lambda sets it);
- ours only: the façade's cold start, and its ``/token`` overhead over a direct call to the
  Cognito stand-in, each in its own process.

Then the Lambda zips: ours from ``scripts/build_lambdas.py``, the peers' the same way. The table
shows medians over repetitions and, per repetition, the ratio ours/peer: min, median, max. With
other work on the machine the absolute figures are noisy; the ratios of alternating runs are what
to read. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The project root before tests/, so tests/mcpserver (a namespace directory) cannot shadow the
# mcpserver package, as in pytest's configuration.
# infra/local: the local stand-in runs from the checkout (it is not installed).
sys.path += [str(ROOT), str(ROOT / "tests"), str(ROOT / "scripts"), str(ROOT / "infra" / "local")]

import build_lambdas  # noqa: E402
import facade  # noqa: E402
import httpx  # noqa: E402
import load  # noqa: E402
from joserfc import jwt  # noqa: E402
from joserfc.jwk import RSAKey  # noqa: E402

from support.serving import free_port  # noqa: E402

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / "peers"
VENVS = ROOT / "build" / "bench-venvs"
ARTIFACTS = ROOT / "build" / "bench-artifacts"
# Every figure of the latest run, rewritten after each repetition.
RESULTS = ROOT / "build" / "bench-results.json"

HOST = "mcp.example.com"
MCP_URL = f"https://{HOST}/mcp"
COGNITO_ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Bench1234"
HANDSHAKE, SINGLE_EXCHANGE = "2025-06-18", "2026-07-28"
REVISIONS = (HANDSHAKE, SINGLE_EXCHANGE)
CONNECTIONS = 16
CLIENT_INFO = {"name": "bench", "version": "1"}


@dataclass(frozen=True)
class System:
    name: str
    label: str
    #: uvicorn's APP argument, and whether it is a factory
    asgi: str
    factory: bool
    #: the module whose ``handler`` is the Lambda entry point
    handler: str
    tool: str
    arguments: dict[str, Any]
    #: pins of its virtual environment; None: ours (:func:`ours_requirements`)
    requirements: Path | None = None

    @property
    def python(self) -> Path:
        """Its own environment's interpreter once :func:`ensure_venv` made it; else (ours alone,
        CI's smoke) the project's."""
        venv = VENVS / self.name / "bin" / "python"
        return venv if self.name in ENSURED else Path(sys.executable)


OURS = System("ours", "ours", "ours:app", True, "mcpserver.lambda_handler", "whoami", {})
PEER_SYSTEMS = (
    System(
        "fastmcp",
        "FastMCP",
        "fastmcp_peer:app",
        False,
        "fastmcp_peer",
        "echo",
        {"text": "hello"},
        PEERS / "requirements-fastmcp.txt",
    ),
    System(
        "sdk",
        "bare SDK",
        "sdk_peer:app",
        False,
        "sdk_peer",
        "echo",
        {"text": "hello"},
        PEERS / "requirements-sdk.txt",
    ),
)


@dataclass(frozen=True)
class Settings:
    repetitions: int
    load_seconds: float
    warmup_seconds: float
    lambda_calls: int
    cold_runs: int
    refreshes: int
    artifacts: bool


FULL = Settings(5, 5, 1, 200, 3, 100, True)
QUICK = Settings(1, 1, 1, 10, 1, 5, False)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- virtual environments --------------------------------------------------------------------

# The systems whose own environment this run has made sure of.
ENSURED: set[str] = set()
# Distributions Lambda's Python runtime provides (boto3 and the SnapStart hooks module) and the
# local server, which ours' environment holds besides what its zips ship.
OURS_ALSO = ("boto3", "snapshot-restore-py", "uvicorn")


def ours_requirements() -> str:
    """Ours' runtime environment, as the peers get theirs: the distributions
    ``scripts/build_lambdas.py`` ships in the two zips, pinned as it pins them (to the versions
    installed here), with what the Lambda runtime provides and uvicorn. Not the project's own
    environment, whose test tools would change what the handlers import (the SDK configures a
    ``rich`` log handler when ``rich`` is importable; the zips carry none)."""
    external: set[str] = set()
    for entry in build_lambdas.ENTRY_POINTS.values():
        external |= build_lambdas.reachable(entry)[1]
    pins = build_lambdas.distributions_for(external)
    pins |= {name: importlib.metadata.version(name) for name in OURS_ALSO}
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def ensure_venv(system: System) -> None:
    """Create the system's virtual environment once; recreate it when its pins change. Ours
    imports its own packages from this checkout (a ``.pth`` line, as Lambda puts the unpacked zip
    on the path), under the same transitive pins as the zips."""
    venv = VENVS / system.name
    python = venv / "bin" / "python"
    stamp = venv / "bench-requirements.txt"
    wanted = system.requirements.read_text() if system.requirements else ours_requirements()
    if not (stamp.is_file() and stamp.read_text() == wanted and python.exists()):
        log(f"creating {venv.relative_to(ROOT)}")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        with tempfile.TemporaryDirectory(prefix="bench-venv-") as scratch:
            requirements = Path(scratch) / "requirements.txt"
            requirements.write_text(wanted)
            if system.requirements is None:
                constraints = Path(scratch) / "constraints.txt"
                constraints.write_text(build_lambdas.constraints())
                pip += ["--constraint", str(constraints)]
            subprocess.run([*pip, "-r", str(requirements)], check=True)
        if system.requirements is None:
            purelib = subprocess.run(
                [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            (Path(purelib) / "bench-checkout.pth").write_text(f"{ROOT}\n")
        stamp.write_text(wanted)
    ENSURED.add(system.name)


def compile_sources() -> None:
    """Bytecode for every system's own modules, as pip leaves it for the libraries they import.
    Where ``PYTHONDONTWRITEBYTECODE`` is set, ours (tens of modules) and each peer (one module)
    would otherwise be compiled from source at every cold start, and their libraries not."""
    first_party = {
        module.partition(".")[0]
        for entry in build_lambdas.ENTRY_POINTS.values()
        for module in build_lambdas.reachable(entry)[0]
    }
    for directory in [*(ROOT / name for name in sorted(first_party)), PEERS]:
        compileall.compile_dir(directory, quiet=1)


# --- the token and the requests --------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    token: str
    subject: str
    jwks_file: Path
    pem_file: Path
    session_secret: str


def mint(scratch: Path) -> Credentials:
    """One signing key, its JWK Set (and PEM, for FastMCP), one access token shaped like
    Cognito's (RFC 9068 subset: no ``aud``, a ``client_id`` and a resource-prefixed scope)."""
    key = RSAKey.generate_key(2048, parameters={"kid": "bench", "use": "sig", "alg": "RS256"})
    jwks_file, pem_file = scratch / "jwks.json", scratch / "public.pem"
    jwks_file.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    pem_file.write_bytes(key.as_pem(private=False))
    now, subject = int(time.time()), str(uuid.uuid4())
    claims = {
        "sub": subject,
        "iss": COGNITO_ISSUER,
        "client_id": "benchclient",
        "token_use": "access",
        "scope": f"{MCP_URL}/read",
        "exp": now + 6 * 3600,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "username": "bench",
    }
    token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
    return Credentials(token, subject, jwks_file, pem_file, uuid.uuid4().hex * 2)


def environment(credentials: Credentials) -> dict[str, str]:
    """What all three systems read (each ignores what it does not know)."""
    return {
        **os.environ,
        "PYTHONPATH": str(PEERS),
        "MCP_URL": MCP_URL,
        "ISSUER": f"https://{HOST}",
        "COGNITO_ISSUER": COGNITO_ISSUER,
        "AWS_REGION": "eu-west-1",
        "MCP_SESSION_SECRET": credentials.session_secret,
        "MCP_JWKS_FILE": str(credentials.jwks_file),
        "BENCH_PUBLIC_KEY_FILE": str(credentials.pem_file),
    }


def headers(revision: str, token: str, method: str, name: str | None = None) -> dict[str, str]:
    """Request headers as the SDK's client sends them on ``revision``."""
    sent = {
        "host": HOST,
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "authorization": f"Bearer {token}",
    }
    if method != "initialize":
        sent["mcp-protocol-version"] = revision
    if revision == SINGLE_EXCHANGE:
        sent["mcp-method"] = method
        if name:
            sent["mcp-name"] = name
    return sent


def tool_call(system: System, revision: str) -> dict[str, Any]:
    params: dict[str, Any] = {"name": system.tool, "arguments": system.arguments}
    if revision == SINGLE_EXCHANGE:
        # A single exchange carries in ``_meta`` what the handshake used to, as the SDK's
        # client sends it.
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": revision,
            "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
            "io.modelcontextprotocol/clientCapabilities": {},
        }
    return {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params}


def initialize(revision: str) -> dict[str, Any]:
    params = {"protocolVersion": revision, "capabilities": {}, "clientInfo": CLIENT_INFO}
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}


def lambda_event(body: dict[str, Any], sent: dict[str, str]) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event for a POST to the MCP endpoint."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/mcp",
        "rawQueryString": "",
        "headers": {**sent, "x-forwarded-proto": "https"},
        "requestContext": {
            "http": {
                "method": "POST",
                "path": "/mcp",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "bench",
            },
            "stage": "$default",
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def session_id(system: System, credentials: Credentials) -> str | None:
    """The session id a handshake-era client of ``system`` holds: ours issues signed ids any
    instance accepts (so a restored Lambda sees one it did not issue); the peers, stateless,
    issue none."""
    if system is not OURS:
        return None
    from mcpserver.sessions import SessionIds

    return SessionIds(credentials.session_secret, MCP_URL).issue(credentials.subject)


def call_headers(
    system: System, revision: str, credentials: Credentials, session: str | None
) -> dict[str, str]:
    sent = headers(revision, credentials.token, "tools/call", system.tool)
    if revision == HANDSHAKE and session:
        sent["mcp-session-id"] = session
    return sent


# --- one system, served and as a Lambda ------------------------------------------------------


Figures = dict[str, Any]


def handshake(base: str, revision: str, credentials: Credentials) -> str | None:
    """``initialize`` and ``notifications/initialized`` over HTTP; the session id, if any."""
    sent = headers(revision, credentials.token, "initialize")
    answer = httpx.post(f"{base}/mcp", json=initialize(revision), headers=sent, timeout=30)
    answer.raise_for_status()
    session = answer.headers.get("mcp-session-id")
    notified = {**sent, "mcp-protocol-version": revision}
    if session:
        notified["mcp-session-id"] = session
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    httpx.post(f"{base}/mcp", json=note, headers=notified, timeout=30).raise_for_status()
    return session


def served(system: System, env: dict[str, str], credentials: Credentials, s: Settings) -> Figures:
    port = free_port()
    command = load.uvicorn_command(system.python, system.asgi, port, system.factory)
    figures: Figures = {}
    with load.serving(command, port, env) as (pid, base):
        figures["rss_idle_mib"] = load.memory_kib(pid, "VmRSS") / 1024
        for revision in REVISIONS:
            session = handshake(base, revision, credentials) if revision == HANDSHAKE else None
            body = tool_call(system, revision)
            sent = call_headers(system, revision, credentials, session)
            check = httpx.post(f"{base}/mcp", json=body, headers=sent, timeout=30)
            answer = check.json() if check.status_code == 200 else {}
            if "result" not in answer or answer["result"].get("isError"):
                raise RuntimeError(f"{system.label} {revision}: {check.status_code} {check.text}")
            if load.wrk_path() is None:
                continue
            result = load.under_load(
                pid, f"{base}/mcp", body, sent, CONNECTIONS, s.warmup_seconds, s.load_seconds
            )
            if result["non_2xx"] or result["socket_errors"]:
                raise RuntimeError(f"{system.label} {revision} under load: {result}")
            figures.update({f"{key}@{revision}": value for key, value in result.items()})
        figures["rss_peak_mib"] = load.memory_kib(pid, "VmHWM") / 1024
    return figures


def probe(python: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [str(python), str(BENCH / "probe.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"probe {' '.join(args[:2])} failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.splitlines()[-1]))


def as_lambda(
    system: System, env: dict[str, str], credentials: Credentials, s: Settings, scratch: Path
) -> Figures:
    figures: Figures = {}
    session = session_id(system, credentials)
    for revision in REVISIONS:
        call = lambda_event(
            tool_call(system, revision), call_headers(system, revision, credentials, session)
        )
        first = (
            lambda_event(initialize(revision), headers(revision, credentials.token, "initialize"))
            if revision == HANDSHAKE
            else call
        )
        events = scratch / f"{system.name}-{revision}.json"
        events.write_text(json.dumps({"first": first, "call": call}))
        # Lambda names the kind of init it runs (AWS_LAMBDA_INITIALIZATION_TYPE): a cold start
        # without SnapStart is on demand; a restore follows a SnapStart init.
        on_demand = {**env, "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}
        colds = [
            probe(system.python, on_demand, "cold", system.handler, str(events))
            for _ in range(s.cold_runs)
        ]
        if any(cold["status"] != 200 for cold in colds):
            raise RuntimeError(f"{system.label} {revision} cold start: {colds}")
        figures[f"cold_ms@{revision}"] = statistics.median(c["total_ms"] for c in colds)
        snap_start = {**env, "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}
        warm = probe(
            system.python, snap_start, "warm", system.handler, str(events), str(s.lambda_calls)
        )
        if warm["status"] != 200:
            raise RuntimeError(f"{system.label} {revision} first Lambda call: {warm}")
        figures[f"restore_first_ms@{revision}"] = warm["first_call_ms"]
        if "failed" in warm:
            figures[f"lambda_failed@{revision}"] = warm["failed"]
        else:
            figures[f"warm_wall_ms@{revision}"] = warm["warm_wall_ms"]
            figures[f"warm_cpu_ms@{revision}"] = warm["warm_cpu_ms"]
            figures[f"restore_over_warm@{revision}"] = warm["first_call_ms"] / warm["warm_wall_ms"]
    return figures


def ours_facade(s: Settings, scratch: Path) -> Figures:
    with facade.facade_stack() as stack:
        figures: Figures = facade.token_overhead(stack, s.refreshes)
        events = scratch / "authproxy.json"
        events.write_text(json.dumps({"first": facade.METADATA_EVENT}))
        env = facade.lambda_environment(stack)
        colds = [
            probe(OURS.python, env, "cold", "authproxy.lambda_handler", str(events))
            for _ in range(s.cold_runs)
        ]
    if any(cold["status"] != 200 for cold in colds):
        raise RuntimeError(f"authproxy cold start: {colds}")
    figures["authproxy_cold_ms"] = statistics.median(c["total_ms"] for c in colds)
    return figures


def artifact_sizes(systems: tuple[System, ...]) -> dict[str, dict[str, float]]:
    """Zipped size (MB) of each Lambda artifact."""
    sizes: dict[str, dict[str, float]] = {"zip_mb": {}, "authproxy_zip_mb": {}}
    for name in build_lambdas.ENTRY_POINTS:
        log(f"building {name}.zip")
        built = build_lambdas.build(name, ARTIFACTS)
        key = "zip_mb" if name == "mcpserver" else "authproxy_zip_mb"
        sizes[key]["ours"] = built.zipped / 1e6
    for system in systems:
        if system is OURS:
            continue
        log(f"building {system.name}.zip")
        assert system.requirements is not None
        out = ARTIFACTS / f"{system.name}.zip"
        with tempfile.TemporaryDirectory(prefix="bench-artifact-") as scratch:
            tree = Path(scratch) / "tree"
            args = ("artifact", str(system.requirements), system.handler, str(tree))
            probe(system.python, {**os.environ, "PYTHONPATH": str(PEERS)}, *args)
            # Zipped with our writer, in this environment: the same compression as ours.
            build_lambdas.write_zip(tree, out)
        sizes["zip_mb"][system.name] = out.stat().st_size / 1e6
    return sizes


# --- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    key: str
    unit: str
    #: for ours-only rows: which of ours' figures the peers' ``key`` is compared with
    ours_key: str | None = None


ROWS = (
    Row("server CPU per `tools/call`", "cpu_ms_per_call", "ms"),
    Row("requests per second (16 connections)", "rps", "/s"),
    Row("latency p50", "p50_ms", "ms"),
    Row("latency p99", "p99_ms", "ms"),
    Row("warm Lambda invocation, wall", "warm_wall_ms", "ms"),
    Row("warm Lambda invocation, CPU", "warm_cpu_ms", "ms"),
    Row("first tool call after restore", "restore_first_ms", "ms"),
    Row("first call after restore ÷ warm call", "restore_over_warm", "×"),
    Row("cold start mcpserver (import → first response)", "cold_ms", "ms"),
    Row("cold start authproxy vs the peers' mcp servers", "cold_ms", "ms", "authproxy_cold_ms"),
)
SINGLE_ROWS = (
    Row("RSS idle", "rss_idle_mib", "MiB"),
    Row("RSS peak under load", "rss_peak_mib", "MiB"),
)
OURS_ONLY = (
    Row("`/token` refresh p50 via the façade", "facade_p50_ms", "ms"),
    Row("`/token` refresh p50 straight to the stand-in", "direct_p50_ms", "ms"),
    Row("`/token` overhead (façade − direct, p50)", "overhead_p50_ms", "ms"),
)


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    digits = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:,.{digits}f}{' ' + unit if unit and unit != '×' else unit}"


def ratio_cell(ratios: list[float]) -> str:
    if not ratios:
        return "—"
    return f"{min(ratios):.2f} / **{statistics.median(ratios):.2f}** / {max(ratios):.2f}"


def table(
    runs: list[dict[str, Figures]], systems: tuple[System, ...], sizes: dict[str, Any]
) -> str:
    peers = [system for system in systems if system is not OURS]
    head = ["figure", "wire", *(system.label for system in systems)]
    head += [f"ours/{peer.label} (min / **median** / max)" for peer in peers]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def row(label: str, wire: str, unit: str, ours_key: str, key: str) -> None:
        def values(system: System, k: str) -> list[float]:
            return [run[system.name][k] for run in runs if k in run.get(system.name, {})]

        def failure(system: System) -> str | None:
            failed = [run[system.name].get(f"lambda_failed@{wire}") for run in runs]
            return next((f for f in failed if f), None) if key.startswith("warm") else None

        cells = [label, wire]
        ours = values(OURS, ours_key)
        cells.append(fmt(statistics.median(ours), unit) if ours else "—")
        for peer in peers:
            theirs = values(peer, key)
            cells.append(fmt(statistics.median(theirs), unit) if theirs else failure(peer) or "—")
        for peer in peers:
            ratios = [
                run[OURS.name][ours_key] / run[peer.name][key]
                for run in runs
                if ours_key in run.get(OURS.name, {}) and key in run.get(peer.name, {})
            ]
            cells.append(ratio_cell(ratios))
        lines.append("| " + " | ".join(cells) + " |")

    for spec in ROWS:
        for revision in REVISIONS:
            key = f"{spec.key}@{revision}"
            row(spec.label, revision, spec.unit, spec.ours_key or key, key)
    for spec in SINGLE_ROWS:
        wire = "both" if spec.key == "rss_peak_mib" else "—"
        row(spec.label, wire, spec.unit, spec.key, spec.key)
    for spec in OURS_ONLY:
        row(spec.label, "—", spec.unit, spec.key, spec.key)
    for key, name in (("zip_mb", "mcpserver"), ("authproxy_zip_mb", "authproxy")):
        label = f"artifact zip {name} (vs the peers' zips)"
        if key in sizes:
            cells = [label, "—", fmt(sizes[key].get("ours"), "MB")]
            cells += [fmt(sizes["zip_mb"].get(peer.name), "MB") for peer in peers]
            cells += [
                ratio_cell([sizes[key]["ours"] / sizes["zip_mb"][peer.name]])
                if peer.name in sizes["zip_mb"]
                else "—"
                for peer in peers
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        line.split()[1]
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    load_avg = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} CPUs ({model}), {int(memory) / 1024**2:.1f} GiB, "
        f"load average {load_avg:.1f} at the start, Python {platform.python_version()}"
    )


# --- the run ---------------------------------------------------------------------------------


def rotated(systems: tuple[System, ...], by: int) -> list[System]:
    return [systems[(index + by) % len(systems)] for index in range(len(systems))]


def run(s: Settings, systems: tuple[System, ...]) -> str:
    started = time.monotonic()
    header = machine()
    # Ours alone (CI's smoke) runs in the project's environment: no environment to create.
    if len(systems) > 1:
        for system in systems:
            ensure_venv(system)
    compile_sources()
    if load.wrk_path() is None:
        log("wrk is not installed (apt-get install wrk): no load figures this run")
    # First, so a failing build stops the run before the long part; pip's work is not timed.
    sizes = artifact_sizes(systems) if s.artifacts else {}
    runs: list[dict[str, Figures]] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch_name:
        scratch = Path(scratch_name)
        credentials = mint(scratch)
        env = environment(credentials)
        for repetition in range(s.repetitions):
            figures: dict[str, Figures] = defaultdict(dict)
            steps: list[tuple[str, Callable[[System], Figures]]] = [
                ("served", lambda system: served(system, env, credentials, s)),
                ("as a Lambda", lambda system: as_lambda(system, env, credentials, s, scratch)),
            ]
            for what, step in steps:
                for system in rotated(systems, repetition):
                    log(f"repetition {repetition + 1}/{s.repetitions}: {system.label} {what}")
                    figures[system.name].update(step(system))
            log(f"repetition {repetition + 1}/{s.repetitions}: the façade")
            figures[OURS.name].update(ours_facade(s, scratch))
            runs.append(figures)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps({"runs": runs, "sizes": sizes}, indent=1))
    elapsed = time.monotonic() - started
    return (
        f"Machine: {header}\n"
        f"{s.repetitions} repetition(s), {elapsed:.0f} s; medians over repetitions, and ratios "
        f"ours/peer per repetition (below 1 favours ours, except requests per second). "
        f"Ours calls `whoami`, the peers `echo`.\n\n"
        f"{table(runs, systems, sizes)}\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short repetition, no zips")
    parser.add_argument(
        "--ours-only",
        action="store_true",
        help="skip the peers (no virtual environments to create): CI's smoke",
    )
    parser.add_argument("--repetitions", type=int, help="override the repetitions")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.repetitions:
        settings = Settings(**{**settings.__dict__, "repetitions": args.repetitions})
    systems = (OURS,) if args.ours_only else (OURS, *PEER_SYSTEMS)
    print(run(settings, systems))


if __name__ == "__main__":
    main()
