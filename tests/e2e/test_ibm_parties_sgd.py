"""``iter_avg`` on wml with a scikit-learn classifier (SGDClassifier on digits), 3 parties, IBM's party runtime;
Party_1 joins with only its ``fldecl party config`` output and IBM's party notebook code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.ibm_parties import (  # noqa: F401
    FLAT_HANDLER,
    Wml,
    add_trained_model,
    check_show_and_store,
    edit,
    seed_stack,
    train_with_ibm_parties,
    wml,
)

pytestmark = pytest.mark.slow


def test_iter_avg_with_a_scikit_learn_classifier(wml: Wml, tmp_path: Path) -> None:
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
    training = train_with_ibm_parties(wml.env, stack, notebook_party="Party_1")
    add_trained_model(stack, "scikit-learn_1.1", "model.pickle")
    check_show_and_store(wml.env, stack, training, "accuracy")
