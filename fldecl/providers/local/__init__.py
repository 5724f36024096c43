"""The embedded ``local`` backend: models, remote training systems and trainings on disk.

Records live in ``.fldecl/local.db`` (see :mod:`fldecl.providers.store`), shaped like WML's so
the same plans come out of both backends; model content lives beside it in ``.fldecl/models/``.
A training really runs: :mod:`fldecl.providers.local.trainings` starts the federated runtime.
One resource type per kind, registered by :class:`~fldecl.providers.local.records.LocalRecords`;
:mod:`fldecl.providers.local.parties` runs a party by hand. Its parties run fldecl's own
runtime, which reads the stack, so there is no party kit to hand over.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from fldecl.core.contract import ProviderContext, ResourceType
from fldecl.kinds.training_run import PartyRun
from fldecl.providers.local import lock, models, remote_training_systems, trainings  # noqa: F401  (each registers its kind)
from fldecl.providers.local.records import LocalRecords
from fldecl.providers.store import ResourceStore


class LocalProvider:
    def __init__(self, state_dir: Path) -> None:
        self.store = ResourceStore(state_dir / "local.db")
        self.resources: dict[str, ResourceType] = {kind: member(self.store, state_dir) for kind, member in LocalRecords.registry.items()}

    @property
    def calls(self) -> int:
        return self.store.queries

    def lock(self, operation: str, timeout: float, ctx: ProviderContext) -> AbstractContextManager[None]:
        return lock.stack_lock(ctx.state_dir, operation, timeout)

    def force_unlock(self, lock_id: str, ctx: ProviderContext) -> str:
        return lock.force_unlock(ctx.state_dir, lock_id)

    def run_party(self, run: PartyRun, ctx: ProviderContext) -> None:
        from fldecl.providers.local import parties  # lazy: the runtime's libraries stay out of plans

        parties.run_party(run, ctx)
