"""kill -9 of `fldecl apply` on the wml backend, three times at random points: each next apply gives the killed run's
lease up at once (its runner on this machine is gone) and goes on; the last apply converges to exactly the declared
resources, with no duplicates, nothing orphaned and no lease left."""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from fldecl.emulator import EmulatorServer
from fldecl.providers.wml.connection import Credentials, WmlSession
from tests.conftest import run_cli
from tests.core.stacks import write_stack
from tests.wml.conftest import cli_env
from tests.wml.test_reconcile import owned_names

PARTIES = 20
CREATES = "POST /ml/v4/remote_training_systems"


def creates(emulator: EmulatorServer) -> int:
    return int(emulator.stats()["requests"].get(CREATES, 0))


def killed_apply(stack: Path, env: dict[str, str], emulator: EmulatorServer, kill_after: int) -> None:
    """An apply killed with SIGKILL once the emulator has answered ``kill_after`` more creates."""
    target = creates(emulator) + kill_after
    process = subprocess.Popen([sys.executable, "-m", "fldecl", "apply", str(stack), "--backend", "wml", "--auto-approve",
                                "--parallelism", "4"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while process.poll() is None and creates(emulator) < target:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_killed_applies_converge_without_duplicates(tmp_path: Path, emulator: EmulatorServer) -> None:
    env = {**cli_env(emulator.env()), "NO_COLOR": "1"}
    stack = write_stack(tmp_path / "stack", pki=False, model=False, parties=PARTIES)
    emulator.set_faults(latency_ms=20)
    rng = random.Random(11)
    for _ in range(3):
        killed_apply(stack, env, emulator, rng.randint(2, 6))
    emulator.set_faults(latency_ms=0)
    applied = run_cli("apply", str(stack), "--backend", "wml", "--auto-approve", env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert re.search(r"lock: removing apply on .* its runner \(pid \d+\) on this machine is gone", applied.stdout), applied.stdout
    assert run_cli("plan", str(stack), "--backend", "wml", "--detailed-exitcode", env=env).returncode == 0
    client = WmlSession(Credentials.from_environment(emulator.env())).client
    assert owned_names(client, "fldecl.stack.core-test")["RemoteTrainingSystem"] == sorted(f"Party_{i}" for i in range(1, PARTIES + 1))
    leases = client.remote_training_systems.get_details(get_all=True)["resources"]
    assert not [rts for rts in leases if "fldecl.lock.core-test" in (rts["metadata"].get("tags") or [])], "no lease left behind"
