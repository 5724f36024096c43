"""The semantic rules every kind shares: references, cycles, paths, computed and written fields.

Each kind's own rules (and those of the backend it runs on) come from its :class:`Kind`. Every
rule adds diagnostics with the declaration's file, line and field; none stops the others.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from fldecl.core import schema
from fldecl.core.diagnostics import Diagnostics
from fldecl.core.graph import declared_graph, references
from fldecl.core.plain import plain_copy
from fldecl.core.stack import Declaration, Rule, Stack
from fldecl.core.yaml_source import FieldPath, format_path


def check(stack: Stack, diagnostics: Diagnostics) -> None:
    """Every rule, each cause reported once: a kind's own rules wait until its document passes its schema
    (a misspelled value is one error, not the first of several about it), and the checks across the
    stack do not call missing what a file that failed to parse may declare."""
    for decl in stack.declarations.values():
        judged = _without_invalid_fields(decl)
        for rule in _rules_for(decl, stack):
            # A rule that needs a field which broke its schema cannot judge the declaration: it stops at the missing field.
            with contextlib.suppress(KeyError, TypeError, AttributeError):
                rule(judged, stack, diagnostics)
    _references(stack, diagnostics)
    _cycles(stack, diagnostics)
    _files_written_once(stack, diagnostics)


def _without_invalid_fields(decl: Declaration) -> Declaration:
    """``decl`` with every field that broke its schema removed, so that no rule reports a consequence of it."""
    if not decl.invalid_fields:
        return decl
    spec = plain_copy(decl.spec) if () not in decl.invalid_fields else {}
    for path in decl.invalid_fields - {()}:
        _remove(spec, path)
    return replace(decl, spec=spec)


def _remove(data: Any, path: FieldPath) -> None:
    for key in path[:-1]:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(data, dict):
        data.pop(path[-1], None)
    elif isinstance(data, list) and isinstance(path[-1], int) and path[-1] < len(data):
        data[path[-1]] = None  # the other elements keep their places


def _rules_for(decl: Declaration, stack: Stack) -> tuple[Rule, ...]:
    kind = stack.kind(decl.kind)
    return (_paths_inside_stack, _no_computed_fields, *kind.rules, *kind.backend_rules.get(stack.backend, ()))


def _references(stack: Stack, diagnostics: Diagnostics) -> None:
    unparsed = [file.read_text(encoding="utf-8", errors="replace") for file in diagnostics.unparsed]
    for decl in stack.declarations.values():
        for ref in references(decl.kind, decl.name, decl.spec):
            kind, name = ref.target.split("/", 1)
            if ref.target in stack.declarations or ("spec", *ref.path) in decl.source.unset or any(name in text for text in unparsed):
                continue  # declared, or its cause is reported already: an unset variable, a file that did not parse
            same_kind = sorted(d.name for d in stack.declarations.values() if d.kind == kind)
            hint = get_close_matches(name, same_kind, n=1)
            detail = f"did you mean {hint[0]!r}? " if hint else ""
            detail += f"declared {kind} names: {', '.join(same_kind)}" if same_kind else f"no {kind} is declared"
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
