"""What every WML resource shares: timestamps, the metadata envelope, the project scope and plain CRUD routes."""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING, Any

from fldecl.emulator.listing import page, tagged
from fldecl.emulator.patching import apply_patch
from fldecl.emulator.routing import ApiError, Request, Response, RouteTable, not_found
from fldecl.emulator.state import Document

if TYPE_CHECKING:
    from fldecl.emulator.app import EmulatorApp

OWNER = "1000330999"


def now_iso() -> str:
    """WML's timestamp format: UTC with milliseconds and a ``Z``."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def project_scope(app: EmulatorApp, request: Request, body: dict[str, Any] | None = None) -> str:
    """The project a call acts in. Two POSTs carry ``project_id`` only in the body; spaces do not exist here."""
    project_id = request.arg("project_id") or (body or {}).get("project_id")
    space_id = request.arg("space_id") or (body or {}).get("space_id")
    if space_id and not project_id:
        raise ApiError(404, "space_not_found", f"Space '{space_id}' does not exist; the emulator serves projects only.")
    if not project_id:
        raise ApiError(400, "missing_project_or_space_id", "Either space_id or project_id has to be provided.")
    if app.store.project(project_id) is None:
        raise ApiError(404, "project_not_found", f"Project '{project_id}' does not exist.")
    return project_id


def new_metadata(body: dict[str, Any], project_id: str) -> dict[str, Any]:
    timestamp = now_iso()
    metadata: dict[str, Any] = {"id": str(uuid.uuid4()), "name": body.get("name"), "created_at": timestamp,
                                "modified_at": timestamp, "rev": "1", "owner": OWNER, "project_id": project_id}
    for optional in ("description", "tags"):
        if optional in body:
            metadata[optional] = body[optional]
    return metadata


def split_body(body: dict[str, Any], project_id: str) -> Document:
    """A resource from a create request: name, description and tags in ``metadata``, the rest in ``entity``."""
    entity = {key: value for key, value in body.items()
              if key not in ("name", "description", "tags", "project_id", "space_id")}
    return {"metadata": new_metadata(body, project_id), "entity": entity}


def require_fields(body: dict[str, Any], *names: str) -> None:
    missing = [name for name in names if body.get(name) in (None, "")]
    if missing:
        raise ApiError(400, "missing_field", f"Missing required field(s): {', '.join(missing)}.")


def touch(document: Document) -> None:
    """Record a change the way WML does: a new ``modified_at`` and the next revision."""
    metadata = document["metadata"]
    metadata["modified_at"] = now_iso()
    metadata["rev"] = str(int(metadata.get("rev", "1")) + 1)


def in_project(document: Document | None, project_id: str) -> Document | None:
    return document if document and document["metadata"].get("project_id") == project_id else None


def find(app: EmulatorApp, request: Request, kind: str, label: str) -> Document:
    """The resource the path names, in the caller's project; 404 for unknown ids (or other projects)."""
    project_id = project_scope(app, request)
    document = in_project(app.store.get(kind, request.params["id"]), project_id)
    if document is None:
        raise not_found(label, request.params["id"])
    return document


def patched(app: EmulatorApp, request: Request, kind: str, label: str, patchable: frozenset[str]) -> Response:
    find(app, request, kind, label)
    operations = request.json()

    def change(document: Document) -> None:
        apply_patch(document, operations, patchable)
        touch(document)

    document = app.store.update(kind, request.params["id"], change)
    if document is None:
        raise not_found(label, request.params["id"])
    return Response.json(200, document)


def deleted(app: EmulatorApp, request: Request, kind: str, label: str) -> Response:
    find(app, request, kind, label)
    if not app.store.delete(kind, request.params["id"]):
        raise not_found(label, request.params["id"])
    return Response.empty(204)


def add_stored_resource_routes(routes: RouteTable, collection: str, kind: str, label: str, patchable: frozenset[str]) -> None:
    """List, get, patch and delete for ``collection``, answered from the store alone.

    Models and remote training systems answer these four alike; only their creates differ.
    """
    item = f"{collection}/{{id}}"

    @routes.get(collection)
    def list_resources(app: EmulatorApp, request: Request) -> Response:
        project_id = project_scope(app, request)
        return Response.json(200, page(tagged(app.store.list(kind, project_id), request), request))

    @routes.get(item)
    def get_resource(app: EmulatorApp, request: Request) -> Response:
        return Response.json(200, find(app, request, kind, label))

    @routes.patch(item)
    def patch_resource(app: EmulatorApp, request: Request) -> Response:
        return patched(app, request, kind, label, patchable)

    @routes.delete(item)
    def delete_resource(app: EmulatorApp, request: Request) -> Response:
        return deleted(app, request, kind, label)
