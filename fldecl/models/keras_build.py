"""A Keras model's SavedModel, built in a fresh Python process; this module does not import TensorFlow.

A SavedModel names its traced functions with a counter global to the process, so one process
saves the same model to the same bytes only the first time: :func:`build_members` therefore
builds in a fresh process (:func:`fldecl.models.tensorflow._build_main`), which makes every build of
a declaration byte-identical. The caller never needs TensorFlow itself, a few seconds of start-up
that a plan, an apply or a party's check of its model would otherwise pay on top of the builder's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from fldecl.models.archive import model_directory
from fldecl.models.errors import ModelError

BUILD_SECONDS = 300


def build_members(architecture: dict[str, Any], model_file: str) -> dict[str, bytes]:
    """The zip members of the SavedModel of ``architecture`` at ``model_file``, built in a fresh process."""
    command = [sys.executable, "-c", "from fldecl.models.tensorflow import _build_main; _build_main()"]
    with tempfile.TemporaryDirectory(prefix="fldecl-tf-") as directory:
        try:
            built = subprocess.run(command, input=json.dumps({"architecture": architecture, "directory": directory}),
                                   capture_output=True, text=True, timeout=BUILD_SECONDS, env=_child_environment())
        except subprocess.TimeoutExpired as error:
            raise ModelError(f"building the TensorFlow model took over {BUILD_SECONDS} s") from error
        if built.returncode != 0:
            lines = [line for line in built.stderr.strip().splitlines() if line.strip()]
            raise ModelError(lines[-1] if lines else f"building the TensorFlow model failed (exit status {built.returncode})")
        return read_tree(Path(directory) / "model", model_directory(model_file))


def _child_environment() -> dict[str, str]:
    """This process's environment, with fldecl's own directory first on the path (it may run from a checkout)."""
    package_root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": package_root + (os.pathsep + path if path else "")}


def read_tree(directory: Path, prefix: str) -> dict[str, bytes]:
    """Every file under ``directory`` as zip members named ``prefix/relative/path``, in a stable order."""
    return {str(PurePosixPath(prefix, *path.relative_to(directory).parts)): path.read_bytes()
            for path in sorted(directory.rglob("*")) if path.is_file()}
