"""The resource graph: edges come from the schema's ``x-fldecl-ref`` fields.

Used for validation (dangling references, cycles), for planning (a replaced resource changes
the ids its dependants hold), for apply order and for ``fldecl graph`` (Graphviz DOT).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import Any

from fldecl.core import schema
from fldecl.core.stack import Stack
from fldecl.core.yaml_source import FieldPath


@dataclass(frozen=True)
class Reference:
    """``source`` refers to ``target`` through the field ``path`` of its spec."""

    source: str
    target: str
    path: FieldPath


def references(kind: str, name: str, spec: Mapping[str, Any]) -> list[Reference]:
    """Every reference a spec makes, as addresses."""
    found = []
    for field in schema.annotated_fields(kind, "x-fldecl-ref"):
        for path, value in schema.values_at(spec, field.path):
            if isinstance(value, str):
                found.append(Reference(f"{kind}/{name}", f"{field.value}/{value}", path))
    return found


def declared_graph(stack: Stack) -> Graph:
    """The declarations and the references between them."""
    return Graph({
        address: {ref.target for ref in references(d.kind, d.name, d.spec) if ref.target in stack.declarations}
        for address, d in stack.declarations.items()
    })


class Graph:
    """Addresses and their dependencies (``depends[a]`` = what ``a`` refers to)."""

    def __init__(self, depends: Mapping[str, Iterable[str]]) -> None:
        self.depends: dict[str, set[str]] = {node: set(targets) for node, targets in depends.items()}

    def dependants(self, address: str) -> set[str]:
        return {node for node, targets in self.depends.items() if address in targets}

    def closure(self, addresses: Iterable[str]) -> set[str]:
        """The addresses and everything they depend on, transitively."""
        return self._reach(addresses, lambda node: self.depends.get(node, ()))

    def dependants_closure(self, addresses: Iterable[str]) -> set[str]:
        """The addresses and everything that depends on them, transitively (what a targeted destroy takes)."""
        return self._reach(addresses, self.dependants)

    @staticmethod
    def _reach(addresses: Iterable[str], step: Callable[[str], Iterable[str]]) -> set[str]:
        todo, seen = list(addresses), set()
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(step(node))
        return seen

    def order(self) -> list[str]:
        """Dependencies first. Raises ``CycleError`` naming the cycle."""
        return list(TopologicalSorter(self.depends).static_order())

    def cycle(self) -> list[str] | None:
        try:
            self.order()
        except CycleError as exc:
            return list(exc.args[1])
        return None

    def to_dot(self, labels: Mapping[str, str] | None = None) -> str:
        lines = ["digraph fldecl {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
        for node in sorted(self.depends):
            label = (labels or {}).get(node, node)
            lines.append(f'  "{node}" [label="{label}"];')
        for node in sorted(self.depends):
            for target in sorted(self.depends[node]):
                lines.append(f'  "{node}" -> "{target}";')
        lines.append("}")
        return "\n".join(lines) + "\n"
