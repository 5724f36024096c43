"""Ctrl-C during a WML apply that waits for parties (a training nobody joins): while it waits, Terraform's 'Still
creating...' lines; then the apply stops at once, says that the training goes on on WML and how to follow or cancel it,
releases the stack's lease, and the next apply is not refused."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fldecl.emulator import EmulatorServer
from fldecl.providers.wml.connection import Credentials, WmlSession
from tests.conftest import run_cli
from tests.wml.conftest import cli_env


@pytest.fixture
def waiting_emulator(tmp_path: Path) -> Iterator[EmulatorServer]:
    """WML's trainings, which wait for parties to join: here nobody does."""
    with EmulatorServer(data_dir=tmp_path / "emulator", port=0) as server:
        yield server


class Output:
    """A process's output, read as it comes, so a test can wait for a line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.readers = [threading.Thread(target=self._read, args=(stream,), daemon=True) for stream in (process.stdout, process.stderr)]
        for reader in self.readers:
            reader.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert time.monotonic() < deadline, "".join(self.lines)
            time.sleep(0.05)

    @property
    def text(self) -> str:
        for reader in self.readers:
            reader.join(timeout=5)
        return "".join(self.lines)


def leases(emulator: EmulatorServer, stack_name: str) -> list[str]:
    client = WmlSession(Credentials.from_environment(emulator.env())).client
    systems = client.remote_training_systems.get_details(get_all=True)["resources"]
    return [rts["metadata"]["id"] for rts in systems if f"fldecl.lock.{stack_name}" in (rts["metadata"].get("tags") or [])]


def test_ctrl_c_while_a_wml_training_waits_for_parties(waiting_emulator: EmulatorServer, make_stack: Any) -> None:
    stack = make_stack("interrupted")
    env = cli_env(waiting_emulator.env())
    apply = subprocess.Popen([sys.executable, "-m", "fldecl", "apply", str(stack), "--backend", "wml", "--auto-approve"],
                             env={**env, "NO_COLOR": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    output = Output(apply)
    output.wait_for("Training/aggregator_he: accepting_parties", timeout=300)
    output.wait_for("Training/aggregator_he: Still creating... [10s elapsed]", timeout=30)
    assert leases(waiting_emulator, "interrupted"), "the apply holds the stack's lease while it waits"
    interrupted = time.monotonic()
    apply.send_signal(signal.SIGINT)
    apply.wait(timeout=60)
    seconds = time.monotonic() - interrupted
    text = output.text
    assert apply.returncode == 130, text
    assert seconds < 2.0, f"the apply took {seconds:.1f}s to stop"
    assert "Training/aggregator_he: stopped following it; the training (id " in text
    assert "goes on on WML. Follow it with `fldecl logs aggregator_he --follow`" in text
    assert "cancel it with `fldecl destroy --target Training/aggregator_he`" in text
    assert "Training/aggregator_he: Creation interrupted after" in text
    assert "Traceback" not in text
    assert leases(waiting_emulator, "interrupted") == [], "the lease is released"
    again = run_cli("apply", str(stack), "--backend", "wml", "--auto-approve", env=env, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes" in again.stdout, "the training still waits on WML: nothing to do"
