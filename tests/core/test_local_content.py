"""A local model's content and its record: written content first, record last; a plan that finds one
without the other plans the repair and says why."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.core.stacks import write_stack

#: About 1.6 MB of float64 weights: larger than anything else the apply writes.
LARGE_MODEL = """\
apiVersion: fldecl/v1
kind: Model
metadata: {name: large}
spec:
  type: scikit-learn_1.1
  software_spec: {name: runtime-22.2-py3.10}
  model_file: model.pickle
  source:
    architecture: {framework: scikit-learn, estimator: SGDClassifier, n_features: 20000, classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}
"""
FILE_SIZE_LIMIT = 512 * 1024


def large_model_stack(directory: Path) -> Path:
    stack = write_stack(directory, pki=False, model=False, parties=1)
    (stack / "model.yaml").write_text(LARGE_MODEL)
    return stack


def limit_file_size() -> None:
    """What a full disk does to a writer: writes past the limit fail (EFBIG) instead of killing the process."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


def plan_of(stack: Path) -> dict[str, tuple[list[str], list[str]]]:
    document = json.loads(run_cli("plan", str(stack), "--json").stdout)
    return {c["address"]: (c["change"]["actions"], c["reasons"]) for c in document["resource_changes"]}


def test_a_failed_content_write_records_nothing_and_the_next_apply_stores_it(tmp_path: Path) -> None:
    stack = large_model_stack(tmp_path / "stack")
    failed = subprocess.run([sys.executable, "-m", "fldecl", "apply", str(stack), "--auto-approve"], capture_output=True,
                            text=True, preexec_fn=limit_file_size, timeout=300)
    assert failed.returncode == 1
    assert "cannot store the content of Model/large" in failed.stdout and "File too large" in failed.stdout
    assert "RemoteTrainingSystem/Party_1: Creation complete" in failed.stdout
    assert plan_of(stack)["Model/large"] == (["create"], ["not found in the backend"])
    assert list((stack / ".fldecl" / "models").iterdir()) == []
    assert run_cli("apply", str(stack), "--auto-approve").returncode == 0
    assert run_cli("plan", str(stack), "--detailed-exitcode").returncode == 0


def test_a_record_without_its_content_is_stored_again(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack", pki=False, parties=1)
    assert run_cli("apply", str(stack), "--auto-approve").returncode == 0
    (content,) = (stack / ".fldecl" / "models").glob("*.zip")
    content.unlink()
    actions, reasons = plan_of(stack)["Model/sgd"]
    assert actions == ["delete", "create"]
    assert reasons == [f"its content {content} is missing; apply stores it again"]
    assert run_cli("apply", str(stack), "--auto-approve").returncode == 0
    assert run_cli("plan", str(stack), "--detailed-exitcode").returncode == 0


def test_content_left_without_a_record_is_removed_and_stored_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fldecl.cli.session import load, reconciler
    from fldecl.core.contract import CreateRequest
    from fldecl.core.plan import build_desired
    from fldecl.providers.store import ResourceStore
    from tests.core.test_apply_engine import Silent

    stack = write_stack(tmp_path / "stack", pki=False, parties=1)

    def killed(*args: object, **kwargs: object) -> None:
        raise SystemExit("killed between the content and the record")

    monkeypatch.setattr(ResourceStore, "insert", killed)
    rec = reconciler(load(stack), reporter=Silent())
    with pytest.raises(SystemExit):
        rec.providers.resources["Model"].create(CreateRequest(build_desired(rec.stack, "Model/sgd", {})), rec.ctx)
    monkeypatch.undo()
    leftovers = sorted(path.name for path in (stack / ".fldecl" / "models").iterdir())
    assert len(leftovers) == 2 and leftovers[1].endswith(".zip") and leftovers[0].endswith(".pending.json")
    actions, reasons = plan_of(stack)["Model/sgd"]
    assert actions == ["delete", "create"]
    assert reasons == ["an interrupted create left content without a record; apply removes it and stores the model again"]
    assert run_cli("apply", str(stack), "--auto-approve").returncode == 0
    assert run_cli("plan", str(stack), "--detailed-exitcode").returncode == 0
    assert len(list((stack / ".fldecl" / "models").iterdir())) == 1
