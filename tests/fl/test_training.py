"""Real federated trainings through run_training: aggregator and parties as separate processes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fldecl.fl import PartyError, TrainingEvent, run_party, run_training
from fldecl.models import get_parameters, load_model

from .flstack import PARTIES, build_job, party_settings

#: The parties of the seed MLP's two trainings: each is a process that starts PyTorch, and two show what fusion does.
MNIST_PARTIES = PARTIES[:2]


@pytest.fixture(scope="module")
def mnist_runs(stack, tmp_path_factory):
    """The seed's MLP on the example's data, once encrypted and once in plaintext, same seed."""
    results, events = {}, []
    for fusion_type in ("crypto_iter_avg", "iter_avg"):
        job = build_job(stack, tmp_path_factory.mktemp(fusion_type), model="seed_mlp", data="mnist", fusion_type=fusion_type,
                        parties=MNIST_PARTIES)
        results[fusion_type] = (job, run_training(job, events.append if fusion_type == "crypto_iter_avg" else None))
    return results, events


@pytest.mark.slow(seconds=35)
def test_encrypted_training_completes_and_accuracy_rises(mnist_runs):
    (job, result), events = mnist_runs[0]["crypto_iter_avg"], mnist_runs[1]
    assert result.state == "completed", result.reason
    assert [record["round"] for record in result.rounds] == [1, 2]
    first, second = (record["fused"]["accuracy"] for record in result.rounds)
    assert second > first > 0.1
    assert sorted(result.final_models) == list(MNIST_PARTIES)
    assert result.metrics_plot is not None and result.metrics_plot.stat().st_size > 0
    kinds = [event.kind for event in events]
    assert all(isinstance(event, TrainingEvent) for event in events)
    assert {"party_joined", "keys_distributed", "round_completed"} <= set(kinds) and kinds[-1] == "state"
    for entry in result.rounds[-1]["parties"].values():
        assert {"train_loss", "local_accuracy", "fused_accuracy", "bytes_sent", "bytes_received"} <= set(entry)
        float32_model = 4 * 232_220
        assert float32_model < entry["bytes_sent"] <= 1.35 * float32_model  # the update, encrypted
        assert float32_model < entry["bytes_received"] <= 1.45 * float32_model  # the fused model, encrypted
    status = json.loads((Path(job.work_dir) / "status.json").read_text())
    assert status["state"] == "completed" and status["rounds_completed"] == 2


@pytest.mark.slow(seconds=1)
def test_every_party_keeps_the_same_final_model(mnist_runs):
    job, result = mnist_runs[0]["crypto_iter_avg"]
    models = [get_parameters(load_model(result.final_models[name], job.model_file, trusted=True)) for name in MNIST_PARTIES]
    for other in models[1:]:
        for ours, theirs in zip(models[0], other, strict=True):
            np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.slow(seconds=1)
def test_encrypted_accuracy_matches_plaintext_within_a_tenth_of_a_point(mnist_runs):
    crypto = mnist_runs[0]["crypto_iter_avg"][1]
    plain = mnist_runs[0]["iter_avg"][1]
    assert plain.state == "completed", plain.reason
    assert abs(crypto.final_metrics["accuracy"] - plain.final_metrics["accuracy"]) <= 0.001
    # Both updates carry the same model: ciphertexts only cost bandwidth.
    assert crypto.rounds[0]["parties"]["Party_1"]["bytes_sent"] > plain.rounds[0]["parties"]["Party_1"]["bytes_sent"]


@pytest.mark.parametrize(
    ("model", "data", "metric"),
    [("sgd_classifier", "digits", "accuracy"), ("sgd_regressor", "regression", "mse")],
)
def test_scikit_learn_models_train(make_job, model, data, metric):
    job = make_job(model=model, data=data)
    result = run_training(job)
    assert result.state == "completed", result.reason
    assert metric in result.final_metrics
    if metric == "accuracy":
        assert result.final_metrics["accuracy"] > 0.5
    else:
        assert result.rounds[-1]["fused"]["mse"] < result.rounds[0]["fused"]["mse"]


def test_frameworks_the_local_runtime_cannot_train_are_refused_with_a_clear_message(stack, tmp_path):
    settings = party_settings(stack, "Party_1", "digits")
    with pytest.raises(PartyError, match="xgboost models cannot train on the local backend"):
        run_party(settings, "t1", ("127.0.0.1", 1), tmp_path / "m.zip", "model.json", "xgboost_1.6", True, tmp_path)


def test_untrusted_pickled_model_is_not_loaded(stack, tmp_path):
    zip_path, model_file, model_type = stack.model("small_net")
    settings = party_settings(stack, "Party_1", "digits")
    with pytest.raises(PartyError, match="trusted"):
        run_party(settings, "t1", ("127.0.0.1", 1), zip_path, model_file, model_type, False, tmp_path)
