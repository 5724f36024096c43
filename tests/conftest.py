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
