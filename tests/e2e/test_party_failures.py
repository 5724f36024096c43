"""A party whose data handler raises reports its cause to the apply at once: the training fails then,
with the exception and the handler's file and line, not when ``max_timeout`` runs out."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, run_cli

pytestmark = pytest.mark.slow(seconds=25)

RAISING_HANDLER = '''\
from ibmfl.data.data_handler import DataHandler


class BrokenHandler(DataHandler):
    def __init__(self, data_config=None):
        super().__init__()
        self.npz_file = data_config["npz_file"]

    def get_data(self):
        raise ValueError(f"cannot read {self.npz_file}: the party's disk is gone")
'''


def test_a_raising_data_handler_fails_the_training_with_its_cause(tmp_path: Path) -> None:
    stack = tmp_path / "mnist-fhe"
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    (stack / "handlers" / "broken.py").write_text(RAISING_HANDLER)
    rts = stack / "rts.yaml"
    parties = rts.read_text().split("---\n")
    parties[1] = parties[1].replace("name: MnistPytorchDataHandler", "name: BrokenHandler").replace(
        "path: handlers/mnist_pytorch_data_handler.py", "path: handlers/broken.py")
    rts.write_text("---\n".join(parties))
    assert run_cli("apply", str(stack), "--auto-approve", "--target", "RemoteTrainingSystem/Party_3",
                   "--target", "Model/pytorch").returncode == 0, "everything but the training, made first"
    started = time.monotonic()
    applied = run_cli("apply", str(stack), "--auto-approve")
    elapsed = time.monotonic() - started
    assert applied.returncode == 1
    assert "Training/aggregator_he: Party_2 stopped: Party_2: BrokenHandler.get_data() failed at" in applied.stdout
    assert f"{stack / 'handlers' / 'broken.py'}:10: ValueError: cannot read" in applied.stdout
    failure = next(line for line in applied.stdout.splitlines() if line.startswith("Training/aggregator_he: training failed:"))
    assert "Party_2" in failure and "stopped with an error (Party_2: BrokenHandler.get_data() failed at" in failure, failure
    assert "did not join within" not in applied.stdout
    assert elapsed < 300, "the training failed when the party reported, not at max_timeout (600 s)"
