"""Remote training systems: one per federated party. Name, description and tags live in
``metadata``, the rest (identities, organization, admin) in ``entity``, as WML returns them."""

from __future__ import annotations

from fldecl.emulator.app import EmulatorApp
from fldecl.emulator.resources import add_stored_resource_routes, project_scope, require_fields, split_body
from fldecl.emulator.routing import ApiError, Request, Response, RouteTable

routes = RouteTable()

KIND = "remote_training_system"
LABEL = "Remote training system"
PATCHABLE = frozenset({"name", "description", "tags", "custom", "organization", "allowed_identities",
                       "remote_admin"})


@routes.post("/ml/v4/remote_training_systems")
def create_remote_training_system(app: EmulatorApp, request: Request) -> Response:
    body = request.json_object()
    project_id = project_scope(app, request, body)
    require_fields(body, "name", "allowed_identities")
    if "organization" in body and not (body["organization"] or {}).get("name"):
        raise ApiError(400, "missing_field", "Missing required field: organization.name.")
    document = split_body(body, project_id)
    app.store.insert(KIND, document)
    return Response.json(201, document)


add_stored_resource_routes(routes, "/ml/v4/remote_training_systems", KIND, LABEL, PATCHABLE)
