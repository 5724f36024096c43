"""A Keras (TensorFlow) model trains like the others: every encryption level, and in plaintext, with the same result.

Level 1 is proven through the CLI by
``tests/e2e/test_framework_examples.py::test_tensorflow_trains_encrypted_and_in_plaintext_to_the_same_accuracy``
(the TensorFlow example stack, ``crypto_iter_avg`` at level 1 within half a point of ``iter_avg``), so this
module trains the other levels only, each compared with a plaintext training of the same net and seed.
These are also the suite's only whole trainings at levels 2 to 4 (``tests/he`` proves each level's
encrypt, fuse and decrypt on vectors), so none of them can go. Each run starts TensorFlow in every party
process, which is most of its cost: two parties take part (fusion does not depend on their number).
"""

from __future__ import annotations

import pytest

from fldecl.fl import run_training
from fldecl.models import build_zip, get_parameters, load_model

from .flstack import PARTIES, build_job

KERAS_PARTIES = PARTIES[:2]

pytestmark = pytest.mark.slow(seconds=65)

KERAS_NET = {"framework": "tensorflow", "seed": 0, "input_shape": [64],
             "layers": [{"type": "Dense", "units": 16, "activation": "relu"}, {"type": "Dense", "units": 10, "activation": "softmax"}],
             "compile": {"optimizer": "adam", "learning_rate": 0.01}}
#: Level 1 is trained with Keras through the CLI (see the module's docstring).
LEVELS = ("encryption_level_2", "encryption_level_3", "encryption_level_4")


@pytest.fixture(scope="module")
def keras_runs(stack, tmp_path_factory):
    """The small Keras net on the flat digits: once in plaintext, once at each of ``LEVELS``, same seed."""
    spec = {"type": "tensorflow_2.14", "software_spec": {"name": "runtime-24.1-py3.11"}, "source": {"architecture": KERAS_NET}}
    zip_path = stack.root / "models" / "keras_net.zip"
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    zip_path.write_bytes(build_zip(spec, stack.root))
    model = {"model_zip": str(zip_path), "model_file": "model_architecture", "model_type": spec["type"]}
    runs = {}
    for fusion_type, level in [("iter_avg", "encryption_level_1")] + [("crypto_iter_avg", level) for level in LEVELS]:
        # Each party starts TensorFlow before it joins: on a busy machine that takes longer than the usual 60 s.
        job = build_job(stack, tmp_path_factory.mktemp(f"{fusion_type}-{level}"), data="digits", fusion_type=fusion_type,
                        cipher_spec=level, max_timeout=300, parties=KERAS_PARTIES, **model)
        runs[fusion_type if fusion_type == "iter_avg" else level] = (job, run_training(job))
    return runs


def test_every_other_encryption_level_trains_to_the_plaintext_accuracy(keras_runs):
    _, plain = keras_runs["iter_avg"]
    assert plain.state == "completed", plain.reason
    first, second = (record["fused"]["accuracy"] for record in plain.rounds)
    assert second > first > 0.1
    for level in LEVELS:
        _, encrypted = keras_runs[level]
        assert encrypted.state == "completed", f"{level}: {encrypted.reason}"
        assert [record["round"] for record in encrypted.rounds] == [1, 2]
        assert abs(encrypted.final_metrics["accuracy"] - plain.final_metrics["accuracy"]) <= 0.005, level


def test_the_final_model_is_a_keras_savedmodel_every_party_shares(keras_runs):
    job, result = keras_runs["encryption_level_2"]
    models = [get_parameters(load_model(result.final_models[name], job.model_file, trusted=True)) for name in KERAS_PARTIES]
    assert [array.shape for array in models[0]] == [(64, 16), (16,), (16, 10), (10,)]
    for other in models[1:]:
        for ours, theirs in zip(models[0], other, strict=True):
            assert abs(ours - theirs).max() < 1e-6
