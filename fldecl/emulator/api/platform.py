"""Platform endpoints the client touches while connecting, plus the probes it makes on the side."""

from __future__ import annotations

from fldecl.emulator.app import EmulatorApp
from fldecl.emulator.routing import ApiError, Request, Response, RouteTable, not_found

routes = RouteTable()

PLATFORM_VERSION = "4.8.5"


@routes.get("/ml/wml_services/version", auth=False)
@routes.get("/ml/wml_services/v2/version", auth=False)
def version(app: EmulatorApp, request: Request) -> Response:
    return Response.json(200, {"version": PLATFORM_VERSION})


def _empty_list(request: Request, path: str) -> dict[str, object]:
    limit = request.arg("limit") or "100"
    return {"total_count": 0, "limit": int(limit) if limit.isdigit() else 100,
            "first": {"href": f"{path}?limit={limit}"}, "resources": []}


@routes.get("/ml/v1/foundation_model_specs", auth=False)
def foundation_model_specs(app: EmulatorApp, request: Request) -> Response:
    """Federated learning needs no foundation models; an empty list keeps the client's probe quiet."""
    return Response.json(200, _empty_list(request, request.path))


@routes.get("/v2/spaces")
def spaces(app: EmulatorApp, request: Request) -> Response:
    return Response.json(200, _empty_list(request, request.path))


@routes.get("/v2/projects/{project_id}")
def project(app: EmulatorApp, request: Request) -> Response:
    """``storage.type`` must be ``assetfiles``: other values switch the client to ``/userfs`` URLs."""
    project_id = request.params["project_id"]
    found = app.store.project(project_id)
    if found is None:
        raise not_found("Project", project_id)
    name, created_at = found
    return Response.json(200, {
        "metadata": {"guid": project_id, "url": f"/v2/projects/{project_id}", "created_at": created_at},
        "entity": {"name": name, "description": "", "storage": {"type": "assetfiles", "guid": project_id},
                   "compute": []}})


@routes.get("/ml/v4/deployments")
def deployments(app: EmulatorApp, request: Request) -> Response:
    return Response.json(200, _empty_list(request, request.path))


@routes.get("/ml/v4/pipelines/{id}")
@routes.get("/ml/v4/experiments/{id}")
@routes.get("/ml/v4/functions/{id}")
def unsupported_asset(app: EmulatorApp, request: Request) -> Response:
    """The client probes these to learn an asset's type before a download; only models exist here."""
    kind = request.path.split("/")[3].rstrip("s")
    raise ApiError(404, "not_found", f"{kind.capitalize()} with id '{request.params['id']}' does not exist.")
