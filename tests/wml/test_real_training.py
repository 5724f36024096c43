"""The emulator with ``StackTrainingRunner``: a training applied through the CLI is trained for real by
the stack's parties (CKKS-encrypted), its rounds carry real metrics per RTS id, the trained model
stored from it is the parties' final model, a party the stack cannot run fails it, and a cancel
stops its processes."""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fldecl.emulator import EmulatorServer
from fldecl.emulator.state import Document
from fldecl.launch.emulated import StackTrainingRunner
from tests.conftest import run_cli
from tests.emulator.helpers import session_for, wait_for_state
from tests.wml.conftest import cli_env

PHASES_SECONDS = 0.6  # pending -> accepting_parties -> running; the runner takes it from there


@pytest.fixture
def real_emulator(tmp_path: Path) -> Iterator[Callable[[Path], EmulatorServer]]:
    """Start an emulator whose trainings run with the given stack's parties; it stops afterwards."""
    started: list[EmulatorServer] = []

    def start(stack: Path) -> EmulatorServer:
        started.append(EmulatorServer(data_dir=tmp_path / "emulator", training_seconds=PHASES_SECONDS,
                                      training_runner=StackTrainingRunner(stack)).start())
        return started[-1]

    yield start
    for emulator in started:
        emulator.stop()


def one_round(stack: Path) -> Path:
    training = yaml.safe_load((stack / "training.yaml").read_text())
    training["spec"]["rounds"] = 1
    (stack / "training.yaml").write_text(yaml.safe_dump(training, sort_keys=False))
    return stack


def stored(emulator: EmulatorServer, kind: str, name: str) -> Document:
    documents = [item.document for item in emulator.app.store.list(kind, emulator.project_id)
                 if item.document["metadata"]["name"] == name]
    assert len(documents) == 1, f"{kind} {name}: {len(documents)} stored"
    return documents[0]


def test_applied_training_runs_with_the_stack_parties(make_stack: Any, real_emulator: Any) -> None:
    stack = one_round(make_stack(trained_model=True))
    emulator = real_emulator(stack)

    applied = run_cli("apply", str(stack), "--auto-approve", "--backend", "wml", env=cli_env(emulator.env()), timeout=300)

    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Training/aggregator_he: completed (1/1 rounds)" in applied.stdout
    training = stored(emulator, "training", "aggregator_he")
    status = training["entity"]["status"]
    assert status["state"] == "completed"
    rts_ids = {stored(emulator, "remote_training_system", name)["metadata"]["id"]: name for name in ("Party_1", "Party_2")}
    [entry] = status["metrics"]
    reported = {system["id"]: system["fused"]
                for system in entry["ml_federated_metrics"]["accuracy"]["remote_training_systems"]}
    assert entry["iteration"] == 1 and set(reported) == set(rts_ids)
    runtime = json.loads((emulator.data_dir / "trainings" / training["metadata"]["id"] / "status.json").read_text())
    [round_record] = runtime["rounds"]
    for rts_id, accuracy in reported.items():
        assert 0 <= accuracy <= 1
        assert accuracy == round_record["parties"][rts_ids[rts_id]]["fused_accuracy"]
    assert runtime["key_distribution"], "the training was not encrypted"

    trained = stored(emulator, "model", "trained")
    content = emulator.app.store.content(trained["metadata"]["id"])
    assert content is not None
    assert "pytorch_sequence.pt" in zipfile.ZipFile(io.BytesIO(content)).namelist()


def test_a_party_without_settings_fails_the_training_naming_it(make_stack: Any, real_emulator: Any) -> None:
    stack = one_round(make_stack())
    systems = list(yaml.safe_load_all((stack / "rts.yaml").read_text()))
    for system in systems:
        if system["metadata"]["name"] == "Party_2":
            del system["spec"]["party"]
    (stack / "rts.yaml").write_text(yaml.safe_dump_all(systems, sort_keys=False))
    emulator = real_emulator(stack)
    project = {"project_id": emulator.project_id}

    with session_for(emulator) as http:
        rts_ids = [http.post(f"{emulator.url}/ml/v4/remote_training_systems", params=project,
                             json={"name": name, "allowed_identities": [], **project}).json()["metadata"]["id"]
                   for name in ("Party_1", "Party_2")]
        training = http.post(f"{emulator.url}/ml/v4/trainings", params=project, json={
            "name": "aggregator_he", "results_reference": {"type": "container", "location": {}}, **project,
            "federated_learning": {"model": {"type": "pytorch", "spec": {"id": "unused"}}, "fusion_type": "crypto_iter_avg",
                                   "rounds": 1, "remote_training": {"remote_training_systems": [
                                       {"id": rts_id, "required": True} for rts_id in rts_ids]}}}).json()

    training_id = training["metadata"]["id"]
    assert wait_for_state(emulator, training_id, "failed", timeout=30)
    message = emulator.app.store.get("training", training_id)["entity"]["status"]["message"]["text"]
    assert "Party_2" in message and "declares no party settings" in message, message


SLOW_HANDLER = '''
import time


class SlowHandler:
    """Never gets its data in time, so the training stays running until it is canceled."""

    def __init__(self, *args, **kwargs):
        pass

    def get_data(self):
        time.sleep(300)
'''


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_canceling_a_running_training_stops_its_processes(make_stack: Any, real_emulator: Any) -> None:
    stack = one_round(make_stack())
    (stack / "handlers" / "slow_handler.py").write_text(SLOW_HANDLER)
    systems = list(yaml.safe_load_all((stack / "rts.yaml").read_text()))
    systems[1]["spec"]["party"]["data_handler"] = {"name": "SlowHandler", "path": "handlers/slow_handler.py"}
    (stack / "rts.yaml").write_text(yaml.safe_dump_all(systems, sort_keys=False))
    emulator = real_emulator(stack)

    applied = run_cli("apply", str(stack), "--auto-approve", "--no-wait", "--backend", "wml", env=cli_env(emulator.env()),
                      timeout=300)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    training_id = stored(emulator, "training", "aggregator_he")["metadata"]["id"]
    status_file = emulator.data_dir / "trainings" / training_id / "status.json"
    deadline = time.monotonic() + 60
    while not (status_file.is_file() and json.loads(status_file.read_text()).get("aggregator")):
        assert time.monotonic() < deadline, "the aggregator did not start"
        time.sleep(0.2)
    aggregator_pid = json.loads(status_file.read_text())["pid"]

    with session_for(emulator) as http:
        canceled = http.delete(f"{emulator.url}/ml/v4/trainings/{training_id}", params={"project_id": emulator.project_id})
    assert canceled.status_code == 204
    deadline = time.monotonic() + 20
    while process_alive(aggregator_pid):
        assert time.monotonic() < deadline, "the aggregator outlived the cancel"
        time.sleep(0.2)
    assert emulator.app.store.get("training", training_id)["entity"]["status"]["state"] == "canceled"
