"""State lives in the data directory: a restarted emulator serves what the previous one stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fldecl.emulator import EmulatorServer

from .helpers import run_client, session_for, wait_for_state


def test_client_reads_back_resources_after_a_restart(tmp_path: Path,
                                                      start_emulator: Callable[..., EmulatorServer]) -> None:
    first = start_emulator()
    stored = run_client(first, tmp_path, "populate")["populate"]
    identity = (first.api_key, first.password, first.project_id)
    old_token = first.token()
    first.stop()

    second = start_emulator()
    assert (second.api_key, second.password, second.project_id) == identity
    read = run_client(second, tmp_path, "read_back")["read_back"]
    assert read["model_ids"] == [stored["model_id"]]
    assert read["party_ids"] == [stored["party_id"]]

    with session_for(second) as http:
        http.headers["Authorization"] = f"Bearer {old_token}"
        content = http.get(f"{second.url}/ml/v4/models/{stored['model_id']}/download",
                           params={"version": "2026-08-17", "project_id": second.project_id})
    assert content.status_code == 200 and content.content.startswith(b"PK")


def test_interrupted_training_resumes_after_a_restart(start_emulator: Callable[..., EmulatorServer]) -> None:
    first = start_emulator()
    with session_for(first) as http:
        created = http.post(f"{first.url}/ml/v4/trainings", params={"version": "2026-08-17"},
                            json={"name": "t", "project_id": first.project_id, "results_reference": {}}).json()
    training_id = created["metadata"]["id"]
    first.set_training_state(training_id, "running")
    first.stop()

    ran: list[str] = []
    second = start_emulator(training_runner=lambda run: ran.append(run.training_id))
    assert wait_for_state(second, training_id, "completed")
    assert ran == [training_id]

