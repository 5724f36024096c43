"""Shared test helpers: stacks written into temporary directories, and the CLI run for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "manifests" / "mnist-fhe"


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, input: str | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``fldecl ARGS`` in a subprocess, as a user runs it (no terminal on stdin)."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "fldecl", *args], cwd=cwd, env=full_env, input=input,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files run longest first, each file's tests in their order.

    ``make test`` hands whole files to three workers (``--dist loadfile --no-loadscope-reorder``; a
    third worker keeps both cores busy while a test waits on a timeout or a server) in this order:
    the long trainings start at once and the quick files fill in around them, instead of a long file
    starting last while the other workers idle. A file's cost is the sum of its ``slow(seconds=N)``
    marks (a module's mark counts once), about what it takes on a quiet 2-core machine.
    """
    marks: dict[Path, dict[int, float]] = {}
    for item in items:
        mark = item.get_closest_marker("slow")
        if mark is not None:
            marks.setdefault(item.path, {})[id(mark)] = float(mark.kwargs.get("seconds", 60))
    cost = {path: sum(seconds.values()) for path, seconds in marks.items()}
    items.sort(key=lambda item: -cost.get(item.path, 0.0))
