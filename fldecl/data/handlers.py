"""Load a party's data handler: the user's Python file, as WML's party connector would.

The file is the same one a WML party runs, so it imports ``ibmfl.data.data_handler``; where IBM
FL is not usable, a small stand-in is registered under that name first.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import traceback
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fldecl.data.errors import DataError
from fldecl.variables import UnsetVariable, resolved

_DATA_HANDLER_MODULE = "ibmfl.data.data_handler"
# Keys in a handler's info whose relative values are paths, resolved against the stack directory.
_PATH_KEY_SUFFIXES = ("_file", "_path", "_dir", "_folder")


def load_data_handler(path: Path, class_name: str, info: dict[str, Any], stack_dir: Path) -> Any:
    """Import ``path`` and return ``class_name(data_config=info)``.

    Relative paths in ``info`` (values of keys ending in _file, _path, _dir, _folder, such as
    ``npz_file``) are resolved against ``stack_dir``, as is ``path`` itself.
    """
    path = Path(stack_dir) / path
    if not path.is_file():
        raise DataError(f"data handler file {path} does not exist")
    _ensure_data_handler_base()
    module = _import_file(path)
    handler_class = getattr(module, class_name, None)
    if not isinstance(handler_class, type):
        defined = sorted(
            name for name, value in vars(module).items() if isinstance(value, type) and value.__module__ == module.__name__
        )
        raise DataError(
            f"data handler file {path} defines no class {class_name!r} (it defines: {', '.join(defined) or 'none'})"
        )
    config = handler_config(info, Path(stack_dir))
    try:
        if _accepts_keyword(handler_class, "data_config"):
            return handler_class(data_config=config)
        return handler_class(config)
    except Exception as error:
        raise DataError(f"creating {class_name} from {path} failed{_where(error, path)}: {type(error).__name__}: {error}") from error


def get_data(handler: Any) -> tuple[tuple[NDArray[Any], NDArray[Any]], tuple[NDArray[Any], NDArray[Any]]]:
    """Call ``handler.get_data()`` and check it returned ``((x_train, y_train), (x_test, y_test))``."""
    name = type(handler).__name__
    try:
        result = handler.get_data()
    except Exception as error:
        source = Path(inspect.getsourcefile(type(handler)) or "")
        raise DataError(f"{name}.get_data() failed{_where(error, source)}: {type(error).__name__}: {error}") from error
    if not (isinstance(result, (tuple, list)) and len(result) == 2 and all(_is_pair(part) for part in result)):
        raise DataError(
            f"{name}.get_data() must return ((x_train, y_train), (x_test, y_test)), got {type(result).__name__}"
        )
    (x_train, y_train), (x_test, y_test) = ((np.asarray(x), np.asarray(y)) for x, y in result)
    for part, x, y in (("training", x_train, y_train), ("test", x_test, y_test)):
        if len(x) != len(y):
            raise DataError(f"{name}.get_data(): {part} x has {len(x)} points but y has {len(y)}")
    return (x_train, y_train), (x_test, y_test)


def _where(error: BaseException, handler_file: Path) -> str:
    """`` at FILE:LINE``: the last line of the handler's own file the error passed through, if any."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if Path(frame.filename) == handler_file]
    return f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def _is_pair(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and len(value) == 2


def _ensure_data_handler_base() -> None:
    """Make ``ibmfl.data.data_handler.DataHandler`` importable, preferring a working IBM FL."""
    try:
        importlib.import_module(_DATA_HANDLER_MODULE)
        return
    except Exception:  # not installed, or the stub whose import raises a deprecation error
        pass
    from fldecl.data import ibmfl_shim  # lazy: the stand-in only where IBM FL is missing

    package, _, name = _DATA_HANDLER_MODULE.rpartition(".")
    setattr(_importable_or_empty_package(package), name, ibmfl_shim)
    sys.modules[_DATA_HANDLER_MODULE] = ibmfl_shim


def _importable_or_empty_package(name: str) -> types.ModuleType:
    """Import package ``name``, or register an empty one (and its parents) in its place."""
    try:
        return importlib.import_module(name)
    except Exception:
        package = types.ModuleType(name)
        package.__path__ = []
        sys.modules[name] = package
        parent_name, _, child = name.rpartition(".")
        if parent_name:
            setattr(_importable_or_empty_package(parent_name), child, package)
        return package


def _import_file(path: Path) -> types.ModuleType:
    """Execute the file as a module named after its path, so two handlers never collide."""
    module_name = "_fldecl_data_handler_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise DataError(f"data handler file {path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        raise DataError(f"importing data handler file {path} failed: {type(error).__name__}: {error}") from error
    return module


def handler_config(info: dict[str, Any], stack_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A handler's ``info`` as this party uses it: references left in it (to sensitive variables)
    resolved from this party's environment, and file paths (keys ending in _file, _path, _dir,
    _folder) made absolute against ``stack_dir``."""
    try:
        config = resolved(info, os.environ if env is None else env)
    except UnsetVariable as exc:
        raise DataError(f"the data handler's info needs {exc.name}, which is not set in this party's environment") from None
    return info_with_paths(config, stack_dir)


def info_with_paths(info: dict[str, Any], stack_dir: Path) -> dict[str, Any]:
    """A handler's ``info`` with its file paths (keys ending in _file, _path, _dir, _folder) joined to ``stack_dir``;
    references to variables are left as they are (a party kit hands them to the party that resolves them)."""
    return {
        key: str(stack_dir / value) if key.endswith(_PATH_KEY_SUFFIXES) and isinstance(value, str) else value
        for key, value in info.items()
    }


def _accepts_keyword(handler_class: type, keyword: str) -> bool:
    try:
        parameters = inspect.signature(handler_class).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == keyword or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
