"""Software and hardware specifications: a fixed catalogue with stable ids.

Ids derive from the names, so manifests and tests that recorded an id keep working after the
emulator restarts or moves to another data directory.
"""

from __future__ import annotations

import uuid
from typing import Any

from fldecl.emulator.app import EmulatorApp
from fldecl.emulator.resources import project_scope
from fldecl.emulator.routing import Request, Response, RouteTable, not_found

routes = RouteTable()

_NAMESPACE = uuid.UUID("6f1c3c8e-4d1b-4f7e-9a55-0b8e8d3f2a10")
CATALOGUE_CREATED_AT = "2023-01-01T00:00:00.000Z"

SOFTWARE = {"runtime-22.2-py3.10": "Runtime 22.2 on Python 3.10",
            "runtime-23.1-py3.10": "Runtime 23.1 on Python 3.10",
            "runtime-24.1-py3.11": "Runtime 24.1 on Python 3.11"}
HARDWARE = {"XS": (1, "4Gi"), "S": (2, "8Gi"), "M": (4, "16Gi")}


def spec_id(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, name))


def _metadata(name: str, asset_type: str, collection: str, description: str) -> dict[str, Any]:
    asset_id = spec_id(name)
    return {"name": name, "description": description, "asset_id": asset_id, "asset_type": asset_type,
            "href": f"/v2/{collection}/{asset_id}", "created_at": CATALOGUE_CREATED_AT, "life_cycle": {}}


def _software(name: str) -> dict[str, Any]:
    return {"metadata": _metadata(name, "software_specification", "software_specifications", SOFTWARE[name]),
            "entity": {"software_specification": {"type": "base", "name": name, "display_name": SOFTWARE[name]}}}


def _hardware(name: str) -> dict[str, Any]:
    cpus, memory = HARDWARE[name]
    description = f"{cpus} CPU and {memory} RAM"
    return {"metadata": _metadata(name, "hardware_specification", "hardware_specifications", description),
            "entity": {"hardware_specification": {"name": name, "nodes": {"cpu": {"units": str(cpus)},
                                                                          "mem": {"size": memory}}}}}


CATALOGUES = {"software_specifications": {spec_id(name): _software(name) for name in SOFTWARE},
              "hardware_specifications": {spec_id(name): _hardware(name) for name in HARDWARE}}


def _search(app: EmulatorApp, request: Request) -> Response:
    """``total_results`` is what ``get_id_by_name`` reads (a ``KeyError`` without it)."""
    project_scope(app, request)
    collection = request.path.strip("/").split("/")[1]
    name = request.arg("name")
    found = [spec for spec in CATALOGUES[collection].values() if name is None or spec["metadata"]["name"] == name]
    return Response.json(200, {"total_results": len(found), "resources": found})


def _item(app: EmulatorApp, request: Request) -> Response:
    project_scope(app, request)
    collection = request.path.strip("/").split("/")[1]
    spec = CATALOGUES[collection].get(request.params["id"])
    if spec is None:
        raise not_found(collection.replace("_", " ").rstrip("s").capitalize(), request.params["id"])
    return Response.json(200, spec)


for _collection in CATALOGUES:
    routes.get(f"/v2/{_collection}")(_search)
    routes.get(f"/v2/{_collection}/{{id}}")(_item)


@routes.get("/ml/v4/list/software_specifications")
def software_states(app: EmulatorApp, request: Request) -> Response:
    project_scope(app, request)
    return Response.json(200, {"results": [{"id": spec_id(name), "name": name, "state": "supported"}
                                           for name in SOFTWARE]})
