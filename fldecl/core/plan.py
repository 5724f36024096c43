"""Planning: observed facts versus declared attributes, as Terraform's plan does it.

For each declared resource, references are resolved to the ids of what they point to. A target
that will be created or replaced has no id yet (``UNKNOWN``), so a change in it propagates: a
replaced model forces the replacement of the training that refers to it, with that reason.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fldecl.core import schema
from fldecl.core.attributes import backend_name, desired_attributes
from fldecl.core.contract import Desired, Observed, PartChange, Unowned
from fldecl.core.errors import PlanError
from fldecl.core.graph import Graph, declared_graph, references
from fldecl.core.plain import ValueEnum, plain_copy
from fldecl.core.stack import Declaration, Stack
from fldecl.core.yaml_source import FieldPath, format_path

PLAN_FORMAT_VERSION = "1.0"
UNKNOWN = "(known after apply)"


class Action(ValueEnum):
    """What a plan does to one resource; a replace is ``[DELETE, CREATE]``. Equal to its value, as plan documents write it."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "no-op"


CREATE, UPDATE, DELETE, NOOP = Action.CREATE, Action.UPDATE, Action.DELETE, Action.NOOP
REPLACE = [DELETE, CREATE]


@dataclass
class FieldChange:
    path: FieldPath
    before: Any
    after: Any
    forces_replacement: bool = False

    @property
    def name(self) -> str:
        return format_path(self.path)


@dataclass
class ResourceChange:
    kind: str
    name: str
    actions: list[Action]
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    fields: list[FieldChange] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    current: Observed | None = None
    #: A second owned resource with the same address; only ever deleted.
    duplicate: bool = False
    #: For a create: resources of the backend with the same name that the stack does not own (import one instead).
    same_name: list[Unowned] = field(default_factory=list)
    #: What the plan takes over as it finds it (files kept by a destroy, or made before the first apply), and where.
    adopted: str = ""
    #: What the change does to the resource's parts that its attributes do not show (see :class:`~fldecl.core.contract.Composite`).
    parts: list[PartChange] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def key(self) -> str:
        """Unique within a plan: the address, or for a duplicate the address and its id."""
        return f"{self.address}#{self.current.id}" if self.duplicate and self.current else self.address

    @property
    def is_replace(self) -> bool:
        return self.actions == REPLACE

    @property
    def is_noop(self) -> bool:
        return self.actions == [NOOP]

    @property
    def only(self) -> Action | None:
        """The one action of a change that is not a replace."""
        return self.actions[0] if len(self.actions) == 1 else None

    @property
    def action_label(self) -> str:
        if self.adopted and self.actions == [NOOP]:
            return "adopt"
        return "replace" if self.is_replace else self.actions[0]


@dataclass
class Plan:
    stack_name: str
    backend: str
    changes: list[ResourceChange]
    destroy: bool = False
    targets: list[str] = field(default_factory=list)
    replace: list[str] = field(default_factory=list)
    #: Names of the variables whose references show as ``(sensitive value)``.
    sensitive_variables: list[str] = field(default_factory=list)
    #: What a reviewer must see before approving, beyond the changes (private keys this plan would make).
    warnings: list[str] = field(default_factory=list)
    #: What the plan was made from, digested only for a saved plan (which must notice when either changes).
    stack_tags: list[str] = field(default_factory=list, repr=False)
    desired: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    observed: list[Observed] = field(default_factory=list, repr=False)

    @functools.cached_property
    def manifests_digest(self) -> str:
        return _digest({"stack": [self.stack_name, self.backend, self.stack_tags], "resources": self.desired})

    @functools.cached_property
    def state_digest(self) -> str:
        return _digest(sorted(([o.address, o.id, o.attributes, sorted(o.tags), o.status, o.replace_reason, o.update_reason]
                               for o in self.observed), key=lambda x: (x[0], x[1])))

    @functools.cached_property
    def resource_digests(self) -> dict[str, str]:
        """Each planned declaration's digest, so a stale saved plan can name what changed."""
        return {address: _digest(attributes) for address, attributes in sorted(self.desired.items())}

    def count(self, label: str) -> int:
        return sum(1 for change in self.changes if change.action_label == label)

    @property
    def has_changes(self) -> bool:
        return any(change.action_label != NOOP for change in self.changes)

    @property
    def summary(self) -> str:
        adopt = f", {self.count('adopt')} to adopt" if self.count("adopt") else ""
        return (f"{self.count(CREATE)} to create, {self.count(UPDATE)} to update, "
                f"{self.count('replace')} to replace, {self.count(DELETE)} to delete{adopt}")


def make_plan(
    stack: Stack,
    observed: Iterable[Observed],
    *,
    destroy: bool = False,
    targets: Iterable[str] = (),
    replace: Iterable[str] = (),
    unowned: Iterable[Unowned] = (),
) -> Plan:
    """What apply would do, from what the stack owns (``observed``) and the names of what it does not (``unowned``)."""
    observed = list(observed)
    targets, replace = list(targets), list(replace)
    _check_addresses(stack, targets + replace)
    current, duplicates = _match(observed)
    graph = declared_graph(stack)
    if not targets:
        in_scope = set(stack.declarations)
    elif destroy:  # Terraform's `destroy -target`: the target and what depends on it
        in_scope = graph.dependants_closure(targets)
    else:  # the target and what it needs
        in_scope = graph.closure(targets)
    desired = {address: desired_attributes(stack.declarations[address], stack) for address in in_scope}
    changes: dict[str, ResourceChange] = {}
    stable_ids: dict[str, str | None] = {}  # ids that survive this plan (no-op or update)
    if not destroy:
        for address in graph.order():
            if address in in_scope:
                change = _change_for(stack, stack.declarations[address], desired[address], current.get(address), changes, stable_ids,
                                     replace)
                changes[address] = change
                stable_ids[address] = change.current.id if change.current and change.only in (NOOP, UPDATE) else None
    for address, obs in current.items():
        undeclared = address not in stack.declarations
        if (destroy and (not targets or address in in_scope)) or (undeclared and (not targets or address in targets)):
            reason = "destroy was requested" if destroy else "no longer declared in the manifests"
            changes[address] = ResourceChange(obs.kind, obs.name, [DELETE], before=obs.attributes, reasons=[reason], current=obs)
    delete_changes = [ResourceChange(obs.kind, obs.name, [DELETE], before=obs.attributes,
                                     reasons=[f"duplicate of {current[obs.address].id} (left by an interrupted run)"], current=obs,
                                     duplicate=True)
                      for obs in duplicates]
    _note_same_names(stack, changes.values(), unowned)
    ordered = _order_for_display(list(changes.values()), observed) + delete_changes
    _enforce_prevent_destroy(stack, ordered)
    return Plan(stack.name, stack.backend, ordered, destroy, targets, replace, sorted(stack.sensitive_variables),
                _key_warnings(ordered), list(stack.tags), desired, list(observed))


def private_key_files(kind: str, attributes: Mapping[str, Any]) -> list[str]:
    """The private key files (``x-fldecl-private-key``) that a resource with these attributes has."""
    return [path for path, _ in _private_keys(kind, attributes)]


def _private_keys(kind: str, attributes: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Each private key file with the schema's advice on keeping it with its owner."""
    return [(value, str(annotated.value)) for annotated in schema.annotated_fields(kind, "x-fldecl-private-key")
            for _, value in schema.values_at(attributes, annotated.path) if isinstance(value, str) and value]


def _key_warnings(changes: list[ResourceChange]) -> list[str]:
    """A plan that makes private keys says where: in CI they would be made on a throw-away runner."""
    made = [(f"{path} ({change.address})", advice) for change in changes if CREATE in change.actions
            for path, advice in _private_keys(change.kind, change.after or {})]
    if not made:
        return []
    advice = "; ".join(dict.fromkeys(advice for _, advice in made))
    return [f"applying this plan makes {len(made)} private key(s) on the machine that runs it: {', '.join(key for key, _ in made)}. "
            f"Where it runs in CI, keep keys with their owners instead: {advice}."]


def _note_same_names(stack: Stack, changes: Iterable[ResourceChange], unowned: Iterable[Unowned]) -> None:
    """Each create learns what already has its name in the backend without this stack's tag."""
    by_name: dict[tuple[str, str], list[Unowned]] = {}
    for found in unowned:
        by_name.setdefault((found.kind, found.name), []).append(found)
    for change in changes:
        if change.only is CREATE:
            change.same_name = by_name.get((change.kind, backend_name(stack.declarations[change.address])), [])


def _check_addresses(stack: Stack, addresses: list[str]) -> None:
    for address in addresses:
        if "/" not in address:
            example = next(iter(sorted(stack.declarations)), "")
            raise PlanError(f"{address!r} is not an address: write KIND/NAME" + (f", e.g. {example}" if example else ""))
        if address not in stack.declarations:
            raise PlanError(f"{address} is not declared in the manifests")


def _match(observed: list[Observed]) -> tuple[dict[str, Observed], list[Observed]]:
    """Pair observed resources with addresses; later copies of one address are duplicates."""
    current: dict[str, Observed] = {}
    duplicates: list[Observed] = []
    for obs in sorted(observed, key=lambda o: (o.created_at or "", o.id)):
        if obs.address in current:
            duplicates.append(obs)
        else:
            current[obs.address] = obs
    return current, duplicates


def resolve_references(kind: str, name: str, attributes: dict[str, Any], ids: Mapping[str, str | None]) -> dict[str, Any]:
    """A copy of ``attributes`` with each reference replaced by its target's id (or UNKNOWN)."""
    resolved: dict[str, Any] = plain_copy(attributes)
    for ref in references(kind, name, attributes):
        parent: Any = resolved
        for key in ref.path[:-1]:
            parent = parent[key]
        parent[ref.path[-1]] = ids.get(ref.target) or UNKNOWN
    return resolved


def build_desired(stack: Stack, address: str, current: Mapping[str, Observed], graph: Graph | None = None) -> Desired:
    """What a provider receives for ``address``: references resolved to the ids known in ``current``."""
    decl = stack.declarations[address]
    ids = {a: o.id for a, o in current.items()}
    attributes: dict[str, Any] = resolve_references(decl.kind, decl.name, desired_attributes(decl, stack), ids)
    needed = (graph or declared_graph(stack)).closure([address]) - {address}
    return Desired(decl.kind, decl.name, attributes, stack.all_tags, {a: current[a] for a in needed if a in current})


def _change_for(stack: Stack, decl: Declaration, attributes: dict[str, Any], obs: Observed | None,
                planned: Mapping[str, ResourceChange], ids: Mapping[str, str | None], forced: list[str]) -> ResourceChange:
    after = resolve_references(decl.kind, decl.name, attributes, ids)
    if obs is None:
        return ResourceChange(decl.kind, decl.name, [CREATE], after=after, reasons=["not found in the backend"])
    fields = diff_attributes(decl.kind, obs.attributes, after, immutable=stack.kind(decl.kind).immutable)
    reasons = _replacement_reasons(decl, fields, planned)
    if obs.replace_reason:
        reasons.append(obs.replace_reason)
    if decl.address in forced:
        reasons.append("replacement requested with --replace")
    if reasons:
        actions = REPLACE
    elif fields:
        actions, reasons = [UPDATE], ["attributes differ from the manifest"]
    elif obs.update_reason:
        actions, reasons = [UPDATE], [obs.update_reason]
    else:
        actions = [NOOP]
    return ResourceChange(decl.kind, decl.name, actions, before=obs.attributes, after=after, fields=fields, reasons=reasons, current=obs)


def _replacement_reasons(decl: Declaration, fields: list[FieldChange], planned: Mapping[str, ResourceChange]) -> list[str]:
    reasons = []
    targets_by_path = {ref.path: ref.target for ref in references(decl.kind, decl.name, decl.spec)}
    for change in fields:
        if not change.forces_replacement:
            continue
        target = targets_by_path.get(change.path)
        if target and change.after == UNKNOWN and target in planned:
            reasons.append(f"{target} will be {'replaced' if planned[target].is_replace else 'created'}")
        else:
            reasons.append(f"{change.name} forces replacement")
    return list(dict.fromkeys(reasons))


def diff_attributes(kind: str, before: Mapping[str, Any], after: Mapping[str, Any], *, immutable: bool = False) -> list[FieldChange]:
    """Changed leaves between two attribute sets (DeepDiff), each marked if it forces replacement
    (every one does for an ``immutable`` kind)."""
    if before == after:  # the common case, and DeepDiff's import alone costs more than a large plan
        return []
    from deepdiff import DeepDiff  # lazy: its import alone costs more than a large no-op plan

    tree = DeepDiff(dict(before), dict(after), view="tree", ignore_numeric_type_changes=True)
    changes = []
    for report in tree.values():
        for item in report:
            path = tuple(item.path(output_format="list"))
            t1, t2 = item.t1, item.t2
            before_value = None if type(t1).__name__ == "NotPresent" else t1
            after_value = None if type(t2).__name__ == "NotPresent" else t2
            changes.append(FieldChange(path, before_value, after_value, immutable or schema.forces_replacement(kind, path)))
    return sorted(changes, key=lambda c: [str(p) for p in c.path])


def _order_for_display(changes: list[ResourceChange], observed: list[Observed]) -> list[ResourceChange]:
    """Creates and updates in dependency order, then deletes dependants first."""
    keep = [c for c in changes if c.only is not DELETE]
    deletes = [c for c in changes if c.only is DELETE]
    order = observed_graph(observed).order()
    rank = {address: i for i, address in enumerate(order)}
    deletes.sort(key=lambda c: -rank.get(c.address, -1))
    return keep + deletes


def observed_graph(observed: Iterable[Observed]) -> Graph:
    """Dependencies among observed resources, from the ids their reference fields hold."""
    observed = list(observed)
    by_id = {obs.id: obs.address for obs in observed}
    depends: dict[str, set[str]] = {}
    for obs in observed:
        depends.setdefault(obs.address, set())
        for field_ in schema.annotated_fields(obs.kind, "x-fldecl-ref"):
            for _, value in schema.values_at(obs.attributes, field_.path):
                if isinstance(value, str) and value in by_id and by_id[value] != obs.address:
                    depends[obs.address].add(by_id[value])
    return Graph(depends)


def _enforce_prevent_destroy(stack: Stack, changes: list[ResourceChange]) -> None:
    blocked = [c for c in changes
               if DELETE in c.actions and c.address in stack.declarations and stack.declarations[c.address].prevent_destroy]
    if blocked:
        names = ", ".join(f"{c.address} ({c.action_label})" for c in blocked)
        raise PlanError(f"lifecycle.prevent_destroy forbids this plan: {names}. "
                        "Remove prevent_destroy from the manifest first if this is really meant.")


def _digest(value: Any) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()

