"""IBM's admin notebook flow, made with IBM's client against the emulator and tagged as the notebook tags
(``Federated Learning``, a space inside), adopted with ``fldecl import --generate-into``: a stack that takes the tag
and validates, the imports it prints, then a clean plan, then edits that update in place."""

from __future__ import annotations

import json
import shlex
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from fldecl.emulator import EmulatorServer
from fldecl.providers.wml.connection import Credentials, WmlSession
from tests.conftest import run_cli
from tests.wml.conftest import cli_env

pytestmark = pytest.mark.slow(seconds=55)

NOTEBOOK_TAGS = ["Federated Learning"]  # as IBM's admin notebook tags, a space inside: WML takes it


def notebook(client: Any, directory: Path, tags: list[str] = NOTEBOOK_TAGS) -> dict[str, Any]:
    """What the admin notebook makes: the initial model from its zip, a remote training system per party, the aggregator."""
    zip_path = directory / "pt_mnist_init_model.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("pytorch_sequence.pt", b"the notebook's pickled Sequential")
    model = client.repository.store_model(str(zip_path), meta_props={
        "name": "MNIST init model", "type": "pytorch-onnx_1.12", "tags": tags,
        "software_spec": client.software_specifications.get_id_by_name("runtime-22.2-py3.10")})
    parties = [client.remote_training_systems.get_id(client.remote_training_systems.store({
        "name": f"Remote Party {index}", "tags": tags, "organization": {"name": "IBM", "region": "US"},
        "allowed_identities": [{"id": "notebook-user", "type": "user"}], "remote_admin": {"id": "notebook-user", "type": "user"}}))
        for index in (1, 2)]
    names = client.training.ConfigurationMetaNames
    training = client.training.run(asynchronous=True, meta_props={
        names.NAME: "FL Aggregator", names.DESCRIPTION: "HE aggregator", names.TAGS: tags,
        names.TRAINING_DATA_REFERENCES: [],
        names.TRAINING_RESULTS_REFERENCE: {"type": "container", "name": "outputData", "connection": {}, "location": {"path": "."}},
        names.FEDERATED_LEARNING: {
            "model": {"type": "pytorch", "spec": {"id": client.repository.get_model_id(model)}, "model_file": "pytorch_sequence.pt"},
            "fusion_type": "crypto_iter_avg", "crypto": {"cipher_spec": "encryption_level_1"}, "epochs": 1, "rounds": 2,
            "metrics": "accuracy",
            "remote_training": {"max_timeout": 600, "quorum": 1,
                                "remote_training_systems": [{"id": party, "required": True} for party in parties]},
            "software_spec": {"name": "runtime-22.2-py3.10"}, "hardware_spec": {"name": "S"}}})
    return {"model": client.repository.get_model_id(model), "parties": parties, "training": client.training.get_id(training),
            "zip": zip_path.read_bytes()}


@pytest.fixture
def made(emulator: EmulatorServer, wml_env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    return notebook(WmlSession(Credentials.from_environment(wml_env)).client, tmp_path)


def fldecl(wml_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=cli_env(wml_env))


def held(emulator: EmulatorServer, wml_env: dict[str, str]) -> list[tuple[str, str, list[str]]]:
    """Every resource the emulator holds: kind, name, tags."""
    client = WmlSession(Credentials.from_environment(wml_env)).client
    lists = {"Model": client.repository.get_model_details(get_all=True), "RTS": client.remote_training_systems.get_details(get_all=True),
             "Training": client.training.get_details(get_all=True)}
    return sorted((kind, r["metadata"]["name"], sorted(r["metadata"].get("tags") or [])) for kind, found in lists.items()
                  for r in found["resources"])


def test_the_admin_notebook_is_adopted_and_plans_clean(emulator: EmulatorServer, wml_env: dict[str, str], made: dict[str, Any],
                                                      tmp_path: Path) -> None:
    stack = tmp_path / "consortium"
    before = held(emulator, wml_env)
    generated = fldecl(wml_env, "import", "--generate-into", str(stack), "--tag", "Federated Learning")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert yaml.safe_load((stack / "stack.yaml").read_text())["spec"]["tags"] == ["Federated Learning"]
    assert fldecl(wml_env, "validate", str(stack)).returncode == 0
    imports = [line.strip() for line in generated.stdout.splitlines() if line.strip().startswith("fldecl import ")]
    assert imports == [f"fldecl import Model/MNIST_init_model {made['model']} {stack}",
                       f"fldecl import RemoteTrainingSystem/Remote_Party_1 {made['parties'][0]} {stack}",
                       f"fldecl import RemoteTrainingSystem/Remote_Party_2 {made['parties'][1]} {stack}"]
    assert held(emulator, wml_env) == before  # reading only

    models = yaml.safe_load((stack / "models.yaml").read_text())
    assert models["metadata"] == {"name": "MNIST_init_model"} and models["spec"] == {
        "name": "MNIST init model", "type": "pytorch-onnx_1.12", "software_spec": {"name": "runtime-22.2-py3.10"},
        "model_file": "pytorch_sequence.pt", "source": {"zip_file": "models/MNIST_init_model.zip"}}
    assert (stack / "models" / "MNIST_init_model.zip").read_bytes() == made["zip"]
    parties = list(yaml.safe_load_all((stack / "remote_training_systems.yaml").read_text()))
    assert [(p["metadata"]["name"], p["spec"]["name"]) for p in parties] == [("Remote_Party_1", "Remote Party 1"),
                                                                             ("Remote_Party_2", "Remote Party 2")]
    trainings = (stack / "trainings.yaml").read_text()
    assert f"Training/FL_Aggregator ({made['training']}) is written for reference only" in trainings
    commented = yaml.safe_load(uncommented(trainings))
    assert commented["spec"]["model"] == "MNIST_init_model"
    assert [p["name"] for p in commented["spec"]["remote_training"]["remote_training_systems"]] == ["Remote_Party_1", "Remote_Party_2"]

    assert fldecl(wml_env, "plan", str(stack), "--detailed-exitcode").returncode == 2  # not imported yet
    for command in imports:
        imported = fldecl(wml_env, *shlex.split(command)[1:])
        assert imported.returncode == 0, imported.stderr
    assert fldecl(wml_env, "plan", str(stack), "--detailed-exitcode").returncode == 0

    rts_file = stack / "remote_training_systems.yaml"
    rts_file.write_text(rts_file.read_text().replace("  name: Remote Party 1\n", "  name: Remote Party 1\n  description: first party\n"))
    models_file = stack / "models.yaml"
    models_file.write_text(models_file.read_text().replace("  name: MNIST init model\n", "  name: MNIST initial model\n"))
    planned = json.loads(fldecl(wml_env, "plan", str(stack), "--json").stdout)
    changed = {c["address"]: (c["change"]["actions"], [f["field"] for f in c["change"]["changed_fields"]])
               for c in planned["resource_changes"] if c["change"]["actions"] != ["no-op"]}
    assert changed == {"Model/MNIST_init_model": (["update"], ["name"]),
                       "RemoteTrainingSystem/Remote_Party_1": (["update"], ["description"])}
    applied = fldecl(wml_env, "apply", str(stack), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "0 created, 2 updated, 0 deleted" in applied.stdout
    assert fldecl(wml_env, "plan", str(stack), "--detailed-exitcode").returncode == 0

    (stack / "trainings.yaml").write_text(uncommented(trainings))  # all it takes to have fldecl start one like it
    planned = json.loads(fldecl(wml_env, "plan", str(stack), "--json").stdout)
    assert [(c["address"], c["change"]["actions"]) for c in planned["resource_changes"] if c["change"]["actions"] != ["no-op"]] == [
        ("Training/FL_Aggregator", ["create"])]


def uncommented(text: str) -> str:
    """The manifest a reference-only block holds: the lines after its ``# ---``, without their ``# ``."""
    block = text.split("# ---\n", 1)[1]
    return "".join(line.removeprefix("# ") + "\n" for line in block.splitlines())


def test_a_training_id_brings_its_model_and_parties(emulator: EmulatorServer, wml_env: dict[str, str], made: dict[str, Any],
                                                   tmp_path: Path) -> None:
    stack = tmp_path / "by-id"
    generated = fldecl(wml_env, "import", "--generate-into", str(stack), "--id", made["training"])
    assert generated.returncode == 0, generated.stderr
    assert sum(line.strip().startswith("fldecl import ") for line in generated.stdout.splitlines()) == 3
    assert fldecl(wml_env, "validate", str(stack)).returncode == 0


def test_mistakes_change_nothing(emulator: EmulatorServer, wml_env: dict[str, str], made: dict[str, Any], tmp_path: Path) -> None:
    unknown = fldecl(wml_env, "import", "--generate-into", str(tmp_path / "new"), "--id", "no-such-id")
    assert unknown.returncode == 1 and "holds no resource with the id no-such-id" in unknown.stderr
    assert not (tmp_path / "new").exists()
    nothing = fldecl(wml_env, "import", "--generate-into", str(tmp_path / "new"))
    assert nothing.returncode == 1 and "--tag TAG" in nothing.stderr
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "stack.yaml").write_text("apiVersion: fldecl/v1\nkind: Stack\nmetadata: {name: occupied}\nspec: {backend: wml}\n")
    (occupied / "models.yaml").write_text("# the user's own file\n")
    clash = fldecl(wml_env, "import", "--generate-into", str(occupied), "--tag", "Federated Learning")
    assert clash.returncode == 1 and "models.yaml exists already" in clash.stderr
    assert sorted(path.name for path in occupied.iterdir() if path.name != ".fldecl") == ["models.yaml", "stack.yaml"]
    assert (occupied / "models.yaml").read_text() == "# the user's own file\n"
    assert "Traceback" not in unknown.stderr + nothing.stderr + clash.stderr
