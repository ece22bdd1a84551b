"""scripts/build_lambdas.py: the two Lambda zips, built for python3.13 on arm64 from PyPI."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ELF_MACHINE_AARCH64 = 183
NEVER_SHIPPED = {"devstack", "moto", "boto3", "botocore", "pytest", "tests", "bin"}
# The build downloads wheels from the package index on a machine with a cold cache.
pytestmark = pytest.mark.timeout(660)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("lambda")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_lambdas.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def names(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as opened:
        return opened.namelist()


def test_prints_each_artifact_with_its_sizes(built: tuple[Path, str]) -> None:
    out, stdout = built
    lines = stdout.splitlines()
    assert len(lines) == 2
    for line, name in zip(lines, ("authproxy", "mcpserver"), strict=True):
        assert line.startswith(str(out / f"{name}.zip"))
        assert "MB zipped" in line
        assert "MB unpacked" in line


@pytest.mark.parametrize(
    ("deployable", "needs"),
    [
        ("authproxy", ["authproxy/lambda_handler.py", "mangum/__init__.py", "sniffio/__init__.py"]),
        (
            "mcpserver",
            [
                "mcpserver/lambda_handler.py",
                "mangum/__init__.py",
                "mcp/__init__.py",
                "sniffio/__init__.py",
            ],
        ),
    ],
)
def test_artifact_holds_its_package_and_dependencies_only(
    built: tuple[Path, str], deployable: str, needs: list[str]
) -> None:
    out, _ = built
    members = names(out / f"{deployable}.zip")
    assert set(needs) <= set(members)
    top_level = {member.split("/")[0] for member in members}
    assert not top_level & NEVER_SHIPPED
    other = "mcpserver" if deployable == "authproxy" else "authproxy"
    assert f"{other}/lambda_handler.py" not in members
    assert not any("__pycache__" in member for member in members)


@pytest.mark.parametrize("deployable", ["authproxy", "mcpserver"])
def test_native_code_is_built_for_arm64(built: tuple[Path, str], deployable: str) -> None:
    out, _ = built
    with zipfile.ZipFile(out / f"{deployable}.zip") as archive:
        libraries = [m for m in archive.namelist() if m.endswith(".so") or ".so." in m]
        assert libraries, "cryptography and pydantic-core ship compiled code"
        for library in libraries:
            header = archive.read(library)[:20]
            assert header[:4] == b"\x7fELF", library
            # ELF e_machine, little-endian at offset 18: 183 is AArch64.
            assert int.from_bytes(header[18:20], "little") == ELF_MACHINE_AARCH64, library
        python_versions = {
            part for library in libraries for part in library.split(".") if "cpython-" in part
        }
        assert all("cpython-313" in part for part in python_versions), python_versions
