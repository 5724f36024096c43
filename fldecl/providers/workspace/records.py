"""What the workspace's resource types share: their records, keyed by the fingerprint of what they made."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from fldecl.core.contract import DeleteRequest, Desired, ForgetRequest, Observed, ProviderContext, ReadRequest, UpdateRequest
from fldecl.providers.family import ResourceFamily
from fldecl.providers.store import Record, ResourceStore


class WorkspaceRecords(ResourceFamily, ABC):
    """Records of files made in the stack, re-inspected on every read; updates only record the fields that do not
    force replacement. Members take ``(store)`` and observe with ``observe(record, ctx)``.

    Files are the stack's by their declared paths: there is no one else's of the same name to import, so no
    member checks names.
    """

    registry: ClassVar[dict[str, type[Any]]] = {}

    def __init__(self, store: ResourceStore) -> None:
        self.store = store

    def read(self, request: ReadRequest, ctx: ProviderContext) -> list[Observed]:
        return [self.observe(record, ctx) for record in self.store.list(self.kind, request.tag)]

    @abstractmethod
    def observe(self, record: Record, ctx: ProviderContext) -> Observed:
        """The record as its files are now."""

    def update(self, request: UpdateRequest, ctx: ProviderContext) -> Observed:
        # Only fields that do not force replacement get here (e.g. renew_before_days): record them.
        return self.store.update(request.current.id, attributes=request.desired.attributes).observed()

    def record(self, desired: Desired, made_id: str, entity: dict[str, Any]) -> Record:
        """Record what ``desired`` made; the same files recorded before (an interrupted run) are taken over."""
        if self.store.get(made_id):
            return self.store.update(made_id, name=desired.name, tags=desired.tags, attributes=desired.attributes, entity=entity)
        return self.store.insert(desired.kind, desired.name, desired.tags, desired.attributes, entity=entity, record_id=made_id)

    def forget(self, request: ForgetRequest, ctx: ProviderContext) -> str:
        """``fldecl state rm``: fldecl's record goes; the files stay where they are."""
        self.store.delete(request.current.id)
        return "dropped fldecl's record of it; its files stay where they are"

    def drop_record(self, request: DeleteRequest, ctx: ProviderContext, files: list[str]) -> None:
        """Drop the record; with the destroy's ``delete_key_files`` also ``files`` (paths in the stack), saying which
        were removed."""
        if request.delete_key_files:
            removed = [name for name in files if _unlink(ctx.stack_dir / name)]
            if removed:
                ctx.reporter.progress(request.current.address, "removed " + ", ".join(removed))
        self.store.delete(request.current.id)


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
