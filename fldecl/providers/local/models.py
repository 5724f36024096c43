"""``Model`` on the local backend: a record, and the model's zip beside it (0600)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from fldecl.core.contract import Desired, Observed, ProviderContext
from fldecl.models import build_zip
from fldecl.providers.local import trainings
from fldecl.providers.local.paths import model_content_path, write_private
from fldecl.providers.local.records import LocalRecords, entity
from fldecl.providers.store import ResourceStore


class Models(LocalRecords):
    kind = "Model"

    def __init__(self, store: ResourceStore, state_dir: Path) -> None:
        super().__init__(store)
        self.state_dir = state_dir

    def create(self, desired: Desired, ctx: ProviderContext) -> Observed:
        source = desired.attributes["source"]
        if "training" in source:
            content = trainings.trained_model(self.store, source["training"], ctx)
        else:
            content = build_zip(desired.attributes, ctx.stack_dir)
        held = _entity(desired, content_sha256=hashlib.sha256(content).hexdigest(), content_bytes=len(content))
        record = self.store.insert(self.kind, desired.name, desired.tags, desired.attributes, entity=held)
        write_private(model_content_path(self.state_dir, record.id), content)
        return record.observed()

    def update(self, current: Observed, desired: Desired, changed: list[str], ctx: ProviderContext) -> Observed:
        held = {**current.document, **_entity(desired)}
        return self.store.update(current.id, name=desired.name, attributes=desired.attributes, entity=held).observed()

    def delete(self, current: Observed, ctx: ProviderContext) -> None:
        model_content_path(self.state_dir, current.id).unlink(missing_ok=True)
        self.store.delete(current.id)


def _entity(desired: Desired, **fields: Any) -> dict[str, Any]:
    return entity(desired, type=desired.attributes["type"], software_spec=desired.attributes["software_spec"], **fields)
