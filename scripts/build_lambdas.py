"""Build the two Lambda artifacts the AWS template deploys, offline, and print their sizes.

    python scripts/build_lambdas.py [--out build/lambda]

Each zip holds one deployable's first-party package and the wheels of the distributions its Lambda
handler can import, for the template's runtime (python3.13, arm64), installed from PyPI with pip's
cross-platform options: no Docker, no native compilation. Dependency versions are pinned to the
ones installed here, so the artifact runs what the tests ran.

boto3 and botocore are left out: the Lambda Python runtime ships them and AWS patches that copy.
Bundling them would add about 30 MB unpacked for the same client API, since the code calls only
long-standing Cognito, DynamoDB, Secrets Manager, EC2 and CloudWatch Logs operations.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Where the first-party packages live (pyproject.toml [tool.setuptools.packages.find]).
SOURCE_ROOTS = (ROOT, ROOT / "infra" / "local")
PROJECT = "authproxy"  # the distribution this repository installs as

# Deployable → the module the template's Handler names.
ENTRY_POINTS = {
    "authproxy": "authproxy.lambda_handler",
    "mcpserver": "mcpserver.lambda_handler",
}
PYTHON_VERSION = "3.13"
# Lambda's python3.13 runtime is Amazon Linux 2023 (glibc 2.34); wheels for either tag run on it.
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore"})
# Modules the runtime provides whether or not they are installed here. A bundled copy of the
# SnapStart hooks module would shadow the runtime's, whose registered hooks are the ones it runs.
RUNTIME_MODULES = frozenset({"snapshot_restore_py"})
# Shipped though no import of ours names them: httpcore (under httpx) imports sniffio on every
# request to learn the async library, and each failed import, without it, costs about 150 µs.
ALSO_SHIPPED = frozenset({"sniffio"})
# Never shipped: the local stand-ins and the tooling that tests use.
FORBIDDEN = frozenset({"devstack", "moto", "boto3", "botocore", "pytest", "tests"})
# A fixed timestamp makes the zip depend only on its contents.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class BuildError(Exception):
    """The artifact cannot be built as asked; the message says what to fix."""


@dataclass(frozen=True)
class Artifact:
    name: str
    path: Path
    files: int
    unpacked: int

    @property
    def zipped(self) -> int:
        return self.path.stat().st_size


def module_file(module: str) -> Path | None:
    """The source file of a first-party module or package, if it is one."""
    parts = module.split(".")
    for root in SOURCE_ROOTS:
        base = root.joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def imports_of(module: str, source: Path) -> Iterator[str]:
    """Absolute names of the modules ``source`` imports, anywhere in its body."""
    package = module if source.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), str(source))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module or ""
            yield base
            # ``from package import name`` may name a submodule.
            yield from (f"{base}.{alias.name}" for alias in node.names)


def reachable(entry: str) -> tuple[set[str], set[str]]:
    """First-party modules reachable from ``entry``, and the other top-level names they import."""
    if module_file(entry) is None:
        raise BuildError(f"{entry}: no such first-party module (the Lambda handler)")
    seen: set[str] = set()
    external: set[str] = set()
    pending = [entry]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        parents = [".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)]
        pending.extend(parents)  # importing a.b.c runs a and a.b first
        source = module_file(module)
        assert source is not None
        for name in imports_of(module, source):
            if module_file(name) is not None:
                pending.append(name)
            elif module_file(name.partition(".")[0]) is None:
                external.add(name.partition(".")[0])
    return seen, external


def distributions_for(names: Iterable[str]) -> dict[str, str]:
    """Installed distribution → version for each imported third-party top-level name."""
    owners = importlib.metadata.packages_distributions()
    wanted: dict[str, str] = {}
    for name in sorted(
        (set(names) | ALSO_SHIPPED)
        - set(sys.stdlib_module_names)
        - {"__future__"}
        - RUNTIME_MODULES
    ):
        if name not in owners:
            raise BuildError(f"import {name!r} belongs to no installed distribution")
        for dist in owners[name]:
            if dist.lower() not in PROVIDED_BY_RUNTIME:
                wanted[dist] = importlib.metadata.version(dist)
    return wanted


def constraints() -> str:
    """Pins for every distribution installed here, so transitive versions match the tests'."""
    pins = {
        dist.metadata["Name"].lower(): dist.version
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"] and dist.metadata["Name"].lower() != PROJECT
    }
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def pip_install(requirements: dict[str, str], target: Path, scratch: Path) -> None:
    pins = scratch / "constraints.txt"
    pins.write_text(constraints(), encoding="utf-8")
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--target",
        str(target),
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        *platforms,
        "--only-binary=:all:",
        "--constraint",
        str(pins),
        *(f"{dist}=={version}" for dist, version in sorted(requirements.items())),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BuildError(f"pip could not install the dependencies:\n{result.stderr.strip()}")


def copy_package(package: str, target: Path) -> None:
    source = module_file(package)
    assert source is not None
    if source.name == "__init__.py":
        shutil.copytree(
            source.parent, target / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    else:
        shutil.copy2(source, target / source.name)


def write_zip(tree: Path, path: Path) -> tuple[int, int]:
    """Zip ``tree`` reproducibly; return the number of files and their unpacked size."""
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for file in files:
            info = zipfile.ZipInfo(file.relative_to(tree).as_posix(), date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, file.read_bytes())
    return len(files), sum(file.stat().st_size for file in files)


def build(name: str, out: Path) -> Artifact:
    modules, external = reachable(ENTRY_POINTS[name])
    packages = {module.partition(".")[0] for module in modules}
    if packages & FORBIDDEN:
        raise BuildError(f"{name}: its handler reaches {sorted(packages & FORBIDDEN)}")
    with tempfile.TemporaryDirectory(prefix=f"build-{name}-") as scratch:
        tree = Path(scratch) / "tree"
        tree.mkdir()
        pip_install(distributions_for(external), tree, Path(scratch))
        # Console scripts of the wheels: nothing on Lambda runs them.
        shutil.rmtree(tree / "bin", ignore_errors=True)
        for package in sorted(packages):
            copy_package(package, tree)
        shipped = {entry.name for entry in tree.iterdir()}
        if shipped & FORBIDDEN:
            raise BuildError(f"{name}: a dependency pulled in {sorted(shipped & FORBIDDEN)}")
        path = out / f"{name}.zip"
        files, unpacked = write_zip(tree, path)
    return Artifact(name=name, path=path, files=files, unpacked=unpacked)


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "build" / "lambda", help="where the zips go"
    )
    args = parser.parse_args(argv)
    try:
        artifacts = [build(name, args.out) for name in ENTRY_POINTS]
    except BuildError as exc:
        print(f"build_lambdas: {exc}", file=sys.stderr)
        return 1
    for artifact in artifacts:
        print(
            f"{artifact.path}  {megabytes(artifact.zipped)} zipped, "
            f"{megabytes(artifact.unpacked)} unpacked, {artifact.files} files"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
