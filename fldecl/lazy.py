"""Package names that import their module on first use.

A package whose ``__init__`` imports its modules makes every import of one of them pay for all
(``fldecl.data.spec`` would load numpy through ``fldecl.data.splitting``). A package that declares
its names here loads nothing until a name is used, which keeps ``fldecl --help``, ``validate``
and ``plan`` free of the libraries they do not need. (A name must not be the name of a module
of the package: importing that module would put the module in the name's place.)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``exports[name]`` (a module path) on first use."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    return __getattr__
