"""The example stack turned into iter_avg with a scikit-learn model, on NVIDIA FLARE through the CLI: it trains, converges,
shows, its final model is stored as a Model (``source: training``), and it goes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("nvflare", reason="the nvflare extra is not installed (pip install 'fldecl[nvflare]')")

from fldecl.providers.nvflare.deployment import Deployment
from fldecl.providers.nvflare.settings import NvflareSettings
from tests.conftest import EXAMPLE, run_cli
from tests.example_stack import add_trained_model, to_scikit_learn

pytestmark = pytest.mark.slow(seconds=85)
NVFLARE = {"FLDECL_BACKEND": "nvflare", "COLUMNS": "160"}
SITES = ("Party_1", "Party_2", "Party_3")


def test_iter_avg_with_a_scikit_learn_model_trains_on_nvflare(tmp_path: Path) -> None:
    stack = tmp_path / "sgd"
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    to_scikit_learn(stack)
    deployment = Deployment(stack / ".fldecl", NvflareSettings())
    try:
        applied = run_cli("apply", str(stack), "--auto-approve", env=NVFLARE, timeout=900)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert "round 2 completed" in applied.stdout and "fused model accuracy" in applied.stdout
        assert "generated the keys" not in applied.stdout  # iter_avg: plaintext updates, no keys
        assert run_cli("plan", str(stack), "--detailed-exitcode", env=NVFLARE).returncode == 0
        shown = run_cli("show", str(stack), env=NVFLARE)
        assert shown.returncode == 0, shown.stderr
        assert "completed (2/2 rounds)" in shown.stdout and "fused accuracy" in shown.stdout, shown.stdout
        add_trained_model(stack, "scikit-learn_1.1", "model.pickle")  # the final model, as a party saved it at its site
        stored = run_cli("apply", str(stack), "--auto-approve", env=NVFLARE, timeout=300)
        assert stored.returncode == 0, stored.stdout + stored.stderr
        assert "Apply complete! 1 created, 0 updated, 0 deleted." in stored.stdout
        destroyed = run_cli("destroy", str(stack), "--auto-approve", env=NVFLARE, timeout=300)
        assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
        assert not any(deployment.running(participant) for participant in (*SITES, deployment.settings.server_name))
    finally:
        for participant in (*SITES, deployment.settings.server_name):
            deployment.stop(participant)  # whatever a failed step left running
