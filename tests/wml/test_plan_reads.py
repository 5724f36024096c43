"""A wml plan reads through WML's REST API: no IBM client imported, tags filtered on the server,
requests that grow with the stack rather than the project, and faults retried page by page."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fldecl.emulator import EmulatorServer
from fldecl.providers.wml.connection import Credentials, WmlSession
from tests.conftest import run_cli
from tests.core.stacks import write_stack
from tests.wml.conftest import cli_env
from tests.wml.test_reconcile import apply, open_stack

PLAN_IN_PROCESS = """
import sys
from pathlib import Path
from fldecl.cli.session import load, reconciler
plan = reconciler(load(Path(sys.argv[1]), "wml")).plan()
print(plan.summary)
print("ibm_watson_machine_learning" in sys.modules)
"""


def applied_stack(directory: Path) -> Path:
    """A stack of three parties, applied in this process (IBM's client is imported here once, not per command)."""
    stack = write_stack(directory / "stack", pki=False, model=False, parties=3)
    rec, _ = open_stack(stack)
    apply(rec)
    return stack


def test_a_no_op_plan_does_not_import_ibms_client(tmp_path: Path, emulator: EmulatorServer, wml_env: dict[str, str]) -> None:
    env = cli_env(wml_env)
    stack = applied_stack(tmp_path)
    planned = subprocess.run([sys.executable, "-c", PLAN_IN_PROCESS, str(stack)], env=env, capture_output=True, text=True)
    assert planned.stdout.splitlines() == ["0 to create, 0 to update, 0 to replace, 0 to delete", "False"], planned.stderr


def test_the_stacks_reads_cost_its_own_size_and_survive_faults(tmp_path: Path, emulator: EmulatorServer,
                                                               wml_env: dict[str, str]) -> None:
    env = cli_env(wml_env)
    stack = applied_stack(tmp_path)
    emulator.reset_stats()
    assert run_cli("plan", str(stack), "--backend", "wml", "--detailed-exitcode", env=env).returncode == 0
    alone = emulator.stats()["total"]
    client = WmlSession(Credentials.from_environment(emulator.env())).client
    for i in range(450):  # another stack's parties fill the project: three pages of 200 for an untagged listing
        client.remote_training_systems.store({"name": f"Other_{i}", "allowed_identities": [], "tags": ["fldecl.stack.other"]})
    emulator.reset_stats()
    assert run_cli("plan", str(stack), "--backend", "wml", "--detailed-exitcode", env=env).returncode == 0
    assert emulator.stats()["total"] == alone, "the plan reads only what carries the stack's tag"
    emulator.set_faults(error_rate=0.25, seed=7)
    for command in (["plan", "--detailed-exitcode"], ["show", "--json"], ["apply", "--auto-approve"]):
        result = run_cli(command[0], str(stack), "--backend", "wml", *command[1:], env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    emulator.set_faults(error_rate=0.0)
    shown = json.loads(run_cli("show", str(stack), "--backend", "wml", "--json", env=env).stdout)
    assert sorted(resource["address"] for resource in shown["resources"]) == [f"RemoteTrainingSystem/Party_{i}" for i in (1, 2, 3)]
