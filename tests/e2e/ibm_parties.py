"""The seed's flow on the wml backend, through the CLI, for the tests that run IBM's own party runtime.

``fldecl apply --no-wait`` starts the training, each party joins with ``fldecl party run`` (IBM's
runtime in the party environment), the training completes with per-round metrics, ``show`` prints
them and writes the plot, a Model stored from the training exists, and ``destroy`` cleans up.
The two flows live in two test files, so that the suite's two workers run them side by side.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from fldecl.emulator import EmulatorServer
from tests.conftest import EXAMPLE, ROOT
from tests.example_stack import add_trained_model, edit, to_scikit_learn  # noqa: F401  (the e2e tests import them from here)
from tests.wml.conftest import cli_env

PARTY_PYTHON = Path(os.environ.get("FLDECL_PARTY_PYTHON") or ROOT / ".venv-party" / "bin" / "python")
PARTY23_PYTHON = Path(os.environ.get("FLDECL_PARTY23_PYTHON") or ROOT / ".venv-party-23" / "bin" / "python")
PARTIES = ("Party_1", "Party_2", "Party_3")
PARTY_SECONDS = 400
NOTEBOOK_PARTY = Path(__file__).with_name("notebook_party.py")


@dataclass(frozen=True)
class Wml:
    """The emulator and the environment of ``fldecl`` commands that use it."""

    emulator: EmulatorServer
    env: dict[str, str]


@pytest.fixture
def wml(tmp_path: Path) -> Iterator[Wml]:
    if not PARTY_PYTHON.exists():
        pytest.skip(f"IBM's party runtime is not set up ({PARTY_PYTHON}); `make test` builds .venv-party")
    with EmulatorServer(data_dir=tmp_path / "emulator", port=0) as emulator:
        yield Wml(emulator, {**cli_env(emulator.env()), "FLDECL_BACKEND": "wml", "FLDECL_PARTY_PYTHON": str(PARTY_PYTHON),
                             "FLDECL_PARTY23_PYTHON": str(PARTY23_PYTHON)})


@pytest.fixture
def wml_both_runtimes(wml: Wml) -> Wml:
    """The emulator, with both of IBM's party runtimes set up."""
    if not PARTY23_PYTHON.exists():
        pytest.skip(f"IBM's party runtime 23.1 is not set up ({PARTY23_PYTHON}); `make test` builds .venv-party-23")
    return wml


def check_both_runtimes_ran(outputs: dict[str, str], notebook_party: str | None = None) -> None:
    """Party_2 ran runtime 23.1 in ibm-watson-machine-learning on Python 3.10, the others 24.1 in ibm-watsonx-ai on 3.11
    (``notebook_party`` in the client IBM's notebook signed in with)."""
    assert "(runtime-23.1-py3.10: ibm-watson-machine-learning 1.0.370 on Python 3.10." in outputs["Party_2"]
    for name in ("Party_1", "Party_3"):
        runtime = "" if name == notebook_party else "(runtime-24.1-py3.11: "
        assert f"{runtime}ibm-watsonx-ai 1.3.39 on Python 3.11." in outputs[name], outputs[name][-3000:]


def fldecl(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fldecl", *arguments], env=env, capture_output=True, text=True, timeout=600)


def seed_stack(root: Path, name: str, source: Path = EXAMPLE) -> Path:
    stack = root / name
    shutil.copytree(source, stack, ignore=shutil.ignore_patterns(".fldecl", "pki", "data"))
    edit(stack / "stack.yaml", lambda doc: doc["metadata"].update(name=name))
    # A party that fails in IBM's runtime never answers; the training then fails at max_timeout, sooner here.
    edit(stack / "training.yaml", lambda doc: doc["spec"]["remote_training"].update(max_timeout=150))
    return stack


def run_on_runtime(stack: Path, party: str, runtime: str) -> None:
    """``party`` declares the IBM party runtime it runs (``spec.party.runtime``)."""
    edit(stack / "rts.yaml", lambda doc: doc["spec"]["party"].update(runtime=runtime) if doc["metadata"]["name"] == party else None)


def without_party_3(stack: Path) -> tuple[str, ...]:
    """The stack's training with Party_1 and Party_2 only (Party_3's certificate and system go); the parties left."""
    for manifest, name in (("rts.yaml", "Party_3"), ("pki.yaml", "party-3")):
        documents = [document for document in yaml.safe_load_all((stack / manifest).read_text()) if document["metadata"]["name"] != name]
        (stack / manifest).write_text(yaml.safe_dump_all(documents, sort_keys=False))
    edit(stack / "training.yaml", lambda document: document["spec"]["remote_training"].update(remote_training_systems=[
        system for system in document["spec"]["remote_training"]["remote_training_systems"] if system["name"] != "Party_3"]))
    return PARTIES[:2]


def train_with_ibm_parties(env: dict[str, str], stack: Path, notebook_party: str | None = None,
                           outputs: dict[str, str] | None = None, party_seconds: float = PARTY_SECONDS,
                           parties: tuple[str, ...] = PARTIES) -> dict[str, Any]:
    """Apply without waiting, run ``parties`` (all three by default), and return the training as ``show --json`` reports it.

    Each party joins with ``fldecl party run``, except ``notebook_party``, which is handed only its
    ``fldecl party config --format python`` output and joins with IBM's party notebook code.
    ``outputs``, if given, receives each party's output by name; each party may take ``party_seconds``.
    """
    applied = fldecl(env, "apply", str(stack), "--auto-approve", "--no-wait")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    processes = [party_process(env, stack, name, name == notebook_party) for name in parties]
    for name, party in zip(parties, processes, strict=True):
        output = party.communicate(timeout=party_seconds)[0]
        assert party.returncode == 0, output[-3000:]
        assert name == notebook_party or "the training completed" in output
        if outputs is not None:
            outputs[name] = output
    shown = json.loads(fldecl(env, "show", str(stack), "--json").stdout)
    return next(row for row in shown["resources"] if row["address"] == "Training/aggregator_he")


def party_process(env: dict[str, str], stack: Path, name: str, from_notebook: bool) -> subprocess.Popen[str]:
    if from_notebook:
        kit = fldecl(env, "party", "config", name, str(stack), "--format", "python")
        assert kit.returncode == 0, kit.stdout + kit.stderr
        kit_file = stack.parent / f"{name}-kit.py"
        kit_file.write_text(kit.stdout)
        command = [str(PARTY_PYTHON), str(NOTEBOOK_PARTY), str(kit_file)]
        env = {key: value for key, value in env.items() if key != "PYTHONPATH"}  # nothing of fldecl on the party's path
    else:
        command = [sys.executable, "-m", "fldecl", "party", "run", name, str(stack), "--training", "aggregator_he"]
    return subprocess.Popen(command, env=env, cwd=stack.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def check_show_and_store(env: dict[str, str], stack: Path, training: dict[str, Any], metric: str,
                         parties: tuple[str, ...] = PARTIES) -> None:
    """Two rounds with every party's score, the table and the PNG, the stored trained Model, and a clean destroy."""
    assert training["status"] == "completed (2/2 rounds)"
    rounds = training["details"]["rounds"]
    assert [record["round"] for record in rounds] == [1, 2]
    for record in rounds:
        assert set(record["parties"]) == set(parties)
        assert all(0.0 <= party["metrics"][f"fused_{metric}"] <= 1.0 for party in record["parties"].values())
    for record in rounds:  # counted on the websocket of each party `fldecl party run` ran (WML does not report bytes)
        ran_here = [party for name, party in record["parties"].items() if (stack / ".fldecl" / "parties" / name).is_dir()]
        assert ran_here and all(party["bytes_sent"] > 0 and party["bytes_received"] > 0 for party in ran_here), record
    shown = fldecl(env, "show", str(stack))
    assert shown.returncode == 0 and "Training/aggregator_he: rounds" in shown.stdout
    assert "(MB)" in shown.stdout and "does not report the bytes" not in shown.stdout
    plot = Path(shown.stdout.split("Metrics plot: ")[1].split()[0])
    assert plot.read_bytes().startswith(b"\x89PNG")

    stored = fldecl(env, "apply", str(stack), "--auto-approve")
    assert stored.returncode == 0, stored.stdout + stored.stderr
    assert "Model/trained: Creation complete" in stored.stdout
    destroyed = fldecl(env, "destroy", str(stack), "--auto-approve")
    assert destroyed.returncode == 0
    # The CA, the data split, the model, the training, each party's certificate and system, and the trained Model.
    assert f"Destroy complete! 0 created, 0 updated, {5 + 2 * len(parties)} deleted." in destroyed.stdout
