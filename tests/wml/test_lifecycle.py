"""The example stack on the wml backend against the emulator, through the real CLI: plan, apply,
no changes, an in-place update and a replacement cascade, the notebook's reuse listing, a
foreign look-alike left alone, destroy."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from fldecl.emulator import EmulatorServer
from fldecl.providers.wml.connection import Credentials, WmlSession
from tests.conftest import run_cli
from tests.wml.conftest import cli_env

pytestmark = pytest.mark.slow(seconds=40)

NOTEBOOK_TAG = "wml_fl_fhe_nb_example"


def fldecl(environment: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--backend", "wml", env=cli_env(environment), timeout=300)


def test_example_stack_lifecycle(emulator: EmulatorServer, wml_env: dict[str, str], make_stack: Any) -> None:
    stack = make_stack(trained_model=True)
    client = WmlSession(Credentials.from_environment(wml_env)).client
    foreign_rts = client.remote_training_systems.store(
        {"name": "Party_1", "tags": [NOTEBOOK_TAG], "allowed_identities": [{"id": "someone", "type": "user"}]})
    runs: list[subprocess.CompletedProcess[str]] = []

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        runs.append(fldecl(wml_env, *args))
        return runs[-1]

    applied = run("apply", str(stack), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Training/aggregator_he: completed (2/2 rounds)" in applied.stdout
    assert "Apply complete! 9 created, 0 updated, 0 deleted." in applied.stdout
    second = run("plan", str(stack), "--detailed-exitcode")
    assert second.returncode == 0, second.stdout

    owned = ["fldecl.stack.mnist-fhe", NOTEBOOK_TAG]
    models = client.repository.get_model_details(get_all=True)["resources"]
    systems = client.remote_training_systems.get_details(get_all=True)["resources"]
    reused = [r["metadata"]["name"] for r in models + systems if r["metadata"].get("tags") == owned]
    assert sorted(reused) == ["Party_1", "Party_2", "pytorch", "trained"]

    (stack / "rts.yaml").write_text((stack / "rts.yaml").read_text().replace("Party 1 of the example", "First party of the"))
    (stack / "model.yaml").write_text((stack / "model.yaml").read_text().replace("out_features: 50", "out_features: 40")
                                      .replace("in_features: 50", "in_features: 40"))
    updated = run("apply", str(stack), "--auto-approve")
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "# RemoteTrainingSystem/Party_1 will be updated in place" in updated.stdout
    for replaced in ("Model/pytorch", "Training/aggregator_he", "Model/trained"):
        assert f"# {replaced} must be replaced" in updated.stdout
    assert "# RemoteTrainingSystem/Party_2" not in updated.stdout
    assert "3 created, 1 updated, 3 deleted" in updated.stdout
    assert run("plan", str(stack), "--detailed-exitcode").returncode == 0

    destroyed = run("destroy", str(stack), "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert "Remote training system deleted" not in destroyed.stdout  # the client's own prints stay out
    left = client.remote_training_systems.get_details(get_all=True)["resources"]
    assert [r["metadata"]["id"] for r in left] == [foreign_rts["metadata"]["id"]]
    assert client.repository.get_model_details(get_all=True)["resources"] == []
    assert client.training.get_details(get_all=True)["resources"] == []
    for completed in runs:
        assert emulator.api_key not in completed.stdout + completed.stderr
        assert "Traceback" not in completed.stderr
