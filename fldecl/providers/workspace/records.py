"""What the workspace's resource types share: their records, keyed by the fingerprint of what they made."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fldecl.core.contract import Desired, Observed, ProviderContext, Unowned
from fldecl.providers.store import Record, ResourceStore


class WorkspaceRecords:
    """Records of files made in the stack; updates only record the fields that do not force replacement."""

    kind: str

    def __init__(self, store: ResourceStore) -> None:
        self.store = store

    def records(self, ctx: ProviderContext) -> list[Record]:
        return self.store.list(self.kind, ctx.owner_tag)

    def same_name(self, names: Collection[str], ctx: ProviderContext) -> list[Unowned]:
        return []  # files are the stack's by their declared paths: there is no one else's to import

    def discover(self, desired: Desired, ctx: ProviderContext) -> Observed | None:
        return None  # data files are made again deterministically: nothing is lost by not finding them

    def update(self, current: Observed, desired: Desired, changed: list[str], ctx: ProviderContext) -> Observed:
        # Only fields that do not force replacement get here (e.g. renew_before_days): record them.
        return self.store.update(current.id, attributes=desired.attributes).observed()

    def record(self, desired: Desired, made_id: str, entity: dict[str, Any]) -> Record:
        """Record what ``desired`` made; the same files recorded before (an interrupted run) are taken over."""
        if self.store.get(made_id):
            return self.store.update(made_id, name=desired.name, tags=desired.tags, attributes=desired.attributes, entity=entity)
        return self.store.insert(desired.kind, desired.name, desired.tags, desired.attributes, entity=entity, record_id=made_id)

    def forget(self, current: Observed, ctx: ProviderContext) -> str:
        self.store.delete(current.id)
        return "dropped fldecl's record of it; its files stay where they are"
