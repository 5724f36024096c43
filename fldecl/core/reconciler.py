"""The reconciler: one stack, its providers, and the observe -> plan -> apply loop.

Providers are handed in (one resource type per kind, and the backend that holds the lock), so
this module knows no backend; what a resource type can do beyond read, create, update and delete
is asked with ``isinstance`` (:mod:`fldecl.core.contract`). It knows no kind either: which
resources join another (a training's parties) is the joined kind's :attr:`Kind.members` hook.
Observing reads each kind once (retrying transient failures): the number of backend calls grows
with kinds and pages, never with resources.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, cast

from fldecl.core.attributes import backend_name
from fldecl.core.contract import (
    Adoptable,
    AdoptRequest,
    ApplyOptions,
    Composite,
    Discoverable,
    DiscoverRequest,
    ForgetRequest,
    Forgettable,
    Found,
    Membership,
    NameCheckable,
    Observed,
    PartsRequest,
    PlannedChange,
    ProviderContext,
    Providers,
    ReadRequest,
    SameNameRequest,
    Searchable,
    Selection,
    Unowned,
    WithOutputs,
)
from fldecl.core.errors import PlanError
from fldecl.core.graph import declared_graph
from fldecl.core.plan import DELETE, Plan, build_desired, make_plan, private_key_files
from fldecl.core.retry import RetryPolicy, with_retries
from fldecl.core.schema import kinds
from fldecl.core.stack import Declaration, Stack

if TYPE_CHECKING:
    from fldecl.core.apply import ApplyListener, ApplyResult


class Reconciler:
    def __init__(self, stack: Stack, providers: Providers, ctx: ProviderContext) -> None:
        self.stack = stack
        self.providers = providers
        self.ctx = ctx
        self.retry = RetryPolicy()

    def observe(self) -> list[Observed]:
        """What the stack owns: every kind read once."""
        observed: list[Observed] = []
        for kind in kinds():
            resource_type = self.providers.resources.get(kind)
            if resource_type is not None:
                found = with_retries(functools.partial(resource_type.read, ReadRequest(self.ctx.owner_tag), self.ctx), self.retry)
                observed.extend(o for o in found if self.ctx.owner_tag in o.tags)
        return observed

    def _same_names(self, observed: list[Observed]) -> list[Unowned]:
        """What the backend holds untagged under the names of declared resources the stack does not have yet."""
        current = {o.address for o in observed}
        names: dict[str, set[str]] = {}
        for address, decl in self.stack.declarations.items():
            if address not in current and decl.schema_valid:
                names.setdefault(decl.kind, set()).add(backend_name(decl))
        unowned: list[Unowned] = []
        for kind, wanted in sorted(names.items()):
            resource_type = self.providers.resources.get(kind)
            if isinstance(resource_type, NameCheckable):
                request = SameNameRequest(tuple(sorted(wanted)))
                found = with_retries(functools.partial(resource_type.same_name, request, self.ctx), self.retry)
                unowned.extend(u for u in found if self.ctx.owner_tag not in u.tags)
        return unowned

    def _discovered(self, observed: list[Observed]) -> list[Observed]:
        """Declared resources missing from ``observed`` that their resource type finds (in dependency order,
        so a certificate is looked for with its CA known). Only a plan to make the stack looks: what a
        destroy left behind on purpose (key files) is found again by the next apply, not by ``show``."""
        current = {o.address: o for o in observed}
        found: list[Observed] = []
        if all(address in current for address in self.stack.declarations):
            return found
        graph = declared_graph(self.stack)
        for address in graph.order():
            decl = self.stack.declarations[address]
            resource_type = self.providers.resources.get(decl.kind)
            if address in current or not isinstance(resource_type, Discoverable) or not decl.schema_valid:
                continue
            discovered = resource_type.discover(DiscoverRequest(build_desired(self.stack, address, current, graph)), self.ctx)
            if discovered is not None:
                current[address] = discovered
                found.append(discovered)
        return found

    def plan(self, *, destroy: bool = False, targets: Iterable[str] = (), replace: Iterable[str] = ()) -> Plan:
        observed = self.observe()
        unowned: list[Unowned] = []
        discovered: list[Observed] = []
        if not destroy:
            discovered = self._discovered(observed)
            observed += discovered
            unowned = self._same_names(observed)
        plan = make_plan(self.stack, observed, destroy=destroy, targets=targets, replace=replace, unowned=unowned)
        found = {o.address: o.status or "found" for o in discovered if private_key_files(o.kind, o.attributes)}
        for change in plan.changes:
            change.adopted = found.get(change.address, "")
        self._note_parts(plan)
        return plan

    def _note_parts(self, plan: Plan) -> None:
        """Each change of a :class:`Composite` resource learns what it does to the resource's parts; a no-op costs nothing."""
        planned = {c.address: PlannedChange(c.action_label, c.after) for c in plan.changes if not c.is_noop and not c.duplicate}
        composite = [c for c in plan.changes
                     if c.address in planned and isinstance(self.providers.resources.get(c.kind), Composite)]
        if not composite:
            return
        graph = declared_graph(self.stack)
        current = {c.address: c.current for c in plan.changes if c.current is not None and not c.duplicate}
        for change in composite:
            declared = change.address in self.stack.declarations and change.only is not DELETE
            desired = build_desired(self.stack, change.address, current, graph) if declared else None
            needed = graph.closure([change.address]) - {change.address} if declared else set()
            request = PartsRequest(planned[change.address], change.current, desired,
                                   {address: planned[address] for address in sorted(needed) if address in planned})
            resource_type = cast(Composite, self.providers.resources[change.kind])
            change.parts = with_retries(functools.partial(resource_type.part_changes, request, self.ctx), self.retry)

    def outputs(self) -> dict[str, str]:
        """What ``fldecl output`` prints: each owned resource's id at its address and its outputs at ``ADDRESS.NAME``,
        then the backend's own at ``BACKEND.NAME``."""
        values: dict[str, str] = {}
        for obs in sorted(self.observe(), key=lambda o: (o.address, o.created_at or "")):
            values.setdefault(obs.address, obs.id)
            values.update((f"{obs.address}.{name}", value) for name, value in sorted(obs.outputs.items()))
        backend = self.providers.backend
        if isinstance(backend, WithOutputs):
            values.update((f"{self.stack.backend}.{name}", value) for name, value in sorted(backend.outputs(self.ctx).items()))
        return values

    def apply(self, plan: Plan, listener: ApplyListener, options: ApplyOptions | None = None) -> ApplyResult:
        from fldecl.core.apply import Applier  # lazy: threads and futures, which a plan does not need

        return Applier(self.stack, plan, self.providers.resources, self.ctx, listener, options or ApplyOptions(), self.retry).run()

    def adopt(self, address: str, resource_id: str) -> Observed:
        """``fldecl import``: tag an existing resource so this stack owns it from now on."""
        if address not in self.stack.declarations:
            raise PlanError(f"{address} is not declared: declare it in a manifest first, then import it")
        current = {o.address: o for o in self.observe()}
        if address in current:
            raise PlanError(f"{address} is already managed by this stack (id {current[address].id})")
        desired = build_desired(self.stack, address, current)
        resource_type = self.providers.resources.get(desired.kind)
        if not isinstance(resource_type, Adoptable):
            raise PlanError(f"the {self.stack.backend} backend cannot import a {desired.kind}")
        return resource_type.adopt(AdoptRequest(resource_id, desired), self.ctx)

    def forget(self, address: str) -> tuple[Observed, str]:
        """``fldecl state rm``: stop owning ``address`` without deleting it; returns it and what was done."""
        current = next((o for o in self.observe() if o.address == address), None)
        if current is None:
            raise PlanError(f"{address} is not in the stack's state: the {self.stack.backend} backend holds no {address} "
                            f"with the tag {self.ctx.owner_tag} (`fldecl state list` shows what the stack owns)")
        resource_type = self.providers.resources[current.kind]
        if not isinstance(resource_type, Forgettable):
            raise PlanError(f"the {self.stack.backend} backend cannot stop owning {address} without deleting it "
                            f"(it cannot change a {current.kind}'s tags); `fldecl destroy --target {address}` deletes it")
        return current, resource_type.forget(ForgetRequest(current), self.ctx)

    def search(self, selection: Selection) -> list[Found]:
        """What the backend holds with the selection's tags or ids, and what that refers to (a training's model
        and parties), read only. An id given that no kind has is an error."""
        from fldecl.core.generate import referenced_ids  # lazy: only `import --generate-into` searches

        found: dict[str, Found] = {}
        given, asked = set(selection.ids), set(selection.ids)
        while selection.tags or selection.ids:
            for kind in kinds():
                resource_type = self.providers.resources.get(kind)
                if isinstance(resource_type, Searchable):
                    for item in resource_type.search(selection, self.ctx):
                        found.setdefault(item.observed.id, item)
            referenced = referenced_ids(found.values()) - set(found) - asked
            asked |= referenced
            selection = Selection(ids=tuple(sorted(referenced)))
        unknown = sorted(given - set(found))
        if unknown:
            raise PlanError(f"the {self.stack.backend} backend holds no resource with the id {', '.join(unknown)}")
        return list(found.values())

    def owned(self, address: str) -> Observed:
        """The resource the stack owns at ``address``, or an error that says how to make it."""
        found = next((o for o in self.observe() if o.address == address), None)
        if found is None:
            self.stack.declared(address)
            raise PlanError(f"{address} does not exist in the {self.stack.backend} backend; run `fldecl apply` first")
        return found

    def joined_by(self, member: str) -> list[Declaration]:
        """The declarations that ``member`` (an address) joins, as their kinds' ``members`` hooks say (a party's trainings)."""
        joined = []
        for decl in self.stack.declarations.values():
            members = self.stack.kind(decl.kind).members
            if members is not None and decl.schema_valid and member in members(decl.spec):
                joined.append(decl)
        return joined

    def membership(self, member: str, group: str) -> Membership:
        """The resource ``member`` and the one it joins, ``group``, as the backend holds them, with all the stack owns by id."""
        self.stack.declared(member)
        observed = {o.address: o for o in self.observe()}
        for address in (group, member):
            if address not in observed:
                raise PlanError(f"{address} does not exist in the {self.stack.backend} backend; run `fldecl apply` first")
        return Membership(observed[member], observed[group], {o.id: o for o in observed.values()})

    def locked(self, operation: str, timeout: float = 0.0) -> AbstractContextManager[None]:
        """The stack's lock for ``operation``, held by the backend so that two runners never both write."""
        return self.providers.backend.lock(operation, timeout, self.ctx)

    def force_unlock(self, lock_id: str) -> str:
        return self.providers.backend.force_unlock(lock_id, self.ctx)
