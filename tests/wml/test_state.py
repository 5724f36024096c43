"""`fldecl state rm` on the wml backend: the ownership tag is removed, the resource stays on WML, and the next plan
creates the declared one anew (naming the import that would adopt the old one again)."""

from __future__ import annotations

from pathlib import Path

from fldecl.emulator import EmulatorServer
from fldecl.providers.wml.connection import Credentials, WmlSession
from tests.conftest import run_cli
from tests.core.stacks import write_stack
from tests.wml.conftest import cli_env


def test_state_rm_untags_and_the_resource_stays_on_wml(tmp_path: Path, emulator: EmulatorServer) -> None:
    env = cli_env(emulator.env())
    stack = write_stack(tmp_path / "stack", "forget", pki=False, model=False, parties=2)
    assert run_cli("apply", str(stack), "--backend", "wml", "--auto-approve", env=env).returncode == 0
    listed = run_cli("state", "list", str(stack), "--backend", "wml", env=env)
    assert listed.stdout.splitlines() == ["RemoteTrainingSystem/Party_1", "RemoteTrainingSystem/Party_2"]
    removed = run_cli("state", "rm", "RemoteTrainingSystem/Party_1", str(stack), "--backend", "wml", env=env)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert "removed the tag fldecl.stack.forget; the resource stays on WML" in removed.stdout
    client = WmlSession(Credentials.from_environment(emulator.env())).client
    systems = {rts["metadata"]["name"]: rts["metadata"].get("tags") for rts in
               client.remote_training_systems.get_details(get_all=True)["resources"]}
    assert systems["Party_1"] == ["wml_fl_fhe_nb_example"], "still on WML, with its other tags"
    assert "fldecl.stack.forget" in systems["Party_2"]
    plan = run_cli("plan", str(stack), "--backend", "wml", env=env)
    assert plan.stdout.startswith("Plan: 1 to create, 0 to update, 0 to replace, 0 to delete."), plan.stdout
    assert "# RemoteTrainingSystem/Party_1 will be created" in plan.stdout
