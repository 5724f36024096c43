"""``crypto_iter_avg`` under HElayers with both of IBM's clients: Party_2 on runtime 23.1 (Python 3.10), Party_1 and
Party_3 on runtime 24.1 (Python 3.11), a scikit-learn classifier (SGDClassifier on digits); the keys one party
generates are opened by parties of both runtimes, and the aggregator keeps the public context alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.ibm_parties import (  # noqa: F401
    Wml,
    add_trained_model,
    check_both_runtimes_ran,
    check_show_and_store,
    run_on_runtime,
    seed_stack,
    to_scikit_learn,
    train_with_ibm_parties,
    wml,
    wml_both_runtimes,
)

pytestmark = pytest.mark.slow


def test_crypto_iter_avg_with_parties_on_both_ibm_runtimes(wml_both_runtimes: Wml, tmp_path: Path) -> None:
    import pyhelayers

    stack = seed_stack(tmp_path, "mixed-he")
    to_scikit_learn(stack, "crypto_iter_avg")
    run_on_runtime(stack, "Party_2", "runtime-23.1-py3.10")
    outputs: dict[str, str] = {}
    training = train_with_ibm_parties(wml_both_runtimes.env, stack, outputs=outputs)
    check_both_runtimes_ran(outputs)
    held = pyhelayers.DefaultContext()
    held.load_from_buffer(wml_both_runtimes.emulator.aggregator.public_contexts[training["id"]])
    assert not held.has_secret_key()
    add_trained_model(stack, "scikit-learn_1.1", "model.pickle")
    check_show_and_store(wml_both_runtimes.env, stack, training, "accuracy")
