"""One stack directory used with two backends: each backend's records of the key and data files live
apart (``.fldecl/<backend>/``), so a destroy on one never forgets what the other uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fldecl.emulator import EmulatorServer
from tests.conftest import run_cli
from tests.wml.conftest import cli_env

PARTY = "RemoteTrainingSystem/Party_1"


def test_a_wml_destroy_leaves_the_local_deployment_as_it_was(emulator: EmulatorServer, wml_env: dict[str, str],
                                                             make_stack: Any) -> None:
    stack: Path = make_stack("two-backends")
    local = cli_env({**wml_env, "FLDECL_BACKEND": "local"})
    wml = cli_env({**wml_env, "FLDECL_BACKEND": "wml"})
    for env in (local, wml):
        applied = run_cli("apply", str(stack), "--auto-approve", "--target", PARTY, env=env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
    assert (stack / ".fldecl" / "local" / "workspace.db").is_file() and (stack / ".fldecl" / "wml" / "workspace.db").is_file()

    destroyed = run_cli("destroy", str(stack), "--auto-approve", env=wml)
    assert destroyed.returncode == 0 and "4 deleted" in destroyed.stdout, destroyed.stdout + destroyed.stderr
    planned = run_cli("plan", str(stack), "--target", PARTY, "--detailed-exitcode", env=local)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert planned.stdout.startswith("Plan: 0 to create, 0 to update, 0 to replace, 0 to delete.")
