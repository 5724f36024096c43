"""The seed's flow on the wml backend, through the CLI: the emulator's aggregator and IBM's own party runtime.

``fldecl apply --no-wait`` starts the training, each party joins with ``fldecl party run`` (IBM's
runtime in the party environment), the training completes with per-round metrics, ``show`` prints
them and writes the plot, a Model stored from the training exists, and ``destroy`` cleans up.
Once with ``crypto_iter_avg`` (HElayers) and the seed's PyTorch model, once with ``iter_avg`` and
a scikit-learn classifier.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fldecl.emulator import EmulatorServer
from tests.conftest import EXAMPLE, ROOT
from tests.wml.conftest import cli_env

pytestmark = pytest.mark.slow

PARTY_PYTHON = Path(os.environ.get("FLDECL_PARTY_PYTHON") or ROOT / ".venv-party" / "bin" / "python")
PARTIES = ("Party_1", "Party_2", "Party_3")
PARTY_SECONDS = 400
FLAT_HANDLER = '''import numpy as np
from ibmfl.data.data_handler import DataHandler


class FlatDigitsHandler(DataHandler):
    def __init__(self, data_config=None):
        super().__init__()
        self.npz_file = data_config["npz_file"]

    def get_data(self):
        with np.load(self.npz_file) as data:
            # scikit-learn 1.3 trains an estimator whose parameters are float64 only on float64 points.
            return ((data["x_train"].astype("float64"), data["y_train"]),
                    (data["x_test"].astype("float64"), data["y_test"]))
'''


@pytest.fixture
def wml(tmp_path: Path) -> Iterator[dict[str, str]]:
    if not PARTY_PYTHON.exists():
        pytest.skip(f"IBM's party runtime is not set up ({PARTY_PYTHON}); `make test` builds .venv-party")
    with EmulatorServer(data_dir=tmp_path / "emulator", port=0) as emulator:
        yield {**cli_env(emulator.env()), "FLDECL_BACKEND": "wml", "FLDECL_PARTY_PYTHON": str(PARTY_PYTHON)}


def fldecl(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fldecl", *arguments], env=env, capture_output=True, text=True, timeout=600)


def seed_stack(root: Path, name: str) -> Path:
    stack = root / name
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    edit(stack / "stack.yaml", lambda doc: doc["metadata"].update(name=name))
    # A party that fails in IBM's runtime never answers; the training then fails at max_timeout, sooner here.
    edit(stack / "training.yaml", lambda doc: doc["spec"]["remote_training"].update(max_timeout=150))
    return stack


def edit(manifest: Path, change: Any) -> None:
    documents = list(yaml.safe_load_all(manifest.read_text()))
    for document in documents:
        change(document)
    manifest.write_text(yaml.safe_dump_all(documents, sort_keys=False))


def add_trained_model(stack: Path, model_type: str, model_file: str) -> None:
    trained = {"apiVersion": "fldecl/v1", "kind": "Model", "metadata": {"name": "trained"},
               "spec": {"type": model_type, "software_spec": {"name": "runtime-24.1-py3.11"}, "model_file": model_file,
                        "source": {"training": "aggregator_he"}}}
    (stack / "trained.yaml").write_text(yaml.safe_dump(trained, sort_keys=False))


def train_with_ibm_parties(env: dict[str, str], stack: Path) -> dict[str, Any]:
    """Apply without waiting, run the three parties, and return the training as ``show --json`` reports it."""
    applied = fldecl(env, "apply", str(stack), "--auto-approve", "--no-wait")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    parties = [subprocess.Popen([sys.executable, "-m", "fldecl", "party", "run", name, str(stack), "--training", "aggregator_he"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for name in PARTIES]
    outputs = [party.communicate(timeout=PARTY_SECONDS)[0] for party in parties]
    for party, output in zip(parties, outputs, strict=True):
        assert party.returncode == 0, output[-3000:]
        assert "the training completed" in output
    shown = json.loads(fldecl(env, "show", str(stack), "--json").stdout)
    return next(row for row in shown["resources"] if row["address"] == "Training/aggregator_he")


def check_show_and_store(env: dict[str, str], stack: Path, training: dict[str, Any], metric: str) -> None:
    assert training["status"] == "completed (2/2 rounds)"
    rounds = training["details"]["rounds"]
    assert [record["round"] for record in rounds] == [1, 2]
    for record in rounds:
        assert set(record["parties"]) == set(PARTIES)
        assert all(0.0 <= party["metrics"][f"fused_{metric}"] <= 1.0 for party in record["parties"].values())
    shown = fldecl(env, "show", str(stack))
    assert shown.returncode == 0 and "Training/aggregator_he: rounds" in shown.stdout
    plot = Path(shown.stdout.split("Metrics plot: ")[1].split()[0])
    assert plot.read_bytes().startswith(b"\x89PNG")

    stored = fldecl(env, "apply", str(stack), "--auto-approve")
    assert stored.returncode == 0, stored.stdout + stored.stderr
    assert "Model/trained: Creation complete" in stored.stdout
    destroyed = fldecl(env, "destroy", str(stack), "--auto-approve")
    assert destroyed.returncode == 0 and "Destroy complete!" in destroyed.stdout
    assert json.loads(fldecl(env, "show", str(stack), "--json").stdout)["resources"] == []


def test_seed_flow_with_crypto_iter_avg_and_helayers(wml: dict[str, str], tmp_path: Path) -> None:
    stack = seed_stack(tmp_path, "seed-he")
    training = train_with_ibm_parties(wml, stack)
    add_trained_model(stack, "pytorch-onnx_1.12", "pytorch_sequence.pt")
    check_show_and_store(wml, stack, training, "accuracy")


def test_iter_avg_with_a_scikit_learn_classifier(wml: dict[str, str], tmp_path: Path) -> None:
    stack = seed_stack(tmp_path, "seed-sgd")
    (stack / "handlers" / "flat_digits_handler.py").write_text(FLAT_HANDLER)

    def to_scikit_learn(document: dict[str, Any]) -> None:
        spec = document["spec"]
        if document["kind"] == "DataSplit":
            spec["source"] = {"dataset": "sklearn_digits"}
        elif document["kind"] == "Model":
            spec.update(type="scikit-learn_1.1", model_file="model.pickle",
                        source={"architecture": {"framework": "scikit-learn", "estimator": "SGDClassifier", "n_features": 64,
                                                 "seed": 0, "classes": list(range(10)), "params": {"loss": "log_loss"}}})
        elif document["kind"] == "Training":
            spec["fusion_type"] = "iter_avg"
            for key in ("crypto", "optimizer", "batch_size"):
                spec.pop(key, None)
        elif document["kind"] == "RemoteTrainingSystem":
            spec["party"]["data_handler"].update(name="FlatDigitsHandler", path="handlers/flat_digits_handler.py")

    for manifest in ("data.yaml", "model.yaml", "training.yaml", "rts.yaml"):
        edit(stack / manifest, to_scikit_learn)
    training = train_with_ibm_parties(wml, stack)
    add_trained_model(stack, "scikit-learn_1.1", "model.pickle")
    check_show_and_store(wml, stack, training, "accuracy")
