"""Killing `fldecl apply` at random points, then re-running it, converges to exactly the declared set."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import run_cli
from tests.core.stacks import write_stack

PARTIES = 800


def owned_rows(stack: Path) -> list[tuple[str, str]]:
    """The records of the local store; none while the apply has created the file but not yet its table."""
    with sqlite3.connect(stack / ".fldecl" / "local.db") as conn:
        try:
            return conn.execute("SELECT kind, name FROM resources ORDER BY kind, name").fetchall()
        except sqlite3.OperationalError:
            return []


def test_killed_applies_converge_without_duplicates(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack", pki=False, model=False, parties=PARTIES)
    rng = random.Random(7)
    kills = 0
    for _ in range(4):
        done_before = len(owned_rows(stack)) if (stack / ".fldecl" / "local.db").exists() else 0
        kill_at = rng.randint(done_before + 1, PARTIES - 1) if done_before < PARTIES - 1 else PARTIES
        process = subprocess.Popen([sys.executable, "-m", "fldecl", "apply", str(stack), "--auto-approve", "--parallelism", "4"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
        while process.poll() is None:
            if (stack / ".fldecl" / "local.db").exists() and len(owned_rows(stack)) >= kill_at:
                process.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.005)
        process.wait()
    assert kills >= 1, "the apply finished before any kill; the test did not exercise an interruption"
    result = run_cli("apply", str(stack), "--auto-approve")
    assert result.returncode == 0, result.stderr
    rows = owned_rows(stack)
    assert len(rows) == len(set(rows)) == PARTIES
    assert run_cli("plan", str(stack), "--detailed-exitcode").returncode == 0
