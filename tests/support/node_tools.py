"""The pinned Node MCP clients (``package.json``) as the tests run them.

A missing tool is a test failure that says how to install it, never a skip. Every run has an
outer timeout: some clients wait forever for a callback that an error stopped from coming.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"
# The 0.2.0 alpha line of the conformance suite lives in its own folder: it installs a
# `conformance` executable too, which would shadow the stable one in the root.
CONFORMANCE_ALPHA = ROOT / "tests" / "e2e" / "conformance-alpha" / "node_modules"
SHIMS = ROOT / "tests" / "e2e" / "shims"


def node() -> str:
    found = shutil.which("node")
    assert found, "Node.js is required (see .ci/run)"
    return found


def package_dir(name: str, node_modules: Path = NODE_MODULES) -> Path:
    directory = node_modules / name
    assert (directory / "package.json").exists(), (
        f"{name} is not installed in {node_modules.relative_to(ROOT)}: run .ci/run (npm ci)"
    )
    return directory


def package_version(name: str, node_modules: Path = NODE_MODULES) -> str:
    manifest = json.loads((package_dir(name, node_modules) / "package.json").read_text())
    return str(manifest["version"])


def package_bin(name: str, command: str, node_modules: Path = NODE_MODULES) -> Path:
    """The script behind one of a package's executables, read from its manifest (not
    ``node_modules/.bin``, where packages with the same executable name overwrite each other)."""
    directory = package_dir(name, node_modules)
    bins = json.loads((directory / "package.json").read_text())["bin"]
    return directory / (bins if isinstance(bins, str) else bins[command])


def run_node(
    script: Path, *args: str, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """``node SCRIPT ARGS`` with empty stdin (no TTY: clients take their non-interactive paths),
    killed after ``timeout`` seconds, which fails the test with the output so far."""
    try:
        return subprocess.run(
            [node(), str(script), *args],
            input="",
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"{script.name} {' '.join(args)} did not finish in {timeout} s\n"
            f"stdout: {exc.stdout!r}\nstderr: {exc.stderr!r}"
        ) from exc


def fs_glob_shim() -> str:
    """``NODE_OPTIONS`` that let the conformance suite load on Node 20 (it imports
    ``fs.globSync``, a Node 22 API; harmless on Node 22)."""
    return f"--import={SHIMS / 'fs-globsync-shim.mjs'}"
