"""``RemoteTrainingSystem`` on the local backend: a record per party, as WML registers it."""

from __future__ import annotations

from typing import Any

from fldecl.core.contract import Desired, Observed, ProviderContext
from fldecl.providers.local.records import LocalRecords, entity

ENTITY_FIELDS = ("organization", "allowed_identities", "remote_admin", "description")


class RemoteTrainingSystems(LocalRecords):
    kind = "RemoteTrainingSystem"

    def create(self, desired: Desired, ctx: ProviderContext) -> Observed:
        return self.store.insert(self.kind, desired.name, desired.tags, desired.attributes, entity=_entity(desired)).observed()

    def update(self, current: Observed, desired: Desired, changed: list[str], ctx: ProviderContext) -> Observed:
        return self.store.update(current.id, name=desired.name, attributes=desired.attributes, entity=_entity(desired)).observed()

    def delete(self, current: Observed, ctx: ProviderContext) -> None:
        self.store.delete(current.id)


def _entity(desired: Desired) -> dict[str, Any]:
    return entity(desired, **{key: desired.attributes[key] for key in ENTITY_FIELDS if key in desired.attributes})
