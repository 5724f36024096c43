"""The reconciler in-process on the wml backend: training states, import, request counts at scale,
convergence through injected faults, and no duplicate when a create's answer is lost."""

from __future__ import annotations

import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from fldecl.cli.session import reconciler
from fldecl.core.contract import ApplyOptions
from fldecl.core.errors import NotFoundError, ProviderError
from fldecl.core.reconciler import Reconciler
from fldecl.emulator import EmulatorServer
from fldecl.kinds import load_stack
from tests.emulator.helpers import session_for
from tests.wml.conftest import QuietListener


class Progress:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def progress(self, address: str, message: str) -> None:
        self.messages.append((address, message))


def open_stack(stack_dir: Path, wait: bool = True) -> tuple[Reconciler, Progress]:
    progress = Progress()
    return reconciler(load_stack(stack_dir, backend_override="wml"), wait=wait, reporter=progress), progress


def apply(rec: Reconciler, parallelism: int = 10) -> QuietListener:
    listener = QuietListener()
    result = rec.apply(rec.plan(), listener, ApplyOptions(parallelism=parallelism))
    assert not result.failed and not result.skipped, result.failed + result.skipped
    return listener


def converged(rec: Reconciler) -> bool:
    return all(change.actions == ["no-op"] for change in rec.plan().changes)


def owned_names(emulator_client: Any, tag: str) -> dict[str, list[str]]:
    """Per kind, the names of what carries ``tag`` (duplicates show as repeated names)."""
    lists = {"Model": emulator_client.repository.get_model_details(get_all=True),
             "RemoteTrainingSystem": emulator_client.remote_training_systems.get_details(get_all=True),
             "Training": emulator_client.training.get_details(get_all=True)}
    return {kind: sorted(r["metadata"]["name"] for r in found["resources"] if tag in (r["metadata"].get("tags") or []))
            for kind, found in lists.items()}


def client_of(rec: Reconciler) -> Any:
    return rec.providers.resources["Model"].session.client


def test_training_status_failed_is_replaced_and_completed_left_alone(emulator: EmulatorServer, wml_env: dict[str, str],
                                                                     make_stack: Any) -> None:
    rec, progress = open_stack(make_stack(), wait=False)
    apply(rec)
    assert any("started (id" in message for _, message in progress.messages)
    training = next(obs for obs in rec.observe() if obs.kind == "Training")
    assert training.status.split()[0] in ("pending", "accepting_parties", "running")
    emulator.set_training_state(training.id, "failed", "party Party_2 ran out of memory")
    change = next(c for c in rec.plan().changes if c.address == "Training/aggregator_he")
    assert change.actions == ["delete", "create"]
    assert "training failed: party Party_2 ran out of memory" in change.reasons
    emulator.set_training_state(training.id, "completed")
    assert converged(rec)
    assert next(obs for obs in rec.observe() if obs.kind == "Training").status == "completed (2/2 rounds)"


def test_import_adds_the_tags_to_a_notebook_rts_without_recreating_it(emulator: EmulatorServer, wml_env: dict[str, str],
                                                                       make_stack: Any) -> None:
    rec, _ = open_stack(make_stack())
    made = client_of(rec).remote_training_systems.store(
        {"name": "Party_1", "tags": ["wml_fl_fhe_nb_example"], "description": "Party 1 of the example consortium",
         "organization": {"name": "IBM", "region": "US"}, "allowed_identities": [{"id": "local-user", "type": "user"}],
         "remote_admin": {"id": "local-user", "type": "user"}})
    adopted = rec.adopt("RemoteTrainingSystem/Party_1", made["metadata"]["id"])
    assert adopted.id == made["metadata"]["id"]
    assert sorted(adopted.tags) == ["fldecl.stack.mnist-fhe", "wml_fl_fhe_nb_example"]
    change = next(c for c in rec.plan().changes if c.address == "RemoteTrainingSystem/Party_1")
    assert change.actions == ["update"] and [f.name.split(".")[0] for f in change.fields] == ["party"]
    with pytest.raises(ProviderError, match="cannot be imported"):
        rec.adopt("Training/aggregator_he", made["metadata"]["id"])
    with pytest.raises(NotFoundError):
        rec.adopt("Model/pytorch", made["metadata"]["id"])


def test_import_adds_the_tags_to_a_notebook_model(emulator: EmulatorServer, wml_env: dict[str, str], make_stack: Any) -> None:
    stack = make_stack()
    rec, _ = open_stack(stack)
    client = client_of(rec)
    with zipfile.ZipFile(stack / "pt_mnist_init_model.zip", "w") as archive:
        archive.writestr("pytorch_sequence.pt", b"the notebook's model")
    made = client.repository.store_model(str(stack / "pt_mnist_init_model.zip"), meta_props={
        "name": "pytorch", "type": "pytorch-onnx_1.12", "tags": ["wml_fl_fhe_nb_example"],
        "software_spec": client.software_specifications.get_id_by_name("runtime-22.2-py3.10")})
    adopted = rec.adopt("Model/pytorch", made["metadata"]["id"])
    assert (adopted.id, sorted(adopted.tags)) == (made["metadata"]["id"], ["fldecl.stack.mnist-fhe", "wml_fl_fhe_nb_example"])
    change = next(c for c in rec.plan().changes if c.address == "Model/pytorch")
    # The spec is the declared one; the content is not one fldecl built, so the plan replaces it.
    assert "software_spec forces replacement" not in change.reasons
    assert "content_hash forces replacement" in change.reasons


def test_a_plan_of_500_rts_costs_a_few_list_requests(emulator: EmulatorServer, wml_env: dict[str, str],
                                                     tmp_path: Path) -> None:
    stack = tmp_path / "many"
    stack.mkdir()
    (stack / "stack.yaml").write_text("apiVersion: fldecl/v1\nkind: Stack\nmetadata: {name: many}\nspec: {backend: wml}\n")
    (stack / "rts.yaml").write_text("".join(
        f"---\napiVersion: fldecl/v1\nkind: RemoteTrainingSystem\nmetadata: {{name: party-{i}}}\n"
        f"spec: {{allowed_identities: [{{id: user-{i}, type: user}}]}}\n" for i in range(500)))
    rec, _ = open_stack(stack)
    apply(rec, parallelism=10)
    emulator.reset_stats()
    assert converged(rec)
    requests_made = emulator.stats()["requests"]
    assert requests_made.get("GET /ml/v4/remote_training_systems") == 3  # 500 at 200 a page
    assert requests_made.get("GET /ml/v4/models") == 1 and requests_made.get("GET /ml/v4/trainings") == 1
    assert sum(requests_made.values()) == 5


def test_apply_converges_through_faults_without_duplicates(emulator: EmulatorServer, wml_env: dict[str, str],
                                                          make_stack: Any) -> None:
    rec, _ = open_stack(make_stack(trained_model=True))
    emulator.set_faults(latency_ms=50, error_rate=0.15, drop_rate=0.05, error_mix={429: 1, 500: 1, 503: 1},
                        seed=20)
    apply(rec)
    assert converged(rec)
    faults = emulator.stats()["faults"]
    emulator.set_faults(error_rate=0.0, drop_rate=0.0, latency_ms=0)
    assert sum(faults.values()) >= 3, faults
    assert owned_names(client_of(rec), "fldecl.stack.mnist-fhe") == {
        "Model": ["pytorch", "trained"], "RemoteTrainingSystem": ["Party_1", "Party_2"], "Training": ["aggregator_he"]}


def test_a_create_whose_answer_was_lost_is_found_not_repeated(emulator: EmulatorServer, wml_env: dict[str, str],
                                                              make_stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rec, progress = open_stack(make_stack())
    send, lost = requests.post, Counter()

    def answer_lost_once(url: str, **kwargs: Any) -> requests.Response:
        """WML made the resource, but the connection dropped before its answer arrived."""
        response = send(url=url, **kwargs)
        collection = url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        if "/ml/v4/" in url and not lost[collection]:
            lost[collection] += 1
            raise requests.exceptions.ConnectionError("connection reset by peer")
        return response

    monkeypatch.setattr(requests, "post", answer_lost_once)
    apply(rec)
    assert set(lost) == {"models", "remote_training_systems", "trainings"}
    assert sum("from an interrupted attempt" in message for _, message in progress.messages) == 3
    assert owned_names(client_of(rec), "fldecl.stack.mnist-fhe") == {
        "Model": ["pytorch"], "RemoteTrainingSystem": ["Party_1", "Party_2"], "Training": ["aggregator_he"]}
    assert converged(rec)
    model = next(obs for obs in rec.observe() if obs.kind == "Model")
    with session_for(emulator) as http:
        content = http.get(f"{emulator.url}/ml/v4/models/{model.id}/download", params={"project_id": emulator.project_id})
    assert content.status_code == 200 and content.content.startswith(b"PK")  # the upload was completed
