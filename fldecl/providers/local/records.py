"""What the local backend's resource types share: WML-shaped records in one store, found by tag."""

from __future__ import annotations

from typing import Any

from fldecl.core.contract import Desired, Observed, ProviderContext
from fldecl.core.errors import NotFoundError
from fldecl.providers.store import ResourceStore

PROJECT_ID = "local"


class LocalRecords:
    kind: str

    def __init__(self, store: ResourceStore) -> None:
        self.store = store

    def read(self, ctx: ProviderContext) -> list[Observed]:
        return [record.observed() for record in self.store.list(self.kind, ctx.owner_tag)]

    def discover(self, desired: Desired, ctx: ProviderContext) -> Observed | None:
        return None  # the store is the local backend: what it has no record of does not exist

    def adopt(self, resource_id: str, desired: Desired, ctx: ProviderContext) -> Observed:
        record = self.store.get(resource_id)
        if record is None or record.kind != desired.kind:
            raise NotFoundError(f"no {desired.kind} with id {resource_id} in the local backend")
        tags = record.tags + [t for t in desired.tags if t not in record.tags]
        return self.store.update(record.id, name=desired.name, tags=tags).observed()


def entity(desired: Desired, **fields: Any) -> dict[str, Any]:
    """The WML-shaped entity, for ``show`` and for parity with the wml backend."""
    return {"project_id": PROJECT_ID, "name": desired.name, "tags": desired.tags, **fields}
