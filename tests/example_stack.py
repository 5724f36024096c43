"""Edits of the example stack (``manifests/mnist-fhe``) that tests of several backends share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

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


def edit(manifest: Path, change: Any) -> None:
    """Apply ``change`` to each document of ``manifest`` (in place), and write it back."""
    documents = list(yaml.safe_load_all(manifest.read_text()))
    for document in documents:
        change(document)
    manifest.write_text(yaml.safe_dump_all(documents, sort_keys=False))


def to_scikit_learn(stack: Path, fusion_type: str = "iter_avg") -> None:
    """The seed's stack with an SGDClassifier on the flat 8x8 digits, trained with ``fusion_type``."""
    (stack / "handlers" / "flat_digits_handler.py").write_text(FLAT_HANDLER)

    def change(document: dict[str, Any]) -> None:
        spec = document["spec"]
        if document["kind"] == "DataSplit":
            spec["source"] = {"dataset": "sklearn_digits"}
        elif document["kind"] == "Model":
            spec.update(type="scikit-learn_1.1", model_file="model.pickle",
                        source={"architecture": {"framework": "scikit-learn", "estimator": "SGDClassifier", "n_features": 64,
                                                 "seed": 0, "classes": list(range(10)), "params": {"loss": "log_loss"}}})
        elif document["kind"] == "Training":
            spec["fusion_type"] = fusion_type
            for key in ("optimizer", "batch_size") + (("crypto",) if fusion_type == "iter_avg" else ()):
                spec.pop(key, None)
        elif document["kind"] == "RemoteTrainingSystem":
            spec["party"]["data_handler"].update(name="FlatDigitsHandler", path="handlers/flat_digits_handler.py")

    for manifest in ("data.yaml", "model.yaml", "training.yaml", "rts.yaml"):
        edit(stack / manifest, change)


def add_trained_model(stack: Path, model_type: str, model_file: str) -> None:
    """A Model `trained` whose content is the final model of the Training `aggregator_he`."""
    trained = {"apiVersion": "fldecl/v1", "kind": "Model", "metadata": {"name": "trained"},
               "spec": {"type": model_type, "software_spec": {"name": "runtime-24.1-py3.11"}, "model_file": model_file,
                        "source": {"training": "aggregator_he"}}}
    (stack / "trained.yaml").write_text(yaml.safe_dump(trained, sort_keys=False))
