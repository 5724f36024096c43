"""The seed's flow on wml: PyTorch MLP, 3 parties, ``crypto_iter_avg`` under HElayers, IBM's party runtime."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.ibm_parties import Wml, add_trained_model, check_show_and_store, seed_stack, train_with_ibm_parties, wml  # noqa: F401

pytestmark = pytest.mark.slow(seconds=55)


def test_seed_flow_with_crypto_iter_avg_and_helayers(wml: Wml, tmp_path: Path) -> None:
    import pyhelayers

    stack = seed_stack(tmp_path, "seed-he")
    training = train_with_ibm_parties(wml.env, stack)
    public_context = wml.emulator.aggregator.public_contexts[training["id"]]
    held = pyhelayers.DefaultContext()
    held.load_from_buffer(public_context)
    assert not held.has_secret_key()  # all the aggregator kept of the keys
    add_trained_model(stack, "pytorch-onnx_1.12", "pytorch_sequence.pt")
    check_show_and_store(wml.env, stack, training, "accuracy")
