"""The real ``ibm_watson_machine_learning.APIClient`` against the emulator, over verified TLS.

One emulator and one client process serve the whole module (importing the client costs seconds);
each test asserts on one scenario's observations and on what the server saw.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fldecl.emulator import EmulatorServer
from fldecl.emulator.api.specifications import spec_id

from .helpers import run_client

SCENARIOS = ("models", "other_credentials", "connection", "wrong_api_key", "remote_training_systems",
             "training", "faults")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatorServer, dict[str, Any]]]:
    workdir = tmp_path_factory.mktemp("client")
    with EmulatorServer(data_dir=workdir / "data", port=0, simulate_trainings=True, training_seconds=None) as emulator:
        yield emulator, run_client(emulator, workdir, *SCENARIOS)


@pytest.fixture(scope="module")
def results(served: tuple[EmulatorServer, dict[str, Any]]) -> dict[str, Any]:
    return served[1]


def test_client_verifies_tls_and_finds_specifications(results: dict[str, Any]) -> None:
    connection = results["connection"]
    assert connection["verify"] == "True"
    assert connection["software_spec"] == spec_id("runtime-23.1-py3.10")
    assert connection["hardware_spec"] == spec_id("S")
    assert connection["unknown_spec"] == "Not Found"
    assert connection["software_details"] == "runtime-22.2-py3.10"


def test_every_credential_kind_sees_the_same_project(results: dict[str, Any]) -> None:
    by_kind = results["other_credentials"]
    assert by_kind["apikey"] == by_kind["password"] == by_kind["token"]
    assert results["models"]["model_id"] in by_kind["apikey"]


def test_wrong_api_key_is_refused(results: dict[str, Any]) -> None:
    assert results["wrong_api_key"]["type"] == "WMLClientError"
    assert "Error refreshing the token" in results["wrong_api_key"]["message"]
    assert "401" in results["wrong_api_key"]["message"]


def test_model_is_stored_patched_downloaded_and_deleted(results: dict[str, Any]) -> None:
    models = results["models"]
    stored, updated = models["stored"], models["updated"]
    assert stored["metadata"]["tags"] == ["wml_fl_fhe_nb_example", "run-1"]
    assert stored["metadata"]["description"] == "initial model"
    assert stored["entity"] == {"type": "pytorch-onnx_1.12",
                                "software_spec": {"id": spec_id("runtime-22.2-py3.10")}}
    assert updated["metadata"]["name"] == "pytorch-renamed"
    assert updated["metadata"]["description"] == "second description"
    assert updated["metadata"]["tags"] == ["wml_fl_fhe_nb_example", "patched"]
    assert updated["metadata"]["rev"] == "2"
    assert models["downloaded_names"] == ["pytorch_sequence.pt"]
    assert models["deleted"] == ["SUCCESS", "SUCCESS"]
    deleted = set(models["extra_ids"][:2])
    assert not deleted & set(models["remaining_ids"])
    assert "does not exist" in models["deleted_again"]["message"]
    assert models["missing"]["status"] == 404
    assert models["missing"]["body"]["errors"][0]["code"] == "not_found"


def test_model_lists_page_through_next_links(results: dict[str, Any]) -> None:
    models = results["models"]
    all_ids = [*reversed(models["extra_ids"]), models["model_id"]]
    assert models["paged_ids"] == all_ids  # newest first, nothing repeated or skipped
    assert models["chunk_sizes"] == [2, 2, 1]
    assert models["first_page_size"] == 2


def test_remote_training_systems_are_stored_updated_listed_and_deleted(results: dict[str, Any]) -> None:
    systems = results["remote_training_systems"]
    first, updated = systems["first"], systems["updated"]
    assert first["metadata"]["name"] == "Party_1"
    assert first["metadata"]["tags"] == ["wml_fl_fhe_nb_example", "run-1"]
    assert first["entity"] == {"organization": {"name": "IBM", "region": "US"},
                               "allowed_identities": [{"id": "1000330999", "type": "user"}],
                               "remote_admin": {"id": "1000330999", "type": "user"}}
    assert updated["metadata"]["name"] == "Party_0b"
    assert updated["metadata"]["tags"] == ["t2"]
    assert updated["entity"]["allowed_identities"] == [{"id": "42", "type": "user"}]
    assert systems["listed_ids"] == list(reversed(systems["party_ids"]))
    assert systems["paged_ids"] == systems["listed_ids"]
    assert systems["party_ids"][2] not in systems["after_delete_ids"]
    assert systems["deleted_get"]["status"] == 404
    assert systems["deleted_again"]["type"] == "WMLClientError"
    assert "delete remote training system definition failed" in systems["deleted_again"]["message"]


def test_training_runs_completes_is_saved_and_cancelled(results: dict[str, Any]) -> None:
    training = results["training"]
    assert training["created_status"]["state"] == "pending"
    assert training["running_status"]["state"] == "running"
    assert training["refused_store_while_pending"]["message"].startswith("Training is not successfully completed")

    completed = training["completed"]
    status = completed["entity"]["status"]
    assert status["state"] == "completed"
    assert completed["entity"]["federated_learning"]["fusion_type"] == "crypto_iter_avg"
    assert completed["entity"]["results_reference"]["location"]["assets_path"] == f"{training['training_id']}/assets"
    assert [entry["iteration"] for entry in status["metrics"]] == [1, 2]
    parties = status["metrics"][-1]["ml_federated_metrics"]["accuracy"]["remote_training_systems"]
    assert [party["id"] for party in parties] == training["party_ids"]
    assert all(0 < party["fused"] <= 1 for party in parties)

    assert training["training_id"] in training["by_tag"] and len(training["by_tag"]) == 2
    assert training["by_other_tag"] == []
    assert training["completed_ids"] == [training["training_id"]]
    trained = training["trained_model"]
    assert trained["entity"]["type"] == "pytorch-onnx_1.12"
    assert trained["entity"]["training_id"] == training["training_id"]

    assert training["soft_cancel"] == "SUCCESS"
    assert training["soft_cancelled_state"] == "canceled"
    assert training["hard_cancel"] == "SUCCESS"
    assert training["after_hard_cancel"]["status"] == 404
    assert "trained model deletion failed" in training["cancel_unknown"]["message"]


def test_injected_faults_reach_the_client_unretried(results: dict[str, Any]) -> None:
    faults = results["faults"]
    assert faults["rate_limited"]["type"] == "ApiRequestFailure"
    assert faults["rate_limited"]["status"] == 429
    assert faults["rate_limited"]["retry_after"] == "7"
    assert faults["rate_limited"]["body"]["errors"][0]["code"] == "too_many_requests"
    assert faults["unavailable"]["status"] == 503
    assert faults["recovered"] == faults["model_id"]


def test_stats_count_the_clients_requests_by_route(served: tuple[EmulatorServer, dict[str, Any]]) -> None:
    emulator, _results = served
    stats = emulator.stats()
    requests = stats["requests"]
    stored_models = 1 + 4 + 1 + 1  # models scenario, its extras, the training's and the faults' initial models
    assert requests["POST /ml/v4/models"] == stored_models + 1  # plus the model saved from the training
    assert requests["PUT /ml/v4/models/{id}/content"] == stored_models
    assert requests["PATCH /ml/v4/models/{id}"] == 1
    assert requests["POST /ml/v4/trainings"] == 2
    assert requests["DELETE /v2/assets/{id}"] == 2
    assert requests["POST /idprovider/v1/auth/identitytoken"] == 1
    assert stats["faults"] == {"429": 1, "503": 1}
    assert stats["total"] == sum(requests.values())
    assert not any(route.startswith(("GET /_emulator", "POST /_emulator")) for route in requests)
