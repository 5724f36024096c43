"""The reconciler: one stack, its providers, and the observe -> plan -> apply loop.

Providers are handed in (kind -> provider), so this module knows no backend. Observing reads
each kind once through its provider (retrying transient failures): the number of backend calls
grows with kinds and pages, never with resources.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fldecl.core.apply import Applier, ApplyListener, ApplyResult, build_desired
from fldecl.core.manifest import Stack
from fldecl.core.plan import Plan, PlanError, make_plan
from fldecl.core.schema import kinds
from fldecl.providers.base import Observed, Provider, ProviderContext
from fldecl.providers.retry import RetryPolicy, with_retries


class Reconciler:
    def __init__(self, stack: Stack, providers: Mapping[str, Provider], ctx: ProviderContext) -> None:
        self.stack = stack
        self.providers = providers
        self.ctx = ctx
        self.retry = RetryPolicy()

    def observe(self) -> list[Observed]:
        observed: list[Observed] = []
        for kind in kinds():
            provider = self.providers.get(kind)
            if provider is not None:
                found = with_retries(lambda: provider.read(kind, self.ctx), self.retry)
                observed.extend(o for o in found if self.ctx.owner_tag in o.tags)
        return observed

    def plan(self, *, destroy: bool = False, targets: Iterable[str] = (), replace: Iterable[str] = ()) -> Plan:
        return make_plan(self.stack, self.observe(), destroy=destroy, targets=targets, replace=replace)

    def apply(self, plan: Plan, listener: ApplyListener, parallelism: int = 10) -> ApplyResult:
        return Applier(self.stack, plan, self.providers, self.ctx, listener, parallelism, self.retry).run()

    def adopt(self, address: str, resource_id: str) -> Observed:
        """``fldecl import``: tag an existing resource so this stack owns it from now on."""
        if address not in self.stack.declarations:
            raise PlanError(f"{address} is not declared: declare it in a manifest first, then import it")
        current = {o.address: o for o in self.observe()}
        if address in current:
            raise PlanError(f"{address} is already managed by this stack (id {current[address].id})")
        desired = build_desired(self.stack, address, current)
        return self.providers[desired.kind].adopt(resource_id, desired, self.ctx)
