"""``RemoteTrainingSystem`` on the local backend: a record per party, as WML registers it."""

from __future__ import annotations

from typing import Any

from fldecl.core.contract import CreateRequest, Desired, Observed, ProviderContext, UpdateRequest
from fldecl.kinds.training import PARTY_KIND
from fldecl.providers.local.records import LocalRecords, entity

ENTITY_FIELDS = ("organization", "allowed_identities", "remote_admin", "description")


class RemoteTrainingSystems(LocalRecords):
    kind = PARTY_KIND

    def create(self, request: CreateRequest, ctx: ProviderContext) -> Observed:
        desired = request.desired
        return self.store.insert(self.kind, desired.name, desired.tags, desired.attributes, entity=_entity(desired)).observed()

    def update(self, request: UpdateRequest, ctx: ProviderContext) -> Observed:
        desired = request.desired
        return self.store.update(request.current.id, name=desired.name, attributes=desired.attributes, entity=_entity(desired)).observed()


def _entity(desired: Desired) -> dict[str, Any]:
    return entity(desired, **{key: desired.attributes[key] for key in ENTITY_FIELDS if key in desired.attributes})
