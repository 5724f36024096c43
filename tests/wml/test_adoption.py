"""Taking over what IBM's notebooks made, on the wml backend with IBM's client against the emulator:
WML names no manifest name can spell, plans that point at the import to run, and imports that
plan clean when the resource is what the manifest declares."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

from fldecl.core.saved_plan import plan_document
from fldecl.emulator import EmulatorServer
from fldecl.models import build_zip
from fldecl.render.plan_markdown import plan_markdown
from tests.conftest import run_cli
from tests.core.stacks import stack_document, write_files
from tests.wml.conftest import cli_env
from tests.wml.test_reconcile import apply, client_of, converged, open_stack

NOTEBOOK_TAGS = ["wml_fl_fhe_nb_example"]
STACK = stack_document("adopted", "wml")
RTS = """\
apiVersion: fldecl/v1
kind: RemoteTrainingSystem
metadata: {name: Remote_Party_1}
spec:
  name: Remote Party 1
  description: the notebook's first party
  organization: {name: IBM, region: US}
  allowed_identities: [{id: local-user, type: user}]
  remote_admin: {id: local-user, type: user}
"""
MODEL = """\
apiVersion: fldecl/v1
kind: Model
metadata: {name: MODEL_NAME}
spec:
  name: WML_NAME
  type: pytorch-onnx_1.12
  software_spec: {name: runtime-22.2-py3.10}
  model_file: pytorch_sequence.pt
  source: SOURCE
"""
ARCHITECTURE = ("{architecture: {framework: pytorch, layers: [{type: Flatten}, {type: Linear, in_features: 784, out_features: 10}, "
                "{type: LogSoftmax, dim: 1}]}}")


def write(stack: Path, **files: str) -> Path:
    return write_files(stack, STACK, {f"{name}.yaml": text for name, text in files.items()})


def fldecl(wml_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=cli_env(wml_env))


def notebook_rts(client: Any, name: str) -> str:
    """A remote training system as the admin notebook makes it: its own name, the notebook's tags."""
    made = client.remote_training_systems.store({
        "name": name, "tags": NOTEBOOK_TAGS, "description": "the notebook's first party",
        "organization": {"name": "IBM", "region": "US"}, "allowed_identities": [{"id": "local-user", "type": "user"}],
        "remote_admin": {"id": "local-user", "type": "user"}})
    return str(made["metadata"]["id"])


def notebook_model(client: Any, name: str, zip_path: Path) -> str:
    made = client.repository.store_model(str(zip_path), meta_props={
        "name": name, "type": "pytorch-onnx_1.12", "tags": NOTEBOOK_TAGS,
        "software_spec": client.software_specifications.get_id_by_name("runtime-22.2-py3.10")})
    return str(made["metadata"]["id"])


def test_a_wml_name_with_spaces_is_imported_then_edited_and_renamed_in_place(emulator: EmulatorServer, wml_env: dict[str, str],
                                                                            tmp_path: Path) -> None:
    stack = write(tmp_path / "adopted", rts=RTS)
    rec, _ = open_stack(stack)
    rts_id = notebook_rts(client_of(rec), "Remote Party 1")

    planned = fldecl(wml_env, "plan", str(stack))
    assert planned.returncode == 0, planned.stderr
    hint = (f'# RemoteTrainingSystem/Remote_Party_1 will be created, but a RemoteTrainingSystem named "Remote Party 1" '
            f"already exists without this stack's tag (id {rts_id}); to adopt it instead: "
            f"fldecl import RemoteTrainingSystem/Remote_Party_1 {rts_id} {stack}")
    assert hint in planned.stdout
    assert hint in plan_markdown(rec.plan(), str(stack))
    [change] = plan_document(rec.plan())["resource_changes"]
    assert change["same_name_unowned"] == [{"id": rts_id, "name": "Remote Party 1", "owner": None}]

    imported = fldecl(wml_env, "import", "RemoteTrainingSystem/Remote_Party_1", rts_id, str(stack))
    assert imported.returncode == 0, imported.stderr
    assert converged(rec)

    (stack / "rts.yaml").write_text(RTS.replace("the notebook's first party", "the first party"))
    assert changed_fields(stack) == (["update"], ["description"])
    (stack / "rts.yaml").write_text(RTS.replace("name: Remote Party 1", "name: Party One"))
    assert changed_fields(stack) == (["update"], ["name"])
    rec, _ = open_stack(stack)
    apply(rec)
    held = client_of(rec).remote_training_systems.get_details(rts_id)["metadata"]
    assert (held["name"], sorted(held["tags"])) == ("Party One", ["fldecl.stack.adopted", *NOTEBOOK_TAGS])
    assert converged(rec)


def changed_fields(stack: Path) -> tuple[list[str], list[str]]:
    """The one change the stack plans now: its actions and the fields it changes."""
    rec, _ = open_stack(stack)
    [change] = [c for c in rec.plan().changes if c.actions != ["no-op"]]
    return change.actions, [field.name for field in change.fields]


def test_an_imported_model_whose_content_is_the_declared_zip_plans_clean(emulator: EmulatorServer, wml_env: dict[str, str],
                                                                        tmp_path: Path) -> None:
    stack = tmp_path / "adopted"
    stack.mkdir()
    (stack / "pt_mnist_init_model.zip").write_bytes(build_zip({"type": "pytorch-onnx_1.12", "model_file": "pytorch_sequence.pt",
                                                                "source": {"architecture": {"framework": "pytorch", "layers": [
                                                                    {"type": "Flatten"}]}}}, stack))
    manifest = MODEL.replace("MODEL_NAME", "initial").replace("WML_NAME", "MNIST initial model")
    write(stack, model=manifest.replace("SOURCE", "{zip_file: pt_mnist_init_model.zip}"))
    rec, _ = open_stack(stack)
    model_id = notebook_model(client_of(rec), "MNIST initial model", stack / "pt_mnist_init_model.zip")

    [create] = [c for c in rec.plan().changes if c.address == "Model/initial"]
    assert create.actions == ["create"] and [found.id for found in create.same_name] == [model_id]
    adopted = rec.adopt("Model/initial", model_id)
    zip_hash = "sha256:" + hashlib.sha256((stack / "pt_mnist_init_model.zip").read_bytes()).hexdigest()
    assert (adopted.attributes["content_hash"], adopted.attributes["source"]) == (zip_hash, {"zip_file": "pt_mnist_init_model.zip"})
    assert converged(rec)

    (stack / "model.yaml").write_text(manifest.replace("SOURCE", "{zip_file: pt_mnist_init_model.zip}")
                                      .replace("pytorch_sequence.pt", "pytorch_sequence.pt\n  description: the seed's model"))
    assert changed_fields(stack) == (["update"], ["description"])
    rec, _ = open_stack(stack)
    apply(rec)
    assert converged(rec)


def test_an_imported_model_built_from_the_declared_architecture_plans_clean(emulator: EmulatorServer, wml_env: dict[str, str],
                                                                           tmp_path: Path) -> None:
    manifest = MODEL.replace("MODEL_NAME", "built").replace("  name: WML_NAME\n", "").replace("SOURCE", ARCHITECTURE)
    stack = write(tmp_path / "adopted", model=manifest)
    rec, _ = open_stack(stack)
    declared = rec.stack.declarations["Model/built"].spec
    (tmp_path / "built.zip").write_bytes(build_zip(declared, stack))  # what fldecl would upload, made elsewhere
    same = notebook_model(client_of(rec), "built", tmp_path / "built.zip")
    rec.adopt("Model/built", same)
    assert converged(rec)


def test_an_imported_model_with_other_content_is_planned_for_replacement_with_its_real_hash(
        emulator: EmulatorServer, wml_env: dict[str, str], tmp_path: Path) -> None:
    manifest = MODEL.replace("MODEL_NAME", "built").replace("  name: WML_NAME\n", "").replace("SOURCE", ARCHITECTURE)
    stack = write(tmp_path / "adopted", model=manifest)
    rec, _ = open_stack(stack)
    other = build_zip({**rec.stack.declarations["Model/built"].spec,
                       "source": {"architecture": {"framework": "pytorch", "seed": 1, "layers": [{"type": "Flatten"}]}}}, stack)
    (tmp_path / "other.zip").write_bytes(other)
    adopted = rec.adopt("Model/built", notebook_model(client_of(rec), "built", tmp_path / "other.zip"))
    assert adopted.attributes["content_hash"] == "sha256:" + hashlib.sha256(other).hexdigest()
    [change] = [c for c in rec.plan().changes if c.address == "Model/built"]
    assert change.actions == ["delete", "create"] and "content_hash forces replacement" in change.reasons
