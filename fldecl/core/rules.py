"""The semantic rules every kind shares: references, cycles, paths, computed and written fields.

Each kind's own rules (and those of the backend it runs on) come from its :class:`Kind`. Every
rule adds diagnostics with the declaration's file, line and field; none stops the others.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from fldecl.core import schema
from fldecl.core.diagnostics import Diagnostics
from fldecl.core.graph import declared_graph, references
from fldecl.core.stack import Declaration, Rule, Stack
from fldecl.core.yaml_source import format_path


def check(stack: Stack, diagnostics: Diagnostics) -> None:
    for decl in stack.declarations.values():
        for rule in _rules_for(decl, stack):
            # A document that broke its schema (already reported) may leave a rule unable to judge it.
            with contextlib.suppress(KeyError, TypeError, AttributeError):
                rule(decl, stack, diagnostics)
    _references(stack, diagnostics)
    _cycles(stack, diagnostics)
    _files_written_once(stack, diagnostics)


def _rules_for(decl: Declaration, stack: Stack) -> tuple[Rule, ...]:
    kind = stack.kind(decl.kind)
    return (_paths_inside_stack, _no_computed_fields, *kind.rules, *kind.backend_rules.get(stack.backend, ()))


def _references(stack: Stack, diagnostics: Diagnostics) -> None:
    for decl in stack.declarations.values():
        for ref in references(decl.kind, decl.name, decl.spec):
            if ref.target not in stack.declarations:
                kind, _ = ref.target.split("/", 1)
                same_kind = sorted(d.name for d in stack.declarations.values() if d.kind == kind)
                detail = f"declared {kind} names: {', '.join(same_kind)}" if same_kind else f"no {kind} is declared"
                diagnostics.error(f"reference to {ref.target}, which is not declared", decl.locate(ref.path),
                                  format_path(("spec",) + ref.path), detail)


def _cycles(stack: Stack, diagnostics: Diagnostics) -> None:
    cycle = declared_graph(stack).cycle()
    if cycle:
        first = stack.declarations[cycle[0]]
        diagnostics.error("dependency cycle: " + " -> ".join(cycle), first.locate(), "spec")


def _paths_inside_stack(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    inputs = {field.path for field in schema.annotated_fields(decl.kind, "x-fldecl-input")}
    for field in schema.annotated_fields(decl.kind, "x-fldecl-path"):
        for path, value in schema.values_at(decl.spec, field.path):
            if not isinstance(value, str):
                continue
            resolved = stack.inside(value)
            if resolved is None:
                diagnostics.error(f"path {value!r} leaves the stack directory", decl.locate(path), format_path(("spec",) + path),
                                  "paths are relative to the stack directory and must stay inside it")
            elif field.path in inputs and not resolved.is_file():
                diagnostics.error(f"file {value!r} does not exist", decl.locate(path), format_path(("spec",) + path))


def _no_computed_fields(decl: Declaration, stack: Stack, diagnostics: Diagnostics) -> None:
    for field in schema.annotated_fields(decl.kind, "readOnly"):
        for path, _ in schema.values_at(decl.spec, field.path):
            diagnostics.error(f"{format_path(path)} is computed by fldecl and cannot be set", decl.locate(path),
                              format_path(("spec",) + path), "remove it from the manifest")


def _files_written_once(stack: Stack, diagnostics: Diagnostics) -> None:
    writers: dict[Path, str] = {}
    for decl in stack.declarations.values():
        for field in schema.annotated_fields(decl.kind, "x-fldecl-output"):
            for path, value in schema.values_at(decl.spec, field.path):
                if not isinstance(value, str):
                    continue
                target = (stack.directory / value).resolve()
                if target in writers:
                    diagnostics.error(f"{value!r} is also written by {writers[target]}", decl.locate(path), format_path(("spec",) + path))
                writers[target] = decl.address
