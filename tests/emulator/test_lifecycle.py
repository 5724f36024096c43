"""Trainings move on a clock, hand their run to a pluggable runner, and obey forced states."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from fldecl.emulator import EmulatorServer, TrainingRun, round_metrics

from .helpers import session_for, wait_for_state

VERSION = "2026-08-17"


def create_training(emulator: EmulatorServer, http: requests.Session, rounds: int = 2) -> dict[str, Any]:
    body = {"name": "aggregator_he", "description": "d", "project_id": emulator.project_id, "tags": ["t"],
            "results_reference": {"type": "container", "connection": {}, "location": {"path": "."}},
            "federated_learning": {"fusion_type": "crypto_iter_avg", "rounds": rounds, "metrics": "accuracy",
                                   "remote_training": {"remote_training_systems": [{"id": "party-a"}]}}}
    response = http.post(f"{emulator.url}/ml/v4/trainings", params={"version": VERSION}, json=body)
    assert response.status_code == 201
    return response.json()


def observed_states(emulator: EmulatorServer, training_id: str, until: str) -> list[str]:
    states: list[str] = []
    for _ in range(400):
        state = emulator.app.store.get("training", training_id)["entity"]["status"]["state"]
        if not states or states[-1] != state:
            states.append(state)
        if state == until:
            break
        time.sleep(0.01)
    return states


def test_clock_moves_a_training_to_completed_with_round_metrics(
        start_emulator: Callable[..., EmulatorServer]) -> None:
    emulator = start_emulator(training_seconds=0.6)
    with session_for(emulator) as http:
        training_id = create_training(emulator, http, rounds=3)["metadata"]["id"]
        assert observed_states(emulator, training_id, "completed") == [
            "pending", "accepting_parties", "running", "completed"]
        status = http.get(f"{emulator.url}/ml/v4/trainings/{training_id}",
                          params={"version": VERSION, "project_id": emulator.project_id}).json()["entity"]["status"]
    assert [entry["iteration"] for entry in status["metrics"]] == [1, 2, 3]
    assert status["metrics"][0]["ml_federated_metrics"]["accuracy"]["remote_training_systems"][0]["id"] == "party-a"
    assert status["iteration"] == status["total_iterations"] == 3
    assert status["federated_learning_info"]["aggregator"]["connection"]["port"] == emulator.port
    assert status["running_at"] and status["completed_at"]


def test_runner_hook_runs_the_training_and_its_failure_fails_it(
        start_emulator: Callable[..., EmulatorServer]) -> None:
    def runner(run: TrainingRun) -> None:
        run.record_round(round_metrics(1, "accuracy", {"party-a": 0.75}))
        run.save_model(b"trained weights")
        if run.training["metadata"]["name"] == "doomed":
            raise RuntimeError("party-a never joined")

    emulator = start_emulator(training_seconds=0.0, training_runner=runner)
    with session_for(emulator) as http:
        good = create_training(emulator, http)["metadata"]["id"]
        assert wait_for_state(emulator, good, "completed")
        status = emulator.app.store.get("training", good)["entity"]["status"]
        assert status["metrics"][0]["ml_federated_metrics"]["accuracy"]["remote_training_systems"] == [
            {"id": "party-a", "fused": 0.75}]

        request_json = http.get(f"{emulator.url}/v2/asset_files/{good}/resources/wml_model/request.json",
                                params={"version": VERSION, "project_id": emulator.project_id}).json()
        saved = http.post(f"{emulator.url}/ml/v4/models", params={"version": VERSION},
                          json={**request_json, "name": "trained", "project_id": emulator.project_id})
        assert saved.status_code == 202
        download = http.get(f"{emulator.url}/ml/v4/models/{saved.json()['metadata']['id']}/download",
                            params={"version": VERSION, "project_id": emulator.project_id})
        assert download.content == b"trained weights"

        body = {"name": "doomed", "project_id": emulator.project_id,
                "results_reference": {}}
        doomed = http.post(f"{emulator.url}/ml/v4/trainings", params={"version": VERSION}, json=body).json()
    assert wait_for_state(emulator, doomed["metadata"]["id"], "failed")
    failed = emulator.app.store.get("training", doomed["metadata"]["id"])["entity"]["status"]
    assert failed["message"] == {"level": "error", "text": "party-a never joined"}
    assert failed["failure"]["errors"][0]["message"] == "party-a never joined"


def test_forced_states_pin_the_training_and_cancel_rules_hold(emulator: EmulatorServer) -> None:
    with session_for(emulator) as http:
        training_id = create_training(emulator, http)["metadata"]["id"]
        url = f"{emulator.url}/ml/v4/trainings/{training_id}"
        scope = {"version": VERSION, "project_id": emulator.project_id}
        forced = http.post(f"{emulator.url}/_emulator/trainings/{training_id}/state",
                           json={"state": "failed", "message": "quorum not reached"})
        assert forced.status_code == 200
        assert http.get(url, params=scope).json()["entity"]["status"]["message"]["text"] == "quorum not reached"
        refused = http.delete(url, params=scope)
        assert refused.status_code == 400 and "Job already completed with state failed" in refused.text
        assert http.post(f"{emulator.url}/_emulator/trainings/{training_id}/state",
                         json={"state": "exploded"}).status_code == 400
        assert http.delete(url, params={**scope, "hard_delete": "true"}).status_code == 204
        assert http.get(url, params=scope).status_code == 404
        assert http.post(f"{emulator.url}/_emulator/trainings/{training_id}/state",
                         json={"state": "running"}).status_code == 404


def test_manual_clock_keeps_trainings_pending(emulator: EmulatorServer) -> None:
    with session_for(emulator) as http:
        training_id = create_training(emulator, http)["metadata"]["id"]
    time.sleep(0.3)  # several clock ticks
    assert emulator.app.store.get("training", training_id)["entity"]["status"]["state"] == "pending"
    emulator.set_training_state(training_id, "accepting_parties")
    status = emulator.app.store.get("training", training_id)["entity"]["status"]
    assert status["state"] == "accepting_parties"
    assert status["federated_learning_info"]["remote_training_systems"]["states"][0]["id"] == "party-a"
