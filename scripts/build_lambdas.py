"""Build the two Lambda artifacts the AWS template deploys, offline, and print their sizes.

    python scripts/build_lambdas.py [--out build/lambda]

Each zip holds one deployable's first-party package and the wheels of the distributions its Lambda
handler can import, for the template's runtime (python3.13, arm64), installed from PyPI with pip's
cross-platform options: no Docker, no native compilation. Dependency versions are pinned to the
ones installed here, so the artifact runs what the tests ran.

boto3 and botocore are left out: the Lambda Python runtime ships them and AWS patches that copy.
Bundling them would add about 30 MB unpacked for the same client API, since the code calls only
long-standing Cognito, DynamoDB, Secrets Manager, EC2 and CloudWatch Logs operations.

What cannot run on Lambda is trimmed (:func:`trim`), so the same code runs from a smaller zip:
symbol tables of native libraries (the dynamic loader never reads them), modules that cannot be
imported there, the parts of a library no shipped import reaches, type stubs and pip's install
records.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
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
# Importable on the runtime without shipping them: boto3 and its dependencies, the runtime's own,
# and standard-library modules added after the building Python's version (3.12, 3.13), which
# ``sys.stdlib_module_names`` here does not list.
RUNTIME_PACKAGES = RUNTIME_MODULES | frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six", "awslambdaric"}
    | {"_interpreters", "_interpqueues", "_interpchannels", "_colorize", "_pyrepl", "_sysconfig"}
    | {"_opcode_metadata", "_suggestions", "_android_support", "_apple_support", "_ios_support"}
)
# Shipped though no import of ours names them: httpcore (under httpx) imports sniffio on every
# request to learn the async library, and each failed import, without it, costs about 150 µs.
ALSO_SHIPPED = frozenset({"sniffio"})
# Needed to build or to use cffi's ABI mode, never at run time: cryptography's bindings load
# ``_cffi_backend`` (which is kept) on their own.
BUILD_TIME_ONLY = frozenset({"cffi", "pycparser"})
# Libraries shipped as the modules their shipped importers reach (imports anywhere in a module
# count): they load none of their own modules by name. authlib is mostly server and client
# frameworks the façade does not use; it uses three RFC helpers.
PRUNED_TO_IMPORTS = frozenset({"authlib"})
# pip's install records and marker files, and type stubs: nothing reads them at run time.
UNUSED_FILES = ("*.dist-info/RECORD", "*.dist-info/INSTALLER", "*.dist-info/REQUESTED", "*.pyi")
# Never shipped: the local stand-ins and the tooling that tests use.
FORBIDDEN = frozenset({"devstack", "moto", "boto3", "botocore", "pytest", "tests"})
# Distributions a dependency requires that no Lambda handler runs: uvicorn serves only a local
# server (the SDK imports it inside MCPServer.run(); sse_starlette patches its shutdown hook only
# if it is importable) and click only httpx's command line (httpx does without it). Left out
# unless first-party code imports them; tests/infra/test_build_lambdas.py serves a tool call with
# both unimportable.
NOT_RUN_ON_LAMBDA = ("uvicorn", "click")
# ZIP records (APPNOTE 6.3 §4.3): version needed 2.0, no flags, DEFLATE, 1980-01-01 00:00 (a fixed
# timestamp makes the zip depend only on its contents); made on Unix, files mode 0644.
ZIP_ENTRY = (20, 0, 8, 0, (0 << 9) | (1 << 5) | 1)
ZIP_MADE_BY = (3 << 8) | 20
ZIP_MODE = 0o644 << 16
ZIP_LOCAL = struct.Struct("<IHHHHHIIIHH")
ZIP_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHI")
ZIP_END = struct.Struct("<IHHHHIIH")
# Files from this size up are compressed with Zopfli.
ZOPFLI_FROM = 256 * 1024


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


def _package_of(module: str, source: Path) -> str:
    return module if source.name == "__init__.py" else module.rpartition(".")[0]


def _absolute(package: str, node: ast.ImportFrom) -> str:
    """The module a ``from … import`` statement in ``package`` imports from."""
    if not node.level:
        return node.module or ""
    anchor = package.split(".")
    anchor = anchor[: len(anchor) - node.level + 1]
    return ".".join([*anchor, node.module] if node.module else anchor)


def imports_of(module: str, source: Path) -> Iterator[str]:
    """Absolute names of the modules ``source`` imports, anywhere in its body."""
    package = _package_of(module, source)
    for node in ast.walk(ast.parse(source.read_bytes(), str(source))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(package, node)
            yield base
            # ``from package import name`` may name a submodule.
            yield from (f"{base}.{alias.name}" for alias in node.names)


def imported_at_load(module: str, source: Path) -> Iterator[str]:
    """The modules ``source`` always imports when it is imported: in its top-level statements,
    not under ``try``, ``if`` or in a function."""
    package = _package_of(module, source)
    for node in ast.parse(source.read_bytes(), str(source)).body:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield _absolute(package, node)


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


def copy_modules(modules: Iterable[str], target: Path) -> None:
    """The first-party modules the handler reaches; the rest (the command line and its tools)
    is never imported on Lambda, where nothing loads a module of ours by name."""
    for module in modules:
        source = module_file(module)
        assert source is not None
        root = next(root for root in SOURCE_ROOTS if source.is_relative_to(root))
        copied = target / source.relative_to(root)
        copied.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copied)


def python_modules(tree: Path) -> dict[str, Path]:
    """Module name → source file of every Python module in ``tree``."""
    modules = {}
    for source in sorted(tree.rglob("*.py")):
        parts = source.relative_to(tree).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = source
    return modules


def _within(name: str, modules: set[str]) -> bool:
    """Whether ``name`` or a package above it is among ``modules``."""
    parts = name.split(".")
    return any(".".join(parts[:i]) in modules for i in range(1, len(parts) + 1))


def unimportable(tree: Path) -> set[str]:
    """Modules of ``tree`` whose import always fails on Lambda: it imports, unconditionally, a
    package that neither the tree nor the runtime has, or such a module (to a fixed point), or
    its package is one. Removing them changes no behaviour: importing one still raises an
    ImportError (ModuleNotFoundError)."""
    available = (
        {entry.name.partition(".")[0] for entry in tree.iterdir()}
        | set(sys.stdlib_module_names)
        | {"__future__"}
        | RUNTIME_PACKAGES
    )
    modules = python_modules(tree)
    dead: set[str] = set()
    changed = True
    while changed:
        changed = False
        for module, source in modules.items():
            if module in dead:
                continue
            if _within(module.rpartition(".")[0], dead) or any(
                name.partition(".")[0] not in available or _within(name, dead)
                for name in imported_at_load(module, source)
            ):
                dead.add(module)
                changed = True
    return dead


def reached(modules: dict[str, Path], libraries: frozenset[str]) -> set[str]:
    """The modules of ``libraries`` that the other modules import, and those they import in
    turn (imports anywhere in a module count, and a module's packages)."""

    def wanted(names: Iterable[str]) -> list[str]:
        return [name for name in names if name.partition(".")[0] in libraries]

    pending = wanted(
        name
        for module, source in modules.items()
        if module.partition(".")[0] not in libraries
        for name in imports_of(module, source)
    )
    seen: set[str] = set()
    while pending:
        module = pending.pop()
        if module in seen or module not in modules:
            continue
        seen.add(module)
        parts = module.split(".")
        pending += [".".join(parts[:i]) for i in range(1, len(parts))]
        pending += wanted(imports_of(module, modules[module]))
    return seen


# ELF (the System V ABI's gABI): 64-bit little-endian, as every Lambda native library is.
ELF_HEADER = b"\x7fELF\x02\x01"
PT_LOAD, SHT_SYMTAB, SHT_NOBITS = 1, 2, 8
PROGRAM_HEADER = struct.Struct("<IIQQQQQQ")  # type, flags, offset, vaddr, paddr, filesz, memsz, …
SECTION_HEADER = struct.Struct("<IIQQQQIIQQ")  # name, type, flags, addr, offset, size, link, …


def strip_symbols(library: Path) -> bool:
    """Drop a native library's static symbol table and its strings, as ``strip`` does; return
    whether it did. The dynamic loader reads only what the program headers map (kept byte for
    byte: the tables must lie after all of it) and the dynamic symbol table, a separate one;
    the static table serves debuggers. Their section headers become empty (``SHT_NULL``), so no
    section index changes."""
    data = library.read_bytes()
    if not data.startswith(ELF_HEADER):
        return False
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", data, 0x36)
    segments = [PROGRAM_HEADER.unpack_from(data, phoff + i * phentsize) for i in range(phnum)]
    sections = [list(SECTION_HEADER.unpack_from(data, shoff + i * shentsize)) for i in range(shnum)]
    drop = {i for i, s in enumerate(sections) if s[1] == SHT_SYMTAB}
    drop |= {sections[i][6] for i in drop} - {shstrndx}
    kept = [s for i, s in enumerate(sections) if i not in drop]
    if not drop or any(s[6] in drop for s in kept):
        return False
    cut = min(sections[i][4] for i in drop)
    mapped = max([phoff + phentsize * phnum, *(p[2] + p[5] for p in segments)])
    has_data = [s for s in kept if s[1] != SHT_NOBITS and s[5]]
    if cut < mapped or any(s[4] < cut < s[4] + s[5] for s in has_data):
        return False
    out = bytearray(data[:cut])
    for i, section in enumerate(sections):
        if i in drop:
            sections[i] = [0] * 10
        elif section[4] >= cut:
            if section in has_data:
                out += bytes(-len(out) % max(section[8], 1))
                out += data[section[4] : section[4] + section[5]]
                section[4] = len(out) - section[5]
            else:
                section[4] = len(out)
    out += bytes(-len(out) % 8)
    struct.pack_into("<Q", out, 0x28, len(out))
    for section in sections:
        out += SECTION_HEADER.pack(*section)
    library.write_bytes(bytes(out))
    return True


def trim(tree: Path) -> None:
    """Remove from an installed tree what cannot run on Lambda (see the module docstring)."""
    for path in sorted(tree.rglob("*")):
        if path.is_file() and any(path.relative_to(tree).match(p) for p in UNUSED_FILES):
            path.unlink()
    for name in sorted(BUILD_TIME_ONLY):
        for path in [tree / name, *tree.glob(f"{name}-*.dist-info")]:
            shutil.rmtree(path, ignore_errors=True)
    modules = python_modules(tree)
    for module in unimportable(tree):
        source = modules[module]
        if source.name == "__init__.py":
            shutil.rmtree(source.parent, ignore_errors=True)
        else:
            source.unlink(missing_ok=True)
    modules = python_modules(tree)
    keep = reached(modules, PRUNED_TO_IMPORTS)
    for module, source in modules.items():
        if module.partition(".")[0] in PRUNED_TO_IMPORTS and module not in keep:
            source.unlink()
    for library in sorted(tree.rglob("*.so")):
        strip_symbols(library)


def deflate(data: bytes) -> bytes:
    """Raw DEFLATE (RFC 1951), the ZIP method Lambda reads: Zopfli for large files (about 3 %
    smaller than zlib's best, at about half a megabyte a second), zlib's best for the rest."""
    if len(data) < ZOPFLI_FROM:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        return compressor.compress(data) + compressor.flush()
    # Imported here: bench/probe.py imports this module in the peers' environments, which install
    # only what the peers ship.
    from zopfli import zopfli

    # A zlib stream (RFC 1950): a 2-byte header and a 4-byte Adler-32 around the DEFLATE data.
    packed = zopfli.compress(data, numiterations=1)[2:-4]
    if zlib.decompress(packed, -zlib.MAX_WBITS) != data:
        raise BuildError("Zopfli's output does not inflate to its input")
    return packed


def drop_what_no_handler_runs(tree: Path, keep: set[str]) -> None:
    """Remove what a Lambda never reads from an installed tree: the wheels' own test suites,
    type stubs (``.pyi``), the install ``RECORD`` (pip's uninstall list; ``importlib.metadata``
    reads ``METADATA``), and the :data:`NOT_RUN_ON_LAMBDA` distributions not in ``keep``."""
    for name in NOT_RUN_ON_LAMBDA:
        if name in keep:
            continue
        shutil.rmtree(tree / name, ignore_errors=True)
        for info in tree.glob(f"{name}-*.dist-info"):
            shutil.rmtree(info)
    for directory in sorted(tree.glob("*/**/"), reverse=True):
        if directory.name in ("tests", "test") and directory.is_dir():
            shutil.rmtree(directory)
    for file in [*tree.rglob("*.pyi"), *tree.glob("*.dist-info/RECORD")]:
        file.unlink()


def write_zip(tree: Path, path: Path) -> tuple[int, int]:
    """Zip ``tree`` reproducibly (APPNOTE 6.3: local headers, central directory, end record;
    fixed dates and modes); return the number of files and their unpacked size."""
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    path.parent.mkdir(parents=True, exist_ok=True)
    directory = bytearray()
    unpacked = 0
    with path.open("wb") as archive:
        for file in files:
            name = file.relative_to(tree).as_posix().encode()
            data = file.read_bytes()
            unpacked += len(data)
            packed = deflate(data)
            common = (*ZIP_ENTRY, zlib.crc32(data), len(packed), len(data), len(name))
            offset = archive.tell()
            archive.write(ZIP_LOCAL.pack(0x04034B50, *common, 0) + name + packed)
            directory += ZIP_CENTRAL.pack(0x02014B50, ZIP_MADE_BY, *common, 0, 0, 0, 0, ZIP_MODE)
            directory += struct.pack("<I", offset) + name
        start = archive.tell()
        archive.write(directory)
        archive.write(
            ZIP_END.pack(0x06054B50, 0, 0, len(files), len(files), len(directory), start, 0)
        )
    return len(files), unpacked


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
        drop_what_no_handler_runs(tree, external)
        copy_modules(sorted(modules), tree)
        shipped = {entry.name for entry in tree.iterdir()}
        if shipped & FORBIDDEN:
            raise BuildError(f"{name}: a dependency pulled in {sorted(shipped & FORBIDDEN)}")
        trim(tree)
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
