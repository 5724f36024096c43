"""Trainings (the federated aggregator) and the ``request.json`` a finished training leaves behind.

A new training starts ``pending``; ``lifecycle.TrainingLifecycle`` moves it on. A delete
without ``hard_delete`` cancels and keeps the record; with it, the record goes too.
"""

from __future__ import annotations

import re
from typing import Any

from fldecl.emulator.app import EmulatorApp
from fldecl.emulator.lifecycle import KIND, TERMINAL_STATES
from fldecl.emulator.listing import page, tagged
from fldecl.emulator.resources import find, in_project, new_metadata, project_scope, touch
from fldecl.emulator.routing import ApiError, Request, Response, RouteTable, not_found
from fldecl.emulator.state import Document, Stored

routes = RouteTable()

LABEL = "Training"
TRAINING_TYPES = ("federated_learning", "experiment", "pipeline", "model_definition")
FRAMEWORK_MODEL_TYPES = {"pytorch": "pytorch-onnx_1.12", "tensorflow": "tensorflow_2.9",
                         "scikit-learn": "scikit-learn_1.1", "sklearn": "scikit-learn_1.1"}
REQUEST_JSON = re.compile(r"(?:.*/)?(?P<training_id>[^/]+)/resources/wml_model/request\.json")


def _results_reference(reference: Any, training_id: str) -> dict[str, Any]:
    if not isinstance(reference, dict):
        raise ApiError(400, "missing_field", "Missing required field: results_reference.")
    location = dict(reference.get("location") or {})
    location.update({"training": training_id, "training_status": f"{training_id}/training-status.json",
                     "assets_path": f"{training_id}/assets", "notebooks_path": f"{training_id}/notebooks"})
    return {**reference, "connection": reference.get("connection", {}), "location": location}


@routes.post("/ml/v4/trainings")
def create_training(app: EmulatorApp, request: Request) -> Response:
    body = request.json_object()
    project_id = project_scope(app, request, body)
    metadata = new_metadata(body, project_id)
    metadata["guid"] = metadata["id"]
    entity = {key: value for key, value in body.items() if key not in ("tags", "space_id")}
    entity["project_id"] = project_id
    entity["results_reference"] = _results_reference(body.get("results_reference"), metadata["id"])
    entity["status"] = app.trainings.new_status()
    document = {"metadata": metadata, "entity": entity}
    app.store.insert(KIND, document, advance_at=app.trainings.first_advance_at())
    app.trainings.created()
    return Response.json(201, document)


def _training_type(document: Document) -> str | None:
    return next((name for name in TRAINING_TYPES if name in document["entity"]), None)


@routes.get("/ml/v4/trainings")
def list_trainings(app: EmulatorApp, request: Request) -> Response:
    project_id = project_scope(app, request)
    state, training_type = request.arg("state"), request.arg("type")

    def wanted(item: Stored) -> bool:
        return ((state is None or item.document["entity"]["status"]["state"] == state)
                and (training_type is None or _training_type(item.document) == training_type))

    trainings = [item for item in tagged(app.store.list(KIND, project_id), request) if wanted(item)]
    return Response.json(200, page(trainings, request))


@routes.get("/ml/v4/trainings/{id}")
def get_training(app: EmulatorApp, request: Request) -> Response:
    return Response.json(200, find(app, request, KIND, LABEL))


@routes.delete("/ml/v4/trainings/{id}")
def delete_training(app: EmulatorApp, request: Request) -> Response:
    training_id = find(app, request, KIND, LABEL)["metadata"]["id"]
    app.trainings.cancel(training_id)
    if (request.arg("hard_delete") or "").lower() == "true":
        app.store.delete(KIND, training_id)
        return Response.empty(204)

    def cancel(document: Document) -> None:
        state = document["entity"]["status"]["state"]
        if state in TERMINAL_STATES:
            raise ApiError(400, "training_already_finished", f"Job already completed with state {state}.")
        document["entity"]["status"].update(state="canceled", message={"level": "info",
                                                                      "text": "The training was canceled."})
        touch(document)

    if app.store.update(KIND, training_id, cancel) is None:
        raise not_found(LABEL, training_id)
    return Response.empty(204)


def _request_json(app: EmulatorApp, training: Document) -> dict[str, Any]:
    """What a finished FL training records for ``store_model``: type, spec and content location."""
    training_id = training["metadata"]["id"]
    federated = training["entity"].get("federated_learning", {})
    initial_model = app.store.get("model", federated.get("model", {}).get("spec", {}).get("id", ""))
    if initial_model:
        model_type = initial_model["entity"].get("type")
        software_spec = initial_model["entity"].get("software_spec", {})
    else:
        model_type = FRAMEWORK_MODEL_TYPES.get(federated.get("model", {}).get("type", ""), "pytorch-onnx_1.12")
        software_spec = federated.get("software_spec", {})
    location = f"trainings/{training_id}/assets/{training_id}/resources/wml_model/model.zip"
    return {"type": model_type, "software_spec": software_spec, "training_id": training_id,
            "content_location": {"type": "container", "connection": {}, "location": {},
                                 "contents": [{"content_format": "native", "file_name": "model.zip",
                                               "location": location}]}}


@routes.get("/wml_services/training/heartbeat", auth=False)
def heartbeat(app: EmulatorApp, request: Request) -> Response:
    """IBM's party probes this before it joins, to fail early on a certificate it does not trust."""
    return Response.json(200, {"status": "ok"})


@routes.get("/v2/asset_files/{path:path}")
def asset_file(app: EmulatorApp, request: Request) -> Response:
    """Only the model request a training leaves is served; the client tolerates a 404 on its first try."""
    project_id = project_scope(app, request)
    match = REQUEST_JSON.fullmatch(request.params["path"])
    training = in_project(app.store.get(KIND, match["training_id"]), project_id) if match else None
    if training is None or training["entity"]["status"]["state"] != "completed":
        raise not_found("Asset file", request.params["path"])
    return Response.json(200, _request_json(app, training))
