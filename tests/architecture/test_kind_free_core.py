"""The core knows no kind: no module under ``fldecl/core`` names a resource kind or reads a kind's spec field
by name. import-linter cannot see strings, so this reads the core's syntax trees.

What a kind means (which resources join a training, what it derives) is the kind's own, in
``fldecl/kinds``, handed to the core as :class:`~fldecl.core.stack.Kind` records."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

#: The stack manifest is the core's own document, not a resource kind.
CORE_DOCUMENT = "Stack"


def _schemas() -> list[dict[str, object]]:
    return [json.loads(path.read_text()) for path in sorted((ROOT / "schemas").glob("*.schema.json"))]


def kind_names() -> set[str]:
    names = {schema["properties"]["kind"]["const"] for schema in _schemas()}  # type: ignore[index]
    return names - {CORE_DOCUMENT}


def spec_fields() -> set[str]:
    """Every field a resource kind's spec has, at its top level."""
    fields: set[str] = set()
    for schema in _schemas():
        if schema["properties"]["kind"]["const"] != CORE_DOCUMENT:  # type: ignore[index]
            fields |= set(schema["properties"]["spec"].get("properties", {}))  # type: ignore[index,union-attr]
    return fields


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes, which may speak of kinds as examples."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _is_spec(node: ast.expr) -> bool:
    """``spec``, ``x.spec``, ``attributes`` or ``x.attributes``: a resource's spec, as declared or as attributes."""
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name in ("spec", "attributes")


def kind_knowledge(source: str, kinds: set[str], fields: set[str]) -> Iterator[tuple[int, str]]:
    """Each line of ``source`` that names a kind in a string, or reads a kind's spec field by a string literal."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    naming = re.compile(r"\b(" + "|".join(sorted(kinds)) + r")\b")
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            match = naming.search(node.value)
            if match:
                yield node.lineno, f"names the kind {match.group(1)}"
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_spec(node.value) \
                and isinstance(node.slice, ast.Constant) and node.slice.value in fields:
            yield node.lineno, f"indexes the spec field {node.slice.value!r}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                and _is_spec(node.func.value) and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in fields:
            yield node.lineno, f"reads the spec field {node.args[0].value!r}"


def test_no_core_module_names_a_kind_or_reads_a_kind_field() -> None:
    kinds, fields = kind_names(), spec_fields()
    found = [f"{path.relative_to(ROOT)}:{line}: {what}"
             for path in sorted((ROOT / "fldecl" / "core").rglob("*.py"))
             for line, what in kind_knowledge(path.read_text(), kinds, fields)]
    assert not found, "the core knows a kind:\n" + "\n".join(found)


@pytest.mark.parametrize(("line", "what"), [
    ('address = f"RemoteTrainingSystem/{name}"', "names the kind RemoteTrainingSystem"),
    ('if decl.kind == "Training": pass', "names the kind Training"),
    ('parties = decl.spec["remote_training"]["remote_training_systems"]', "indexes the spec field 'remote_training'"),
    ('model = desired.attributes.get("model")', "reads the spec field 'model'"),
])
def test_the_check_catches_what_the_core_once_did(line: str, what: str) -> None:
    assert [what] == [found for _, found in kind_knowledge(line, kind_names(), spec_fields())]


def test_the_kinds_are_read_from_the_schemas() -> None:
    assert {"CertificateAuthority", "Model", "RemoteTrainingSystem", "Training"} <= kind_names()
    assert {"remote_training", "fusion_type", "cert_file"} <= spec_fields()
    assert Path(ROOT / "fldecl" / "core").is_dir()
