"""The embedded ``local`` backend: models, remote training systems and trainings on disk.

Records live in ``.fldecl/local.db`` (see :mod:`fldecl.providers.store`), shaped like WML's so
the same plans come out of both backends; model content lives beside it in ``.fldecl/models/``.
A training really runs: :mod:`fldecl.providers.local.trainings` starts the federated runtime.
One resource type per kind; :mod:`fldecl.providers.local.parties` runs a party by hand.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from fldecl.core.contract import PartyKit, PartyRun, ProviderContext, ResourceType
from fldecl.core.errors import ProviderError
from fldecl.providers.local import lock
from fldecl.providers.local.models import Models
from fldecl.providers.local.remote_training_systems import RemoteTrainingSystems
from fldecl.providers.local.trainings import Trainings
from fldecl.providers.store import ResourceStore


class LocalProvider:
    def __init__(self, state_dir: Path) -> None:
        self.store = ResourceStore(state_dir / "local.db")
        self.resources: dict[str, ResourceType] = {
            "Model": Models(self.store, state_dir),
            "RemoteTrainingSystem": RemoteTrainingSystems(self.store),
            "Training": Trainings(self.store),
        }

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

    def party_kit(self, run: PartyRun, party_dir: Path, ctx: ProviderContext) -> PartyKit:
        """The local backend's parties run fldecl's own runtime, which reads the stack: there is no kit to hand over."""
        raise ProviderError(f"`fldecl party config` gives WML's party runtime its settings; on the local backend {run.rts.name} "
                            f"joins with: fldecl party run {run.rts.name} --training {run.training.name} [--aggregator HOST:PORT]")
