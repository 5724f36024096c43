"""``manifests/mnist-tf-fhe`` on wml: a Keras model trained by IBM's unmodified party runtime (its TensorFlowFLModel).

With ``crypto_iter_avg`` three ``fldecl party run`` parties encrypt with HElayers; with ``iter_avg``
Party_1 joins with only its ``fldecl party config`` output and IBM's party notebook code, beside Party_2
(two parties: each starts TensorFlow, which is most of a party's cost).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.e2e.ibm_parties import (  # noqa: F401
    Wml,
    add_trained_model,
    check_show_and_store,
    edit,
    seed_stack,
    train_with_ibm_parties,
    without_party_3,
    wml,
)

pytestmark = pytest.mark.slow(seconds=170)

TF_STACK = ROOT / "manifests" / "mnist-tf-fhe"
PARTY_SECONDS = 900  # building the declared model and starting TensorFlow take minutes on a busy machine


def keras_stack(root: Path, name: str) -> Path:
    stack = seed_stack(root, name, TF_STACK)
    # Each party builds the declared model to check what it is sent, then starts TensorFlow: on a busy machine that
    # takes minutes, so the stack's own max_timeout (600 s) stays, not the 150 s the PyTorch tests allow.
    edit(stack / "training.yaml", lambda doc: doc["spec"]["remote_training"].update(max_timeout=600))
    return stack


def test_keras_with_crypto_iter_avg_and_helayers(wml: Wml, tmp_path: Path) -> None:
    stack = keras_stack(tmp_path, "tf-he")
    training = train_with_ibm_parties(wml.env, stack, party_seconds=PARTY_SECONDS)
    assert training["id"] in wml.emulator.aggregator.public_contexts  # the parties made HElayers keys
    add_trained_model(stack, "tensorflow_2.14", "model_architecture")
    check_show_and_store(wml.env, stack, training, "accuracy")


def test_keras_with_iter_avg_and_a_notebook_party(wml: Wml, tmp_path: Path) -> None:
    stack = keras_stack(tmp_path, "tf-plain")

    def to_plaintext(document: dict[str, Any]) -> None:
        document["spec"]["fusion_type"] = "iter_avg"
        document["spec"].pop("crypto", None)

    edit(stack / "training.yaml", to_plaintext)
    parties = without_party_3(stack)
    training = train_with_ibm_parties(wml.env, stack, notebook_party="Party_1", party_seconds=PARTY_SECONDS, parties=parties)
    add_trained_model(stack, "tensorflow_2.14", "model_architecture")
    check_show_and_store(wml.env, stack, training, "accuracy", parties)
