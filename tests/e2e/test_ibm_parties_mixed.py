"""One training, both of IBM's clients: Party_2 declares runtime 23.1 (``ibm-watson-machine-learning``, Python 3.10),
Party_1 and Party_3 run the default runtime 24.1 (``ibm-watsonx-ai`` 1.3.39, Python 3.11); a scikit-learn classifier
(SGDClassifier on digits) under ``crypto_iter_avg`` with HElayers. Party_3 joins with only its ``fldecl party config``
output and IBM's party notebook code, the others with ``fldecl party run``; the keys one party generates are opened by
parties of both runtimes and the aggregator keeps the public context alone. (Plain ``iter_avg`` with IBM's runtime:
tests/e2e/test_ibm_parties_tf.py.)"""

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

pytestmark = pytest.mark.slow(seconds=90)


def test_parties_on_both_ibm_runtimes_and_a_notebook_party_train_under_helayers(wml_both_runtimes: Wml, tmp_path: Path) -> None:
    import pyhelayers

    stack = seed_stack(tmp_path, "mixed")
    to_scikit_learn(stack, "crypto_iter_avg")
    run_on_runtime(stack, "Party_2", "runtime-23.1-py3.10")
    outputs: dict[str, str] = {}
    training = train_with_ibm_parties(wml_both_runtimes.env, stack, notebook_party="Party_3", outputs=outputs)
    check_both_runtimes_ran(outputs, "Party_3")
    held = pyhelayers.DefaultContext()
    held.load_from_buffer(wml_both_runtimes.emulator.aggregator.public_contexts[training["id"]])
    assert not held.has_secret_key()
    add_trained_model(stack, "scikit-learn_1.1", "model.pickle")
    check_show_and_store(wml_both_runtimes.env, stack, training, "accuracy")
