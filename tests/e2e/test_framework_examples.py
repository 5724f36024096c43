"""Every framework the seed names has an example stack that trains with HE on the local backend, through the CLI.

``manifests/mnist-tf-fhe`` (TensorFlow), ``manifests/sklearn-classification-fhe`` and
``manifests/sklearn-regression-fhe`` (scikit-learn) each apply with ``crypto_iter_avg`` at
``encryption_level_1`` and report their metric per round; the TensorFlow one is then trained again
with ``iter_avg`` and lands within half a point of the encrypted training. (``manifests/mnist-fhe``,
PyTorch, has tests of its own.)
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow(seconds=110)


def copy_stack(tmp_path: Path, name: str) -> Path:
    stack = tmp_path / name
    shutil.copytree(ROOT / "manifests" / name, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    return stack


def applied_rounds(stack: Path, metric: str) -> list[dict[str, Any]]:
    """Apply the stack, check that each of its 2 rounds printed ``metric``, and return the rounds ``show`` reports."""
    result = run_cli("apply", str(stack), "--auto-approve")
    assert result.returncode == 0, result.stdout + result.stderr
    printed = re.findall(rf"round (\d) completed in [\d.]+ s: fused model .*\b{metric} ([\d.e+-]+)", result.stdout)
    assert [number for number, _ in printed] == ["1", "2"], result.stdout
    shown = json.loads(run_cli("show", str(stack), "--json").stdout)
    training = next(row for row in shown["resources"] if row["address"] == "Training/aggregator_he")
    assert training["status"] == "completed (2/2 rounds)"
    return list(training["details"]["rounds"])


def test_tensorflow_trains_encrypted_and_in_plaintext_to_the_same_accuracy(tmp_path: Path) -> None:
    stack = copy_stack(tmp_path, "mnist-tf-fhe")
    encrypted = applied_rounds(stack, "accuracy")
    assert encrypted[-1]["fused"]["accuracy"] > encrypted[0]["fused"]["accuracy"] > 0.1
    training = stack / "training.yaml"
    training.write_text(training.read_text().replace("fusion_type: crypto_iter_avg", "fusion_type: iter_avg")
                        .replace("  crypto: {cipher_spec: encryption_level_1}\n", ""))
    plain = applied_rounds(stack, "accuracy")
    assert abs(plain[-1]["fused"]["accuracy"] - encrypted[-1]["fused"]["accuracy"]) <= 0.005


def test_scikit_learn_classification_trains_encrypted(tmp_path: Path) -> None:
    rounds = applied_rounds(copy_stack(tmp_path, "sklearn-classification-fhe"), "accuracy")
    assert rounds[-1]["fused"]["accuracy"] > 0.7


def test_scikit_learn_regression_trains_encrypted_and_reports_r2_and_loss(tmp_path: Path) -> None:
    rounds = applied_rounds(copy_stack(tmp_path, "sklearn-regression-fhe"), "r2")
    assert rounds[-1]["fused"]["loss"] < rounds[0]["fused"]["loss"]
    assert rounds[-1]["fused"]["r2"] > 0.9
