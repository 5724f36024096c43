"""The ``wml`` backend: models, remote training systems and trainings on IBM Watson Machine Learning.

Everything goes through IBM's own client (``pip install 'fldecl[wml]'``), imported only when a
stack uses this backend: :mod:`.ibm_client` installs fldecl's corrections to it (TLS verification
forced on, silence, HTTP statuses) and translates its errors at one boundary, :mod:`.connection`
signs in from the environment, :mod:`.mapping` translates between WML entities and fldecl
attributes, one module per kind implements its resource type (registered by
:class:`~.resources.WmlResources`), and :mod:`.party` runs a party with WML's runtime or hands it its kit.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path

from fldecl.core.contract import ProviderContext, ResourceType
from fldecl.kinds.training_run import PartyKit, PartyRun
from fldecl.providers.wml import models, remote_training_systems, trainings  # noqa: F401  (each registers its kind)
from fldecl.providers.wml.connection import Credentials, WmlSession
from fldecl.providers.wml.lease import WmlLease
from fldecl.providers.wml.resources import WmlResources
from fldecl.providers.wml.rest import RestReads
from fldecl.providers.wml.specs import Specifications


class WmlProvider:
    def __init__(self, session: WmlSession) -> None:
        self.session = session
        self.reads = RestReads(session.credentials)
        specs = Specifications(session)
        self.resources: dict[str, ResourceType] = {kind: member(session, specs, self.reads)
                                                   for kind, member in WmlResources.registry.items()}

    @classmethod
    def from_environment(cls) -> WmlProvider:
        """Credentials come from the ``WML_*`` variables only; WML keeps all state."""
        return cls(WmlSession(Credentials.from_environment(os.environ)))

    def lock(self, operation: str, timeout: float, ctx: ProviderContext) -> AbstractContextManager[None]:
        return WmlLease(self.session, self.reads, ctx.stack_name).held(operation, timeout, ctx)

    def force_unlock(self, lock_id: str, ctx: ProviderContext) -> str:
        return WmlLease(self.session, self.reads, ctx.stack_name).force_unlock(lock_id)

    def run_party(self, run: PartyRun, ctx: ProviderContext) -> None:
        from fldecl.providers.wml import party  # lazy: the party runtime's needs stay out of plans

        party.run_party(self.session, run, ctx)

    def party_kit(self, run: PartyRun, party_dir: Path, ctx: ProviderContext) -> PartyKit:
        from fldecl.providers.wml import party  # lazy: the party runtime's needs stay out of plans

        return party.party_kit(run, party_dir)
