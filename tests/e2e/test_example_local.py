"""The README's main job: the example stack applied on the local backend, training included."""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, run_cli

pytestmark = pytest.mark.slow(seconds=120)

TRAINED_MODEL = """\
---
apiVersion: fldecl/v1
kind: Model
metadata: {name: trained}
spec:
  type: pytorch-onnx_1.12
  software_spec: {name: runtime-22.2-py3.10}
  model_file: pytorch_sequence.pt
  source: {training: aggregator_he}
"""


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    stack = tmp_path_factory.mktemp("example") / "mnist-fhe"
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    (stack / "model.yaml").write_text((stack / "model.yaml").read_text() + TRAINED_MODEL)
    return stack


@pytest.fixture(scope="module")
def applied(example: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("apply", str(example), "--auto-approve")


def test_apply_trains_and_prints_per_round_accuracy(applied: subprocess.CompletedProcess[str]) -> None:
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Training/aggregator_he: round 1 completed" in applied.stdout
    assert "round 2 completed" in applied.stdout and "fused model accuracy" in applied.stdout
    assert "Apply complete! 11 created, 0 updated, 0 deleted." in applied.stdout


def test_trained_model_is_stored_and_the_stack_converges(example: Path, applied: subprocess.CompletedProcess[str]) -> None:
    assert run_cli("plan", str(example), "--detailed-exitcode").returncode == 0
    shown = json.loads(run_cli("show", str(example), "--json").stdout)
    by_address = {r["address"]: r for r in shown["resources"]}
    training = by_address["Training/aggregator_he"]
    assert training["status"].startswith("completed")
    rounds = training["details"]["rounds"]
    assert [r["round"] for r in rounds] == [1, 2]
    assert rounds[-1]["fused"]["accuracy"] > 0.5
    assert Path(training["details"]["plot"]).is_file()
    assert by_address["Model/trained"]["details"]["content_bytes"] > 100_000


def test_show_prints_the_round_table(example: Path, applied: subprocess.CompletedProcess[str]) -> None:
    result = run_cli("show", str(example), env={"COLUMNS": "160"})
    assert result.returncode == 0
    assert "Training/aggregator_he: rounds" in result.stdout
    assert "fused accuracy" in result.stdout and "Metrics plot:" in result.stdout


def test_changing_the_encryption_level_replaces_the_training(example: Path, applied: subprocess.CompletedProcess[str]) -> None:
    training = example / "training.yaml"
    original = training.read_text()
    training.write_text(original.replace("encryption_level_1", "encryption_level_2"))
    try:
        result = run_cli("plan", str(example), "--json", "--detailed-exitcode")
        assert result.returncode == 2
        changes = {c["address"]: c for c in json.loads(result.stdout)["resource_changes"]}
        assert changes["Training/aggregator_he"]["change"]["actions"] == ["delete", "create"]
        assert "crypto.cipher_spec forces replacement" in changes["Training/aggregator_he"]["reasons"]
        assert changes["Model/trained"]["change"]["actions"] == ["delete", "create"]
        assert "Training/aggregator_he will be replaced" in changes["Model/trained"]["reasons"]
    finally:
        training.write_text(original)


def test_destroy_removes_everything_owned(example: Path, applied: subprocess.CompletedProcess[str]) -> None:
    result = run_cli("destroy", str(example), "--auto-approve")
    assert result.returncode == 0, result.stderr
    assert "11 deleted" in result.stdout
    assert json.loads(run_cli("show", str(example), "--json").stdout)["resources"] == []
    assert not any((example / ".fldecl" / "trainings").iterdir())


def test_a_manual_party_joins_with_the_command_the_apply_prints(tmp_path: Path) -> None:
    stack = tmp_path / "mnist-fhe"
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    rts = stack / "rts.yaml"
    docs = rts.read_text().split("---\n")
    docs[2] = docs[2].replace("  party:\n", "  party:\n    launch: manual\n")
    rts.write_text("---\n".join(docs))
    (stack / "training.yaml").write_text((stack / "training.yaml").read_text().replace("rounds: 2", "rounds: 1"))
    apply = subprocess.Popen([sys.executable, "-m", "fldecl", "apply", str(stack), "--auto-approve"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"})
    printed: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [printed.put(line) for line in apply.stdout or ()], daemon=True)
    reader.start()
    lines: list[str] = []
    try:
        while not any("waiting for Party_3" in line for line in lines):
            lines.append(printed.get(timeout=180))
        announced = lines[-1]
        assert f"on its machine, in its copy of the stack directory ({stack} here), run: " in announced
        command = announced.split("run: ", 1)[1].strip()
        assert re.fullmatch(r"fldecl party run Party_3 --training aggregator_he --aggregator 127\.0\.0\.1:\d+", command), command
        party = run_cli(*shlex.split(command)[1:], cwd=stack, timeout=300)
        assert party.returncode == 0, party.stdout + party.stderr
        assert apply.wait(timeout=300) == 0, apply.stderr.read() if apply.stderr else ""
    finally:
        apply.kill()
    reader.join(timeout=10)
    while not printed.empty():
        lines.append(printed.get())
    assert sum("waiting for Party_3" in line for line in lines) == 1
    assert any("Party_3 joined" in line for line in lines)
    assert (stack / ".fldecl" / "parties" / "Party_3").is_dir()
    kit = run_cli("party", "config", "Party_3", str(stack))  # a kit is for WML's party runtime
    assert kit.returncode == 1 and "Traceback" not in kit.stderr
    assert "on the local backend Party_3 joins with: fldecl party run Party_3 --training aggregator_he" in kit.stderr


def test_no_wait_returns_while_the_training_goes_on(tmp_path: Path) -> None:
    """`apply --no-wait` returns while the training runs; `fldecl logs --follow` follows it to its end; `show` fits 80
    columns, and the plot is titled with the training's name."""
    stack = tmp_path / "mnist-fhe"
    shutil.copytree(EXAMPLE, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    (stack / "training.yaml").write_text((stack / "training.yaml").read_text().replace("rounds: 2", "rounds: 1"))
    applied = run_cli("apply", str(stack), "--auto-approve", "--no-wait")
    assert applied.returncode == 0, applied.stderr
    assert "started; follow it with `fldecl logs aggregator_he --follow`" in applied.stdout
    shown = json.loads(run_cli("show", str(stack), "--json").stdout)
    status = next(r["status"] for r in shown["resources"] if r["address"] == "Training/aggregator_he")
    assert status.startswith(("pending", "running")), status

    followed = run_cli("logs", "aggregator_he", str(stack), "--follow", timeout=300)
    assert followed.returncode == 0, followed.stdout + followed.stderr
    lines = followed.stdout.splitlines()
    assert lines[-1] == "Training/aggregator_he: completed (1/1 rounds)"
    assert any(line.startswith("aggregator | ") and "round_completed: round 1 completed in" in line for line in lines)
    for party in ("Party_1", "Party_2", "Party_3"):
        assert any(line.startswith(f"{party}    | ") and "trained: " in line for line in lines), party
    training_dir = next((stack / ".fldecl" / "trainings").iterdir())
    assert "listening: aggregator listening on" in (training_dir / "aggregator.log").read_text()
    only = run_cli("logs", "Training/aggregator_he", str(stack), "--party", "Party_2")
    assert {line.split(" | ")[0] for line in only.stdout.splitlines() if " | " in line} == {"Party_2"}

    table = run_cli("show", str(stack), env={"COLUMNS": "80"})
    assert table.returncode == 0, table.stderr
    wide = [line for line in table.stdout.splitlines() if len(line) > 80 and not line.startswith("Metrics plot: ")]
    assert wide == [], "every line fits 80 columns"
    assert "up (MB)" not in table.stdout and "(MB)" in table.stdout and "(s)" in table.stdout, table.stdout
    assert f"  {training_dir.name}" in table.stdout.splitlines(), "the id whole, on its own line"
    from PIL import Image

    with Image.open(training_dir / "metrics.png") as plot:
        assert plot.info["Title"] == "training aggregator_he"
    assert run_cli("plan", str(stack), "--detailed-exitcode").returncode == 0
