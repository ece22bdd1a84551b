"""scripts/build_lambdas.py: the two Lambda zips, built for python3.13 on arm64 from PyPI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import build_lambdas  # noqa: E402

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


def test_the_mcpserver_zip_ships_nothing_a_lambda_never_reads(built: tuple[Path, str]) -> None:
    out, _ = built
    members = names(out / "mcpserver.zip")
    top_level = {member.split("/")[0] for member in members}
    assert not {name for name in top_level if name.split("-")[0] in ("uvicorn", "click")}
    assert not [m for m in members if m.endswith(".pyi") or m.endswith(".dist-info/RECORD")]
    assert not [m for m in members if {"tests", "test"} & set(m.split("/")[1:-1])]
    assert "mcp/server/mcpserver/server.py" in members


@pytest.mark.parametrize("deployable", ["authproxy", "mcpserver"])
def test_the_zip_is_whole_and_its_libraries_carry_no_static_symbol_table(
    built: tuple[Path, str], deployable: str
) -> None:
    out, _ = built
    with zipfile.ZipFile(out / f"{deployable}.zip") as archive:
        assert archive.testzip() is None  # every member inflates to its CRC-32
        libraries = [m for m in archive.namelist() if m.endswith(".so")]
        for library in libraries:
            data = archive.read(library)
            shoff = int.from_bytes(data[0x28:0x30], "little")
            shnum = int.from_bytes(data[0x3C:0x3E], "little")
            types = {
                int.from_bytes(data[shoff + 64 * i + 4 : shoff + 64 * i + 8], "little")
                for i in range(shnum)
            }
            assert build_lambdas.SHT_SYMTAB not in types, library


def test_what_cannot_run_on_lambda_is_not_shipped(built: tuple[Path, str]) -> None:
    out, _ = built
    members = set(names(out / "authproxy.zip"))
    # Imported by the handler, and what they need.
    assert {"authproxy/token.py", "authlib/oauth2/rfc7636/challenge.py", "_cffi_backend"} <= {
        m if not m.startswith("_cffi_backend") else "_cffi_backend" for m in members
    }
    # The command line, a CLI needing click, a backend needing trio, frameworks never imported,
    # build-time-only packages, stubs and install records.
    for absent in (
        "authproxy/cli.py",
        "httpx/_main.py",
        "anyio/_backends/_trio.py",
        "authlib/integrations/flask_client/__init__.py",
        "cffi/__init__.py",
        "pycparser/__init__.py",
    ):
        assert absent not in members
    assert not [m for m in members if m.endswith((".pyi", ".dist-info/RECORD"))]


def test_stripped_native_library_still_loads_and_works(tmp_path: Path) -> None:
    """The stripper on this machine's own cryptography build (the zips' are arm64): the stripped
    library is smaller, and cryptography imports from it and encrypts, signs and verifies."""
    import cryptography

    copy = tmp_path / "cryptography"
    shutil.copytree(Path(cryptography.__file__).parent, copy)
    library = next(copy.rglob("_rust*.so"))
    before = library.stat().st_size
    assert build_lambdas.strip_symbols(library)
    assert library.stat().st_size < before
    assert not build_lambdas.strip_symbols(library)  # nothing left to strip
    check = (
        "import cryptography, sys\n"
        f"assert cryptography.__file__.startswith({str(tmp_path)!r})\n"
        "from cryptography.hazmat.primitives.ciphers.aead import AESGCM\n"
        "from cryptography.hazmat.primitives.asymmetric import ec, rsa, padding\n"
        "from cryptography.hazmat.primitives import hashes\n"
        "k = AESGCM(AESGCM.generate_key(bit_length=256))\n"
        "assert k.decrypt(b'0' * 12, k.encrypt(b'0' * 12, b'x', None), None) == b'x'\n"
        "key = rsa.generate_private_key(public_exponent=65537, key_size=2048)\n"
        "sig = key.sign(b'm', padding.PKCS1v15(), hashes.SHA256())\n"
        "key.public_key().verify(sig, b'm', padding.PKCS1v15(), hashes.SHA256())\n"
        "ek = ec.generate_private_key(ec.SECP256R1())\n"
        "ek.public_key().verify(ek.sign(b'm', ec.ECDSA(hashes.SHA256())), b'm', "
        "ec.ECDSA(hashes.SHA256()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_cryptography_needs_neither_cffi_nor_pycparser_at_run_time() -> None:
    """Why the build may leave them out: with both made unimportable, the façade's sealing and
    every JOSE algorithm its dependencies use still work (cryptography's bindings load only
    ``_cffi_backend``, which is shipped)."""
    check = (
        "import sys\n"
        "sys.modules['cffi'] = None\n"
        "sys.modules['pycparser'] = None\n"
        "from joserfc import jwt\n"
        "from joserfc.jwk import ECKey, OctKey, RSAKey\n"
        "from authproxy.sealing import SecretBox\n"
        "box = SecretBox('k' * 43)\n"
        "assert box.open(box.seal('backing secret')) == 'backing secret'\n"
        "for key, alg in ((RSAKey.generate_key(2048), 'RS256'),\n"
        "                 (ECKey.generate_key('P-256'), 'ES256'),\n"
        "                 (OctKey.generate_key(256), 'HS256')):\n"
        "    jwt.decode(jwt.encode({'alg': alg}, {'a': 1}, key), key)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
