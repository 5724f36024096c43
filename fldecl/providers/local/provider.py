"""The embedded ``local`` backend: models, remote training systems and trainings on disk.

Records live in ``.fldecl/local.db`` (see :mod:`fldecl.providers.store`), shaped like WML's so
the same plans come out of both backends; model content lives beside it in ``.fldecl/models/``.
A training really runs: :mod:`fldecl.providers.local.trainings` starts the federated runtime.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from fldecl.providers.base import (
    Desired,
    NotFoundError,
    Observed,
    ProviderContext,
    ProviderError,
)
from fldecl.providers.local import trainings
from fldecl.providers.local.paths import model_content_path
from fldecl.providers.store import ResourceStore

PROJECT_ID = "local"


class LocalProvider:
    kinds = frozenset({"Model", "RemoteTrainingSystem", "Training"})

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.store = ResourceStore(state_dir / "local.db")

    @property
    def calls(self) -> int:
        return self.store.queries

    def read(self, kind: str, ctx: ProviderContext) -> list[Observed]:
        records = self.store.list(kind, ctx.owner_tag)
        if kind == "Training":
            return [trainings.observe(self.store, record, ctx) for record in records]
        return [record.observed() for record in records]

    def create(self, desired: Desired, ctx: ProviderContext) -> Observed:
        if desired.kind == "Model":
            return self._create_model(desired, ctx)
        if desired.kind == "Training":
            return trainings.create(self.store, desired, ctx)
        record = self.store.insert(desired.kind, desired.name, desired.tags, desired.attributes, entity=_entity(desired))
        return record.observed()

    def update(self, current: Observed, desired: Desired, changed: list[str], ctx: ProviderContext) -> Observed:
        if desired.kind == "Training":
            raise ProviderError("a training cannot change in place; it is replaced")
        record = self.store.update(current.id, name=desired.name, attributes=desired.attributes, entity=_entity(desired))
        return record.observed()

    def delete(self, current: Observed, ctx: ProviderContext) -> None:
        if current.kind == "Training":
            trainings.delete(self.store, current, ctx)
        elif current.kind == "Model":
            model_content_path(self.state_dir, current.id).unlink(missing_ok=True)
        self.store.delete(current.id)

    def adopt(self, resource_id: str, desired: Desired, ctx: ProviderContext) -> Observed:
        record = self.store.get(resource_id)
        if record is None or record.kind != desired.kind:
            raise NotFoundError(f"no {desired.kind} with id {resource_id} in the local backend")
        tags = record.tags + [t for t in desired.tags if t not in record.tags]
        return self.store.update(record.id, name=desired.name, tags=tags).observed()

    def _create_model(self, desired: Desired, ctx: ProviderContext) -> Observed:
        source = desired.attributes["source"]
        if "training" in source:
            content = trainings.trained_model(self.store, source["training"], ctx)
        else:
            from fldecl.models import build_zip

            content = build_zip(desired.attributes, ctx.stack_dir)
        entity = dict(_entity(desired), content_sha256=hashlib.sha256(content).hexdigest(), content_bytes=len(content))
        record = self.store.insert("Model", desired.name, desired.tags, desired.attributes, entity=entity)
        _write_private(model_content_path(self.state_dir, record.id), content)
        return record.observed()

def _entity(desired: Desired) -> dict[str, Any]:
    """The WML-shaped entity, for ``show`` and for parity with the wml backend."""
    attributes = desired.attributes
    entity: dict[str, Any] = {"project_id": PROJECT_ID, "name": desired.name, "tags": desired.tags}
    if desired.kind == "Model":
        entity.update(type=attributes["type"], software_spec=attributes["software_spec"])
    elif desired.kind == "RemoteTrainingSystem":
        entity.update({k: attributes[k] for k in ("organization", "allowed_identities", "remote_admin", "description") if k in attributes})
    return entity


def _write_private(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
        handle.write(content)
    os.replace(temporary, path)
