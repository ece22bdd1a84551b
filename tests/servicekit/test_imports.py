"""servicekit.imports: a package's submodules without its ``__init__``, until it is needed."""

import subprocess
import sys

PROBE = """
import sys
from servicekit.imports import defer_package_init
defer_package_init("mcp")
import mcp.server.mcpserver
import mcp.types
print("client imported:", "mcp.client" in sys.modules)
import mcp
from mcp import Client, ClientSession
print("names:", Client.__name__, ClientSession.__name__, mcp.types.Tool.__name__)
"""


def run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout


def test_the_server_parts_import_without_the_client_and_every_name_still_resolves() -> None:
    assert run(PROBE).splitlines() == [
        "client imported: False",
        "names: Client ClientSession Tool",
    ]


def test_a_package_imported_already_is_left_alone() -> None:
    code = (
        "import mcp, sys\n"
        "from servicekit.imports import defer_package_init\n"
        "defer_package_init('mcp')\n"
        "print(sys.modules['mcp'] is mcp, 'mcp.client' in sys.modules)"
    )
    assert run(code).strip() == "True True"
