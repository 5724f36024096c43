"""The stack's lock on WML covers the backend: applies of one stack from two checkouts never both
write, a waiter names the holder, and a dead holder's lease is broken by force-unlock or its TTL."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from fldecl.core.contract import ProviderContext
from fldecl.emulator import EmulatorServer
from fldecl.providers.wml.connection import Credentials, WmlSession
from fldecl.providers.wml.lease import WmlLease
from fldecl.providers.wml.rest import RestReads
from tests.conftest import run_cli
from tests.core.stacks import write_stack
from tests.wml.conftest import cli_env

pytestmark = pytest.mark.slow(seconds=80)

PARTIES = 6


class Progress:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def progress(self, address: str, message: str) -> None:
        self.lines.append(message)


def owned_names(emulator: EmulatorServer, stack_name: str) -> Counter[str]:
    client = WmlSession(Credentials.from_environment(emulator.env())).client
    documents = client.remote_training_systems.get_details(get_all=True)["resources"]
    return Counter(d["metadata"]["name"] for d in documents if f"fldecl.stack.{stack_name}" in (d["metadata"].get("tags") or []))


#: ``fldecl ARGS`` started, with the CLI and IBM's client imported, when a line arrives on stdin: two of them are
#: released together, so both applies reach the lock within milliseconds (the imports take seconds, and vary).
AT_THE_SIGNAL = """
import sys
from fldecl.cli.main import main
import fldecl.providers.wml, ibm_watson_machine_learning
print("ready", flush=True)
sys.stdin.readline()
main(args=sys.argv[1:], prog_name="fldecl")
"""
ROUNDS = 4


def test_concurrent_applies_from_two_checkouts_never_both_write(tmp_path: Path, emulator: EmulatorServer) -> None:
    env = cli_env(emulator.env())
    emulator.set_faults(latency_ms=100)  # each apply holds the lock for seconds: the other, started with it, must wait
    for round_number in range(ROUNDS):
        name = f"race-{round_number}"
        checkouts = [write_stack(tmp_path / f"{name}-{side}", name, pki=False, model=False, parties=PARTIES) for side in "ab"]
        runs = [subprocess.Popen([sys.executable, "-c", AT_THE_SIGNAL, "apply", str(checkout), "--backend", "wml",
                                  "--auto-approve", "--lock-timeout", "120", "--parallelism", "1"], env=env,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for checkout in checkouts]
        for run in runs:
            assert run.stdout is not None and run.stdout.readline().strip() == "ready"
        for run in runs:
            assert run.stdin is not None
            run.stdin.write("go\n")
            run.stdin.flush()
        outputs = [run.communicate(timeout=300)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        assert owned_names(emulator, name) == Counter({f"Party_{i}": 1 for i in range(1, PARTIES + 1)}), outputs
        assert [("Apply complete!" in output) for output in outputs].count(True) == 1, "the second saw the first's work"
        winner, loser = sorted(range(2), key=lambda side: "Apply complete!" not in outputs[side])
        assert "lock: waiting for" not in outputs[winner], outputs
        assert f"lock: waiting for apply on {socket.gethostname()} (pid {runs[winner].pid})" in outputs[loser], outputs


HOLD_AND_HANG = """
import sys, time
from pathlib import Path
from fldecl.core.contract import ProviderContext
from fldecl.providers.wml.connection import Credentials, WmlSession
from fldecl.providers.wml import lease
from fldecl.providers.wml.lease import WmlLease
from fldecl.providers.wml.rest import RestReads
import os

if sys.argv[2] == "elsewhere":  # a runner on another machine: its pid says nothing here
    lease.this_machine = lambda: "another machine"

class Quiet:
    def progress(self, address, message): pass

name = sys.argv[1]
ctx = ProviderContext(name, Path("."), Path(".fldecl"), "fldecl.stack." + name, Quiet())
credentials = Credentials.from_environment(os.environ)
with WmlLease(WmlSession(credentials), RestReads(credentials), name).held("apply", 0, ctx):
    print("held", flush=True)
    time.sleep(600)
"""


def killed_holder(env: dict[str, str], stack_name: str, machine: str = "here") -> int:
    """A runner (on this machine, or ``elsewhere``) that took the stack's lock and was killed (kill -9): its lease stays,
    with no heartbeat. Returns its pid."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_AND_HANG, stack_name, machine], env=env, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait(timeout=30)
    return holder.pid


def test_a_dead_holder_on_this_machine_is_given_up_at_once(tmp_path: Path, emulator: EmulatorServer) -> None:
    env = cli_env(emulator.env())
    stack = write_stack(tmp_path / "stack", "here", pki=False, model=False, parties=1)
    pid = killed_holder(env, "here")
    applied = run_cli("apply", str(stack), "--backend", "wml", "--auto-approve", env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"lock: removing apply on {socket.gethostname()} (pid {pid})" in applied.stdout
    assert f"its runner (pid {pid}) on this machine is gone" in applied.stdout


def test_a_waiter_names_a_dead_holder_and_force_unlock_breaks_its_lease(tmp_path: Path, emulator: EmulatorServer) -> None:
    env = cli_env(emulator.env())
    stack = write_stack(tmp_path / "stack", "held", pki=False, model=False, parties=1)
    killed_holder(env, "held", "elsewhere")
    busy = run_cli("apply", str(stack), "--backend", "wml", "--auto-approve", env=env)
    assert busy.returncode == 1
    assert "the stack is locked by apply on" in busy.stderr and "fldecl force-unlock " in busy.stderr
    lease_id = busy.stderr.split("fldecl force-unlock ", 1)[1].split()[0]
    broken = run_cli("force-unlock", lease_id, str(stack), "--backend", "wml", env=env)
    assert broken.returncode == 0 and "broke the lock held by apply on" in broken.stdout
    assert run_cli("apply", str(stack), "--backend", "wml", "--auto-approve", env=env).returncode == 0


def test_a_dead_holders_lease_is_given_up_after_its_ttl(tmp_path: Path, emulator: EmulatorServer) -> None:
    killed_holder(cli_env(emulator.env()), "ttl", "elsewhere")
    progress = Progress()
    ctx = ProviderContext("ttl", tmp_path, tmp_path / ".fldecl", "fldecl.stack.ttl", progress)
    credentials = Credentials.from_environment(emulator.env())
    with WmlLease(WmlSession(credentials), RestReads(credentials), "ttl", ttl=1.0).held("apply", 30, ctx):
        assert any("no heartbeat for 1s, its runner died" in line for line in progress.lines)
