"""``iter_avg`` on wml with a scikit-learn classifier (SGDClassifier on digits), 3 parties, IBM's party runtime;
Party_1 joins with only its ``fldecl party config`` output and IBM's party notebook code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.ibm_parties import Wml, add_trained_model, check_show_and_store, seed_stack, to_scikit_learn, train_with_ibm_parties, wml  # noqa: F401

pytestmark = pytest.mark.slow


def test_iter_avg_with_a_scikit_learn_classifier(wml: Wml, tmp_path: Path) -> None:
    stack = seed_stack(tmp_path, "seed-sgd")
    to_scikit_learn(stack)
    training = train_with_ibm_parties(wml.env, stack, notebook_party="Party_1")
    add_trained_model(stack, "scikit-learn_1.1", "model.pickle")
    check_show_and_store(wml.env, stack, training, "accuracy")
