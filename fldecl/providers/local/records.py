"""What the local backend's resource types share: WML-shaped records in one store, found by tag.

A record's ``name`` is the manifest name (the stack's handle on it); the name the resource has in
the backend is its ``name`` attribute, and the entity's, as WML shows it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fldecl.core.contract import NAME_ATTRIBUTE, Desired, Observed, ProviderContext, Unowned
from fldecl.core.errors import NotFoundError
from fldecl.providers.store import Record, ResourceStore

PROJECT_ID = "local"


class LocalRecords:
    kind: str

    def __init__(self, store: ResourceStore) -> None:
        self.store = store

    def read(self, ctx: ProviderContext) -> list[Observed]:
        return [self.observe(record, ctx) for record in self.store.list(self.kind, ctx.owner_tag)]

    def same_name(self, names: Collection[str], ctx: ProviderContext) -> list[Unowned]:
        wanted = set(names)
        return [Unowned(self.kind, backend_name(record), record.id, tuple(record.tags)) for record in self.store.list(self.kind)
                if ctx.owner_tag not in record.tags and backend_name(record) in wanted]

    def observe(self, record: Record, ctx: ProviderContext) -> Observed:
        return record.observed(attributes=with_backend_name(record))

    def discover(self, desired: Desired, ctx: ProviderContext) -> Observed | None:
        return None  # the store is the local backend: what it has no record of does not exist

    def adopt(self, resource_id: str, desired: Desired, ctx: ProviderContext) -> Observed:
        """Tag the record and take it under the manifest's name; its backend name stays as it is, for the plan to compare."""
        record = self.store.get(resource_id)
        if record is None or record.kind != desired.kind:
            raise NotFoundError(f"no {desired.kind} with id {resource_id} in the local backend")
        tags = record.tags + [t for t in desired.tags if t not in record.tags]
        adopted = self.store.update(record.id, name=desired.name, tags=tags, attributes=with_backend_name(record))
        return self.observe(adopted, ctx)


    def forget(self, current: Observed, ctx: ProviderContext) -> str:
        """``fldecl state rm``: the record stays in the local backend, without the stack's ownership tag."""
        record = self.store.get(current.id)
        if record is None:
            raise NotFoundError(f"{current.address} ({current.id}) is no longer in the local backend")
        self.store.update(record.id, tags=[tag for tag in record.tags if tag != ctx.owner_tag])
        return f"removed the tag {ctx.owner_tag}; the resource stays in the local backend"


def backend_name(record: Record) -> str:
    """The record's name as WML would show it (records made before names could differ hold only the manifest name)."""
    return str(record.attributes.get(NAME_ATTRIBUTE) or record.entity.get("name") or record.name)


def with_backend_name(record: Record) -> dict[str, Any]:
    return {**record.attributes, NAME_ATTRIBUTE: backend_name(record)}


def entity(desired: Desired, **fields: Any) -> dict[str, Any]:
    """The WML-shaped entity, for ``show`` and for parity with the wml backend."""
    return {"project_id": PROJECT_ID, "name": desired.backend_name, "tags": desired.tags, **fields}
