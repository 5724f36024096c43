"""One suite, two backends: plan / apply / plan / change / plan / destroy with the same expected plans
on ``local`` (training for real) and on ``wml`` (the real client against the emulator)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.wml.conftest import cli_env, emulator, make_stack, wml_env  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow(seconds=45)

ALL = ["CertificateAuthority/issuer", "DataSplit/digits", "Model/pytorch", "PartyCertificate/party-1", "PartyCertificate/party-2",
       "RemoteTrainingSystem/Party_1", "RemoteTrainingSystem/Party_2", "Training/aggregator_he"]


@pytest.fixture(params=["local", "wml"])
def backend(request: pytest.FixtureRequest) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``fldecl ARGS`` against the parametrized backend."""
    if request.param == "local":
        return lambda *args: run_cli(*args, "--backend", "local")
    environment = cli_env(request.getfixturevalue("wml_env"))
    return lambda *args: run_cli(*args, "--backend", "wml", env=environment)


def plan_summary(fldecl: Callable[..., subprocess.CompletedProcess[str]], stack: Path) -> dict[str, tuple]:
    result = fldecl("plan", str(stack), "--json")
    assert result.returncode == 0, result.stderr
    return {c["address"]: (c["change"]["actions"], [f["field"] for f in c["change"]["changed_fields"]], c["reasons"])
            for c in json.loads(result.stdout)["resource_changes"]}


def test_same_plans_on_both_backends(backend: Callable[..., subprocess.CompletedProcess[str]], make_stack: Callable[..., Path]) -> None:
    stack = make_stack()
    (stack / "training.yaml").write_text((stack / "training.yaml").read_text().replace("rounds: 2", "rounds: 1"))

    first = plan_summary(backend, stack)
    assert sorted(first) == ALL
    assert {actions[0][0] for actions in first.values()} == {"create"}

    applied = backend("apply", str(stack), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Apply complete! 8 created, 0 updated, 0 deleted." in applied.stdout
    assert backend("plan", str(stack), "--detailed-exitcode").returncode == 0

    rts = stack / "rts.yaml"
    rts.write_text(rts.read_text().replace("Party 1 of the example consortium", "First party"))
    model = stack / "model.yaml"
    model.write_text(model.read_text().replace("out_features: 50", "out_features: 40").replace("in_features: 50", "in_features: 40"))
    changed = plan_summary(backend, stack)
    assert changed["RemoteTrainingSystem/Party_1"] == (["update"], ["description"], ["attributes differ from the manifest"])
    model_actions, _model_fields, model_reasons = changed["Model/pytorch"]
    assert model_actions == ["delete", "create"] and "content_hash forces replacement" in model_reasons
    assert changed["Training/aggregator_he"] == (["delete", "create"], ["model"], ["Model/pytorch will be replaced"])
    assert {a for a, (actions, _, _) in changed.items() if actions == ["no-op"]} == set(ALL) - {
        "RemoteTrainingSystem/Party_1", "Model/pytorch", "Training/aggregator_he"}
    assert backend("plan", str(stack), "--detailed-exitcode").returncode == 2

    destroyed = backend("destroy", str(stack), "--auto-approve")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert "8 deleted" in destroyed.stdout
    assert json.loads(backend("show", str(stack), "--json").stdout)["resources"] == []
