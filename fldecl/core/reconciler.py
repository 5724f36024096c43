"""The reconciler: one stack, its providers, and the observe -> plan -> apply loop.

Providers are handed in (one resource type per kind, and the backend that runs parties), so
this module knows no backend. Observing reads each kind once (retrying transient failures):
the number of backend calls grows with kinds and pages, never with resources.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path

from fldecl.core.apply import Applier, ApplyListener, ApplyResult, build_desired
from fldecl.core.contract import Observed, PartyRun, ProviderContext, Providers
from fldecl.core.errors import PlanError
from fldecl.core.graph import declared_graph
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
        """What the stack owns: each kind read once."""
        observed: list[Observed] = []
        for kind in kinds():
            resource_type = self.providers.resources.get(kind)
            if resource_type is not None:
                found = with_retries(functools.partial(resource_type.read, self.ctx), self.retry)
                observed.extend(o for o in found if self.ctx.owner_tag in o.tags)
        return observed

    def _discovered(self, observed: list[Observed]) -> list[Observed]:
        """Declared resources missing from ``observed`` that their resource type finds (in dependency order,
        so a certificate is looked for with its CA known). Only a plan to make the stack looks: what a
        destroy left behind on purpose (key files) is found again by the next apply, not by ``show``."""
        current = {o.address: o for o in observed}
        found = []
        for address in declared_graph(self.stack).order():
            decl = self.stack.declarations[address]
            resource_type = self.providers.resources.get(decl.kind)
            if address in current or resource_type is None or not decl.schema_valid:
                continue
            discovered = resource_type.discover(build_desired(self.stack, address, current), self.ctx)
            if discovered is not None:
                current[address] = discovered
                found.append(discovered)
        return found

    def plan(self, *, destroy: bool = False, targets: Iterable[str] = (), replace: Iterable[str] = ()) -> Plan:
        observed = self.observe()
        if not destroy:
            observed += self._discovered(observed)
        return make_plan(self.stack, observed, destroy=destroy, targets=targets, replace=replace)

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
                  key_file: Path | None = None) -> None:
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
        run = PartyRun(observed[rts_address], observed[training_address], related, aggregator, key_file)
        self.providers.backend.run_party(run, self.ctx)

    def locked(self, operation: str, timeout: float = 0.0) -> AbstractContextManager[None]:
        """The stack's lock for ``operation``, held by the backend so that two runners never both write."""
        return self.providers.backend.lock(operation, timeout, self.ctx)

    def force_unlock(self, lock_id: str) -> str:
        return self.providers.backend.force_unlock(lock_id, self.ctx)
