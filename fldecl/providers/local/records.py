"""What the local backend's resource types share: WML-shaped records in one store, found by tag.

A record's ``name`` is the manifest name (the stack's handle on it); the name the resource has in
the backend is its ``name`` attribute, and the entity's, as WML shows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from fldecl.core.contract import (
    NAME_ATTRIBUTE,
    AdoptRequest,
    DeleteRequest,
    Desired,
    ForgetRequest,
    Observed,
    ProviderContext,
    ReadRequest,
    SameNameRequest,
    Unowned,
)
from fldecl.core.errors import NotFoundError
from fldecl.providers.family import ResourceFamily
from fldecl.providers.store import Record, ResourceStore

PROJECT_ID = "local"


class LocalRecords(ResourceFamily):
    """One kind on the local backend: its records, read by tag; names checked, imports adopted. Members take
    ``(store, state_dir)`` and observe with ``observe(record, ctx)``."""

    registry: ClassVar[dict[str, type[Any]]] = {}

    def __init__(self, store: ResourceStore, state_dir: Path) -> None:
        self.store = store
        self.state_dir = state_dir

    def read(self, request: ReadRequest, ctx: ProviderContext) -> list[Observed]:
        return [self.observe(record, ctx) for record in self.store.list(self.kind, request.tag)]

    def observe(self, record: Record, ctx: ProviderContext) -> Observed:
        return record.observed(attributes=with_backend_name(record))

    def delete(self, request: DeleteRequest, ctx: ProviderContext) -> None:
        self.store.delete(request.current.id)

    def same_name(self, request: SameNameRequest, ctx: ProviderContext) -> list[Unowned]:
        return self.store.same_name(self.kind, request.names, ctx.owner_tag)

    def adopt(self, request: AdoptRequest, ctx: ProviderContext) -> Observed:
        """Tag the record and take it under the manifest's name; its backend name stays as it is, for the plan to compare."""
        adopted = self.store.adopt(request.resource_id, request.desired, "local",
                                   lambda record: {"attributes": with_backend_name(record)})
        return self.observe(adopted, ctx)


    def forget(self, request: ForgetRequest, ctx: ProviderContext) -> str:
        current = request.current
        """``fldecl state rm``: the record stays in the local backend, without the stack's ownership tag."""
        record = self.store.get(current.id)
        if record is None:
            raise NotFoundError(f"{current.address} ({current.id}) is no longer in the local backend")
        self.store.update(record.id, tags=[tag for tag in record.tags if tag != ctx.owner_tag])
        return f"removed the tag {ctx.owner_tag}; the resource stays in the local backend"


def with_backend_name(record: Record) -> dict[str, Any]:
    return {**record.attributes, NAME_ATTRIBUTE: record.backend_name}


def entity(desired: Desired, **fields: Any) -> dict[str, Any]:
    """The WML-shaped entity, for ``show`` and for parity with the wml backend."""
    return {"project_id": PROJECT_ID, "name": desired.backend_name, "tags": desired.tags, **fields}
