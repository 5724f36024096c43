"""Drives the real ``ibm_watson_machine_learning.APIClient`` against a running emulator.

Runs in a subprocess because the client reads ``WML_CLIENT_VERIFY_REQUESTS`` at import time:
the parent sets it (with ``REQUESTS_CA_BUNDLE``) so every call verifies the emulator's TLS.
Usage: ``python client_driver.py RESULT_FILE SCENARIO...``; credentials come as JSON in
``EMULATOR_CREDENTIALS``. Each scenario's observations (or its error) go into RESULT_FILE.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from ibm_watson_machine_learning import APIClient
from ibm_watson_machine_learning._wrappers import requests as client_requests
from ibm_watson_machine_learning.wml_client_error import WMLClientError

SETTINGS = json.loads(os.environ["EMULATOR_CREDENTIALS"])
TAGS = ["wml_fl_fhe_nb_example", "run-1"]
SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {}


def scenario(function: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    SCENARIOS[function.__name__] = function
    return function


def connect(kind: str = "apikey", **overrides: str) -> APIClient:
    """A client signed in with the emulator's ``kind`` credentials, default project set."""
    client = APIClient({**SETTINGS["credentials"][kind], **overrides})
    client.set.default_project(SETTINGS["project_id"])
    return client


def control(path: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(f"{SETTINGS['url']}/_emulator/{path}", json=payload)
    response.raise_for_status()
    return response.json()


def failure(call: Callable[[], Any]) -> dict[str, Any]:
    """What a failing client call raised, with the HTTP answer behind it when there was one."""
    try:
        call()
    except WMLClientError as error:
        response = getattr(error, "response", None)
        return {"type": type(error).__name__, "message": str(error),
                "status": None if response is None else response.status_code,
                "retry_after": None if response is None else response.headers.get("Retry-After"),
                "body": None if response is None else response.json()}
    return {"type": None}


def model_zip(directory: Path) -> str:
    path = directory / "pt_mnist_init_model.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pytorch_sequence.pt", b"not really a torch model")
    return str(path)


def store_initial_model(client: APIClient, name: str = "pytorch") -> str:
    software_spec = client.software_specifications.get_id_by_name("runtime-22.2-py3.10")
    with tempfile.TemporaryDirectory() as directory:
        details = client.repository.store_model(model_zip(Path(directory)), meta_props={
            client.repository.ModelMetaNames.NAME: name,
            client.repository.ModelMetaNames.TYPE: "pytorch-onnx_1.12",
            client.repository.ModelMetaNames.SOFTWARE_SPEC_UID: software_spec,
            client.repository.ModelMetaNames.TAGS: TAGS,
            client.repository.ModelMetaNames.DESCRIPTION: "initial model"})
    return client.repository.get_model_id(details)


def store_party(client: APIClient, index: int) -> str:
    names = client.remote_training_systems.ConfigurationMetaNames
    details = client.remote_training_systems.store(meta_props={
        names.NAME: f"Party_{index}", names.TAGS: TAGS, names.DESCRIPTION: f"party {index}",
        names.ORGANIZATION: {"name": "IBM", "region": "US"},
        names.ALLOWED_IDENTITIES: [{"id": "1000330999", "type": "user"}],
        names.REMOTE_ADMIN: {"id": "1000330999", "type": "user"}})
    return client.remote_training_systems.get_id(details)


def run_training(client: APIClient, model_id: str, party_ids: list[str]) -> str:
    names = client.training.ConfigurationMetaNames
    details = client.training.run(asynchronous=True, meta_props={
        names.NAME: "aggregator_he", names.DESCRIPTION: "HE aggregator", names.TAGS: TAGS,
        names.TRAINING_DATA_REFERENCES: [],
        names.TRAINING_RESULTS_REFERENCE: {"type": "container", "name": "outputData", "connection": {},
                                           "location": {"path": "."}},
        names.FEDERATED_LEARNING: {
            "model": {"type": "pytorch", "spec": {"id": model_id}, "model_file": "pytorch_sequence.pt"},
            "fusion_type": "crypto_iter_avg", "crypto": {"cipher_spec": "encryption_level_1"},
            "epochs": 1, "rounds": 2, "metrics": "accuracy",
            "remote_training": {"max_timeout": 600, "quorum": 1,
                                "remote_training_systems": [{"id": party, "required": True} for party in party_ids]},
            "software_spec": {"name": "runtime-22.2-py3.10"}, "hardware_spec": {"name": "S"}}})
    return client.training.get_id(details)


@scenario
def connection() -> dict[str, Any]:
    client = connect()
    return {"verify": client_requests.verify,
            "software_spec": client.software_specifications.get_id_by_name("runtime-23.1-py3.10"),
            "hardware_spec": client.hardware_specifications.get_id_by_name("S"),
            "unknown_spec": client.software_specifications.get_id_by_name("runtime-0.0"),
            "software_details": client.software_specifications.get_details(
                client.software_specifications.get_id_by_name("runtime-22.2-py3.10"))["metadata"]["name"]}


@scenario
def other_credentials() -> dict[str, Any]:
    """Every sign-in form lists the same models."""
    return {kind: [item["metadata"]["id"] for item in connect(kind).repository.get_model_details()["resources"]]
            for kind in ("apikey", "password", "token")}


@scenario
def wrong_api_key() -> dict[str, Any]:
    return failure(lambda: connect(apikey="not-the-key"))


@scenario
def models() -> dict[str, Any]:
    client = connect()
    model_id = store_initial_model(client)
    stored = client.repository.get_model_details(model_id)
    updated = client.repository.update_model(model_id, {
        client.repository.ModelMetaNames.NAME: "pytorch-renamed",
        client.repository.ModelMetaNames.DESCRIPTION: "second description",
        client.repository.ModelMetaNames.TAGS: ["wml_fl_fhe_nb_example", "patched"]})
    with tempfile.TemporaryDirectory() as directory:
        previous = os.getcwd()
        os.chdir(directory)  # the client saves downloads relative to the working directory
        try:
            downloaded = Path(client.repository.download(model_id, "copy.zip"))
            with zipfile.ZipFile(downloaded) as archive:
                downloaded_names = archive.namelist()
        finally:
            os.chdir(previous)
    extra_ids = [store_initial_model(client, f"extra-{index}") for index in range(4)]
    paged = client.repository.get_model_details(limit=2, get_all=True)["resources"]
    chunks = list(client.repository.get_model_details(limit=2, get_all=True, asynchronous=True))
    first_page = client.repository.get_model_details(limit=2)["resources"]
    deleted_with_assets_api = client.repository.delete(extra_ids[0])
    deleted_with_models_api = client._models.delete(extra_ids[1])
    return {"model_id": model_id, "extra_ids": extra_ids, "stored": stored, "updated": updated,
            "downloaded_names": downloaded_names, "paged_ids": [model["metadata"]["id"] for model in paged],
            "chunk_sizes": [len(chunk["resources"]) for chunk in chunks], "first_page_size": len(first_page),
            "deleted": [deleted_with_assets_api, deleted_with_models_api],
            "remaining_ids": [model["metadata"]["id"] for model in
                              client.repository.get_model_details()["resources"]],
            "deleted_again": failure(lambda: client.repository.delete(extra_ids[0])),
            "missing": failure(lambda: client.repository.get_model_details(extra_ids[1]))}


@scenario
def remote_training_systems() -> dict[str, Any]:
    client = connect()
    systems = client.remote_training_systems
    party_ids = [store_party(client, index) for index in range(3)]
    names = systems.ConfigurationMetaNames
    updated = systems.update(party_ids[0], {names.NAME: "Party_0b", names.TAGS: ["t2"],
                                            names.ALLOWED_IDENTITIES: [{"id": "42", "type": "user"}]})
    listed = systems.get_details()["resources"]
    paged = systems.get_details(limit=1, get_all=True)["resources"]
    systems.delete(party_ids[2])
    return {"party_ids": party_ids, "first": systems.get_details(party_ids[1]), "updated": updated,
            "listed_ids": [item["metadata"]["id"] for item in listed],
            "paged_ids": [item["metadata"]["id"] for item in paged],
            "after_delete_ids": [item["metadata"]["id"] for item in systems.get_details()["resources"]],
            "deleted_get": failure(lambda: systems.get_details(party_ids[2])),
            "deleted_again": failure(lambda: systems.delete(party_ids[2]))}


@scenario
def training() -> dict[str, Any]:
    client = connect()
    model_id = store_initial_model(client)
    party_ids = [store_party(client, index) for index in range(2)]
    training_id = run_training(client, model_id, party_ids)
    second_id = run_training(client, model_id, party_ids)
    observations: dict[str, Any] = {"training_id": training_id, "party_ids": party_ids,
                                    "created_status": client.training.get_status(training_id)}
    refused = failure(lambda: client.repository.store_model(training_id, meta_props={
        client.repository.ModelMetaNames.NAME: "trained", client.repository.ModelMetaNames.TYPE: "pytorch-onnx_1.12"}))
    control(f"trainings/{training_id}/state", {"state": "running"})
    observations["running_status"] = client.training.get_status(training_id)
    control(f"trainings/{training_id}/state", {"state": "completed"})
    observations["completed"] = client.training.get_details(training_id)
    observations["by_tag"] = [item["metadata"]["id"] for item in
                              client.training.get_details(tag_value="run-1")["resources"]]
    observations["by_other_tag"] = client.training.get_details(tag_value="nobody")["resources"]
    observations["completed_ids"] = [item["metadata"]["id"] for item in
                                     client.training.get_details(state="completed")["resources"]]
    trained = client.repository.store_model(training_id, meta_props={
        client.repository.ModelMetaNames.NAME: "trained",
        client.repository.ModelMetaNames.TYPE: "pytorch-onnx_1.12",
        client.repository.ModelMetaNames.SOFTWARE_SPEC_UID:
            client.software_specifications.get_id_by_name("runtime-22.2-py3.10")})
    observations["trained_model"] = trained
    observations["refused_store_while_pending"] = refused
    observations["soft_cancel"] = client.training.cancel(second_id)
    observations["soft_cancelled_state"] = client.training.get_status(second_id)["state"]
    observations["hard_cancel"] = client.training.cancel(training_id, hard_delete=True)
    observations["after_hard_cancel"] = failure(lambda: client.training.get_details(training_id))
    observations["cancel_unknown"] = failure(lambda: client.training.cancel(training_id))
    return observations


@scenario
def faults() -> dict[str, Any]:
    client = connect()
    model_id = store_initial_model(client)
    control("faults", {"error_rate": 1.0, "error_mix": {"429": 1}, "retry_after_seconds": 7})
    rate_limited = failure(lambda: client.repository.get_model_details(model_id))
    control("faults", {"error_mix": {"503": 1}})
    unavailable = failure(lambda: client.remote_training_systems.get_details())
    control("faults", {"error_rate": 0.0})
    return {"model_id": model_id, "rate_limited": rate_limited, "unavailable": unavailable,
            "recovered": client.repository.get_model_details(model_id)["metadata"]["id"]}


@scenario
def populate() -> dict[str, Any]:
    client = connect()
    return {"model_id": store_initial_model(client), "party_id": store_party(client, 0)}


@scenario
def read_back() -> dict[str, Any]:
    client = connect()
    return {"model_ids": [item["metadata"]["id"] for item in client.repository.get_model_details()["resources"]],
            "party_ids": [item["metadata"]["id"] for item in
                          client.remote_training_systems.get_details()["resources"]]}


def main(result_file: str, names: list[str]) -> None:
    results: dict[str, Any] = {}
    for name in names:
        try:
            results[name] = SCENARIOS[name]()
        except Exception:  # report, so one broken scenario does not hide the others
            results[name] = {"crashed": traceback.format_exc()}
    Path(result_file).write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
