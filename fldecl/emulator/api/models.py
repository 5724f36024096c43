"""Models: ``/ml/v4/models`` plus the asset delete the client's ``repository.delete`` uses.

Status codes are the client's contract: 201 for a create from a file, 202 for a create from a
training, 201 (never 200) for the content upload, 204 for deletes.
"""

from __future__ import annotations

from fldecl.emulator.app import EmulatorApp
from fldecl.emulator.resources import add_stored_resource_routes, deleted, find, project_scope, require_fields, split_body
from fldecl.emulator.routing import ApiError, Request, Response, RouteTable, not_found

routes = RouteTable()

KIND = "model"
LABEL = "Model"
PATCHABLE = frozenset({"name", "description", "tags", "custom", "software_spec", "model_version"})


@routes.post("/ml/v4/models")
def create_model(app: EmulatorApp, request: Request) -> Response:
    body = request.json_object()
    project_id = project_scope(app, request, body)
    require_fields(body, "name", "type")
    document = split_body(body, project_id)
    from_training = "content_location" in body
    if from_training:
        document["entity"]["content_import_state"] = "completed"
    document["system"] = {"warnings": []}
    app.store.insert(KIND, document)
    trained_content = app.store.content(f"{body.get('training_id')}/model") if from_training else None
    if trained_content is not None:
        app.store.put_content(document["metadata"]["id"], trained_content)
    return Response.json(202 if from_training else 201, document)


add_stored_resource_routes(routes, "/ml/v4/models", KIND, LABEL, PATCHABLE)


@routes.delete("/v2/assets/{id}")
def delete_asset(app: EmulatorApp, request: Request) -> Response:
    """Models are the only assets here; ``purge_on_delete`` changes nothing without a trash can."""
    return deleted(app, request, KIND, "Asset")


@routes.put("/ml/v4/models/{id}/content")
def upload_content(app: EmulatorApp, request: Request) -> Response:
    model = find(app, request, KIND, LABEL)
    if not request.body:
        raise ApiError(400, "missing_content", "The request body must carry the model content.")
    app.store.put_content(model["metadata"]["id"], request.body)
    return Response.json(201, {"attachment_id": model["metadata"]["id"],
                               "content_format": request.arg("content_format", "native"), "persisted": True})


@routes.get("/ml/v4/models/{id}/download")
def download_content(app: EmulatorApp, request: Request) -> Response:
    model = find(app, request, KIND, LABEL)
    content = app.store.content(model["metadata"]["id"])
    if content is None:
        raise not_found("Content of model", model["metadata"]["id"])
    return Response(200, content, "application/octet-stream")
