"""The layout shows the architecture (ISSUE 10, item 1): layered packages without import cycles,
one resource-server core, and a wheel without the local stand-in."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

from scripts.build_lambdas import imports_of, module_file, reachable

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("servicekit", "resourcekit", "mcpserver", "gateway", "authproxy", "devstack")
# What each package may import. servicekit is the bottom; resourcekit is the resource-server core
# the MCP server, the gateway and the façade's metadata share; devstack (the local stack) may
# import everything and nothing imports it but ``authproxy dev``, from the checkout.
ALLOWED = {
    "servicekit": set(),
    "resourcekit": {"servicekit"},
    "mcpserver": {"servicekit", "resourcekit"},
    "gateway": {"servicekit", "resourcekit"},
    "authproxy": {"servicekit", "resourcekit", "devstack"},
    "devstack": {"servicekit", "resourcekit", "mcpserver", "gateway", "authproxy"},
}


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        init = module_file(package)
        assert init is not None, package
        for path in init.parent.rglob("*.py"):
            parts = path.relative_to(init.parent.parent).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def graph() -> dict[str, set[str]]:
    found = modules()
    edges: dict[str, set[str]] = {}
    for name, path in found.items():
        # A module's own ancestor packages are already being imported when it runs (``from .
        # import x`` names one): an edge to them is no cycle.
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        edges[name] = {
            imported
            for imported in imports_of(name, path)
            if imported in found and imported != name and imported not in ancestors
        }
    return edges


def test_no_import_cycles_between_modules() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_packages_import_only_the_layers_below_them() -> None:
    crossings = {
        (name, imported)
        for name, targets in graph().items()
        for imported in targets
        if imported.split(".")[0] != name.split(".")[0]
        and imported.split(".")[0] not in ALLOWED[name.split(".")[0]]
    }
    assert not crossings


def test_the_wheel_holds_the_deployables_and_the_core_not_the_local_stand_in() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    find = config["tool"]["setuptools"]["packages"]["find"]
    shipped = set()
    for where in find["where"]:
        shipped |= set(find_packages(str(ROOT / where), include=find["include"]))
    tops = {name.split(".")[0] for name in shipped}
    assert tops == {"authproxy", "mcpserver", "servicekit", "resourcekit", "gateway"}


def test_the_facade_artifact_does_not_load_the_mcp_sdk() -> None:
    """The façade uses resourcekit's metadata builder only; importing it must not drag the MCP SDK
    (and its cold-start cost) into the façade's Lambda."""
    _modules, external = reachable("authproxy.lambda_handler")
    assert "mcp" not in external
    assert "joserfc" in reachable("mcpserver.lambda_handler")[1]
