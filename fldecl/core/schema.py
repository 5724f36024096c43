"""The JSON Schemas in ``schemas/``: validation, defaults, and the ``x-fldecl-*`` annotations.

The schemas are the single description of every kind. Besides validating, their annotations
tell the core how a field behaves, as a Terraform provider schema does:

- ``x-fldecl-ref: KIND``   the string names another resource of that kind (a graph edge);
- ``x-fldecl-force-new``   a change here cannot be made in place: the resource is replaced;
- ``x-fldecl-path``        a file path relative to the stack directory, which must stay inside it;
- ``x-fldecl-input``       a file the user provides, which must exist before a plan makes sense;
- ``x-fldecl-output``      a file fldecl writes, which no two resources may share;
- ``x-fldecl-name``        ``spec.name``: the resource's name in the backend, by default its manifest name;
- ``x-fldecl-private-key: ADVICE`` a private key fldecl writes: a plan that would make one warns, with ADVICE on keeping
                           it with its owner instead, and says when it takes one back;
- ``x-fldecl-when``        on an ``if``/``then``/``else`` branch's ``required``: when those fields are required,
                           in words (error messages and the README's reference say it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fldecl.core.cache import write_cache
from fldecl.core.plain import plain_copy

SchemaPath = tuple[str | int, ...]


def schemas_dir() -> Path:
    """``schemas/`` beside the package in a checkout; ``fldecl/_schemas`` in an installed wheel."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package.parent / "schemas", package / "_schemas"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("fldecl's JSON Schemas are missing from this installation")


@cache
def _schema_texts() -> tuple[tuple[str, str], ...]:
    return tuple((file.name, file.read_text()) for file in sorted(schemas_dir().glob("*.schema.json")))


@cache
def all_schemas() -> dict[str, dict[str, Any]]:
    """Kind name -> schema, read once."""
    result = {}
    for _, text in _schema_texts():
        schema = json.loads(text)
        result[schema["properties"]["kind"]["const"]] = schema
    return result


@cache
def schemas_digest() -> str:
    """What every validation result depends on besides the document: the schemas' exact text."""
    return hashlib.sha256(json.dumps(_schema_texts()).encode()).hexdigest()


class ValidatedDocuments:
    """Digests of documents that passed their schema, kept in the stack's state directory.

    A document unchanged since it last passed (the same value, the same schemas) is not validated
    again, so a plan of unchanged manifests does not even import jsonschema. Only valid documents
    are recorded, and the digest covers the schemas' text, so no check is skipped that could fail.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._loaded = frozenset(path.read_text().split())
        except OSError:
            self._loaded = frozenset()
        self._known = set(self._loaded)
        self._seen: set[str] = set()

    @staticmethod
    def digest(kind: str, value: Any) -> str:
        return hashlib.sha256(f"{schemas_digest()}\n{kind}\n{json.dumps(value, sort_keys=True, default=str)}".encode()).hexdigest()

    def passed(self, kind: str, value: Any) -> bool:
        """Whether this exact document passed before; counts it as seen either way."""
        digest = self.digest(kind, value)
        self._seen.add(digest)
        return digest in self._known

    def record(self, kind: str, value: Any) -> None:
        self._known.add(self.digest(kind, value))

    def save(self) -> None:
        """Keep what this load validated (and nothing older), if that changed."""
        kept = self._known & self._seen
        if kept != self._loaded:
            write_cache(self.path, ("\n".join(sorted(kept)) + "\n").encode())


def kinds() -> list[str]:
    return list(all_schemas())


@cache
def validator(kind: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(all_schemas()[kind])


def spec_schema(kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = all_schemas()[kind]["properties"].get("spec", {})
    return spec


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        resolved: dict[str, Any] = target
        return resolved
    return node


def _branches(node: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    """The node and every alternative it allows (oneOf / anyOf / allOf)."""
    node = _resolve(node, root)
    found = [node]
    for keyword in ("oneOf", "anyOf", "allOf"):
        for branch in node.get(keyword, []):
            found.extend(_branches(branch, root))
    return found


def _children(node: dict[str, Any], key: str | int, root: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for branch in _branches(node, root):
        if isinstance(key, int):
            items = branch.get("items")
            if isinstance(items, dict):
                found.append(items)
        elif key in branch.get("properties", {}):
            found.append(branch["properties"][key])
        elif isinstance(branch.get("additionalProperties"), dict):
            found.append(branch["additionalProperties"])
    return found


def nodes_along(kind: str, spec_path: SchemaPath) -> Iterator[dict[str, Any]]:
    """Every schema node met walking ``spec_path`` down from the spec (all alternatives)."""
    root = all_schemas()[kind]
    level = _branches(spec_schema(kind), root)
    yield from level
    for key in spec_path:
        level = [b for node in level for child in _children(node, key, root) for b in _branches(child, root)]
        yield from level


def forces_replacement(kind: str, spec_path: SchemaPath) -> bool:
    return any(node.get("x-fldecl-force-new") for node in nodes_along(kind, spec_path))


@dataclass(frozen=True)
class Annotated:
    """A field carrying an annotation; ``path`` uses ``"*"`` for every array index."""

    path: tuple[str, ...]
    value: Any


@cache
def annotated_fields(kind: str, keyword: str) -> tuple[Annotated, ...]:
    root = all_schemas()[kind]
    found: list[Annotated] = []

    def visit(node: dict[str, Any], path: tuple[str, ...], depth: int) -> None:
        if depth > 12:
            return
        for branch in _branches(node, root):
            if keyword in branch and Annotated(path, branch[keyword]) not in found:
                found.append(Annotated(path, branch[keyword]))
            for name, child in branch.get("properties", {}).items():
                visit(child, path + (name,), depth + 1)
            if isinstance(branch.get("items"), dict):
                visit(branch["items"], path + ("*",), depth + 1)

    visit(spec_schema(kind), (), 0)
    return tuple(found)


def has_backend_name(kind: str) -> bool:
    """Whether the kind's resources have a name in the backend (``spec.name``, marked ``x-fldecl-name``)."""
    return any(field.path == ("name",) for field in annotated_fields(kind, "x-fldecl-name"))


def values_at(data: Any, pattern: tuple[str, ...], prefix: SchemaPath = ()) -> Iterator[tuple[SchemaPath, Any]]:
    """Every (concrete path, value) in ``data`` matching ``pattern`` (``"*"`` = any list index)."""
    if not pattern:
        yield prefix, data
        return
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        if isinstance(data, list):
            for i, item in enumerate(data):
                yield from values_at(item, rest, prefix + (i,))
    elif isinstance(data, dict) and head in data:
        yield from values_at(data[head], rest, prefix + (head,))


def with_defaults(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` with schema defaults filled in, so omitting a default equals writing it."""
    root = all_schemas()[kind]

    def fill(node: dict[str, Any], value: Any) -> Any:
        shape = _shape(node, root)
        if isinstance(value, dict):
            props = shape.properties
            out = {key: fill(props[key], item) if key in props else item for key, item in value.items()}
            for key, default in shape.defaults:
                if key not in out:
                    out[key] = plain_copy(default)
            return out
        if isinstance(value, list) and shape.items is not None:
            return [fill(shape.items, item) for item in value]
        return value

    filled: dict[str, Any] = fill(spec_schema(kind), spec)
    return filled


@dataclass(frozen=True)
class _Shape:
    """What filling defaults needs of a schema node, with its ``$ref`` and its properties' resolved."""

    properties: dict[str, Any]
    defaults: tuple[tuple[str, Any], ...]
    items: dict[str, Any] | None


_SHAPES: dict[int, _Shape] = {}  # by the id of a node of the cached schemas, which live as long as the process


def _shape(node: dict[str, Any], root: dict[str, Any]) -> _Shape:
    shape = _SHAPES.get(id(node))
    if shape is None:
        resolved = _resolve(node, root)
        properties = resolved.get("properties", {})
        resolved_properties = ((key, _resolve(prop, root)) for key, prop in properties.items())
        defaults = tuple((key, prop["default"]) for key, prop in resolved_properties if "default" in prop)
        items = resolved.get("items")
        shape = _SHAPES[id(node)] = _Shape(properties, defaults, items if isinstance(items, dict) else None)
    return shape
