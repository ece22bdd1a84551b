"""Importing part of a package without running its ``__init__`` (cold start, design D10).

The ``mcp`` SDK's ``__init__`` imports its client, stdio transports and session groups for
``from mcp import Client``; a server that imports only ``mcp.server`` and ``mcp.types`` pays for
them at every cold start. :func:`defer_package_init` registers the package with its ``__path__``
but without running ``__init__``, so its submodules import as usual; the first access to any other
attribute of the package runs ``__init__`` then, so ``mcp.Client`` and the rest still work.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any


def defer_package_init(name: str) -> None:
    """Register package ``name`` without running its ``__init__`` until an attribute that its
    submodules do not provide is read. Nothing happens if it is imported already."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def complete(attribute: str) -> Any:
        # PEP 562: called only for names the module lacks; runs __init__ once, in place.
        del module.__dict__["__getattr__"]
        loader.exec_module(module)
        return getattr(module, attribute)

    module.__getattr__ = complete  # type: ignore[method-assign]
    sys.modules[name] = module


__all__ = ["defer_package_init"]
