"""Ctrl-C and SIGTERM on the local backend, through the CLI: a lock wait stops at once with 130 (SIGINT) or 143
(SIGTERM), a second Ctrl-C during the cleanup exits without a traceback, and a lock whose holder died is free at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.core.stacks import write_stack

HOLD = """
import sys, time
from pathlib import Path
from fldecl.providers.local.lock import stack_lock
with stack_lock(Path(sys.argv[1]), "apply"):
    print("held", flush=True)
    time.sleep(600)
"""


def holder(stack: Path) -> subprocess.Popen[str]:
    """Another run holding the stack's lock."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(stack / ".fldecl")], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def waiting_apply(stack: Path) -> subprocess.Popen[str]:
    """An apply waiting up to a minute for the lock, once it says so."""
    process = subprocess.Popen([sys.executable, "-m", "fldecl", "apply", str(stack), "--auto-approve", "--lock-timeout", "60"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)  # loads the stack, plans nothing yet: it waits in the lock
    assert process.poll() is None, process.communicate()
    return process


@pytest.mark.parametrize(("signals", "code"), [((signal.SIGTERM,), 143), ((signal.SIGINT, signal.SIGINT), 130)])
def test_a_signal_stops_a_lock_wait_at_once(tmp_path: Path, signals: tuple[int, ...], code: int) -> None:
    stack = write_stack(tmp_path / "stack", pki=False, model=False)
    held = holder(stack)
    try:
        apply = waiting_apply(stack)
        sent = time.monotonic()
        for number in signals:
            apply.send_signal(number)
        out, err = apply.communicate(timeout=30)
        assert time.monotonic() - sent < 2.0
    finally:
        held.kill()
        held.wait()
    assert apply.returncode == code, out + err
    assert "Traceback" not in err
    assert "received: stopping every wait" in err
    if len(signals) == 2:
        assert "Second interrupt: exiting now" in err or "Interrupted: stopped before the end" in err


def test_a_lock_whose_holder_was_killed_is_free_at_once(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack", pki=False, model=False)
    held = holder(stack)
    held.kill()
    held.wait()
    result = run_cli("apply", str(stack), "--auto-approve")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow(seconds=22)
def test_ctrl_c_stops_a_local_training_and_its_processes(tmp_path: Path) -> None:
    import json
    import shutil

    from tests.conftest import EXAMPLE

    stack = tmp_path / "mnist-fhe"
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    apply = subprocess.Popen([sys.executable, "-m", "fldecl", "apply", str(stack), "--auto-approve"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})
    assert apply.stdout is not None
    lines = []
    for line in apply.stdout:
        lines.append(line)
        if "Training/aggregator_he: training running" in line:
            break
    sent = time.monotonic()
    apply.send_signal(signal.SIGINT)  # to fldecl alone, as CI's SIGTERM: its aggregator and parties must be stopped by it
    out, err = apply.communicate(timeout=60)
    seconds = time.monotonic() - sent
    text = "".join(lines) + out
    assert apply.returncode == 130, text + err
    assert seconds < 15, f"{seconds:.1f}s: the aggregator and parties get SIGTERM, then SIGKILL after 10 s"
    assert "Training/aggregator_he: interrupted: fldecl stopped its aggregator and parties" in text
    assert "Training/aggregator_he: Creation interrupted after" in text
    assert "Traceback" not in err
    status = json.loads(next((stack / ".fldecl" / "trainings").glob("*/status.json")).read_text())
    with pytest.raises(ProcessLookupError):  # the aggregator is gone
        os.kill(status["pid"], 0)
    shown = json.loads(run_cli("show", str(stack), "--json").stdout)
    training = next(r for r in shown["resources"] if r["address"] == "Training/aggregator_he")
    assert training["status"].startswith("canceled")
    assert "# Training/aggregator_he must be replaced" in run_cli("plan", str(stack)).stdout
