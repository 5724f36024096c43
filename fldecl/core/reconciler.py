"""The reconciler: one stack, its providers, and the observe -> plan -> apply loop.

Providers are handed in (one resource type per kind, and the backend that runs parties), so
this module knows no backend. Observing reads each kind once (retrying transient failures):
the number of backend calls grows with kinds and pages, never with resources.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

from fldecl.core.apply import Applier, ApplyListener, ApplyResult, build_desired
from fldecl.core.contract import Observed, PartyRun, ProviderContext, Providers
from fldecl.core.errors import PlanError
from fldecl.core.plan import Plan, make_plan
from fldecl.core.retry import RetryPolicy, with_retries
from fldecl.core.schema import kinds
from fldecl.core.stack import Stack


class Reconciler:
    def __init__(self, stack: Stack, providers: Providers, ctx: ProviderContext) -> None:
        self.stack = stack
        self.providers = providers
        self.ctx = ctx
        self.retry = RetryPolicy()

    def observe(self) -> list[Observed]:
        observed: list[Observed] = []
        for kind in kinds():
            resource_type = self.providers.resources.get(kind)
            if resource_type is not None:
                found = with_retries(functools.partial(resource_type.read, self.ctx), self.retry)
                observed.extend(o for o in found if self.ctx.owner_tag in o.tags)
        return observed

    def plan(self, *, destroy: bool = False, targets: Iterable[str] = (), replace: Iterable[str] = ()) -> Plan:
        return make_plan(self.stack, self.observe(), destroy=destroy, targets=targets, replace=replace)

    def apply(self, plan: Plan, listener: ApplyListener, parallelism: int = 10) -> ApplyResult:
        return Applier(self.stack, plan, self.providers.resources, self.ctx, listener, parallelism, self.retry).run()

    def adopt(self, address: str, resource_id: str) -> Observed:
        """``fldecl import``: tag an existing resource so this stack owns it from now on."""
        if address not in self.stack.declarations:
            raise PlanError(f"{address} is not declared: declare it in a manifest first, then import it")
        current = {o.address: o for o in self.observe()}
        if address in current:
            raise PlanError(f"{address} is already managed by this stack (id {current[address].id})")
        desired = build_desired(self.stack, address, current)
        return self.providers.resources[desired.kind].adopt(resource_id, desired, self.ctx)

    def run_party(self, rts_name: str, training_name: str, *, aggregator: str | None = None,
                  key_file: Path | None = None, trust_aggregator: bool = False) -> None:
        """``fldecl party run``: the backend runs the party ``rts_name`` of ``training_name`` here."""
        rts_address, training_address = f"RemoteTrainingSystem/{rts_name}", f"Training/{training_name}"
        training_decl = self.stack.declared(training_address)
        self.stack.declared(rts_address)
        if rts_name not in [item["name"] for item in training_decl.spec["remote_training"]["remote_training_systems"]]:
            raise PlanError(f"{rts_name} is not a party of {training_address}")
        observed = {o.address: o for o in self.observe()}
        for address in (training_address, rts_address):
            if address not in observed:
                raise PlanError(f"{address} does not exist in the {self.stack.backend} backend; run `fldecl apply` first")
        related = {o.id: o for o in observed.values()}
        run = PartyRun(observed[rts_address], observed[training_address], related, aggregator, key_file, trust_aggregator)
        self.providers.parties.run_party(run, self.ctx)
