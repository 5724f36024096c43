"""Parsing YAML safely, remembering where every value came from.

PyYAML's loaders lose line numbers and silently keep the last of two duplicate keys. Here a
document is composed into nodes by the safe loader, then built into plain Python values while
recording the position of every field path, rejecting duplicate keys, non-standard tags (no
Python objects), oversized files and alias bombs. ``${VAR}`` / ``${VAR:-default}`` are
substituted in strings from the environment (:mod:`fldecl.variables`). PyYAML is imported with
this module, which :mod:`fldecl.core.yaml_source` loads only for a file it has not parsed before.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from fldecl.core.diagnostics import Diagnostics, Location
from fldecl.core.yaml_source import FieldPath, Position, SourceDocument, format_path
from fldecl.errors import InputError
from fldecl.variables import REFERENCE, UnsetVariable, substitute

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 64  # levels of nesting; the deepest manifest field needs fewer than ten

_STRING_TAG = "tag:yaml.org,2002:str"
_STANDARD_TAGS = {
    "tag:yaml.org,2002:" + name
    for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary", "merge")
}
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()


def load_documents(file: Path, env: Mapping[str, str], diagnostics: Diagnostics,
                   sensitive: frozenset[str] = frozenset()) -> list[SourceDocument]:
    """All documents of ``file``; problems go to ``diagnostics`` and the file yields what parsed.

    References to ``sensitive`` variables are kept as written (:mod:`fldecl.variables`).
    """
    try:
        size = file.stat().st_size
    except OSError as exc:
        diagnostics.error(f"cannot read file: {exc.strerror}", Location(file))
        return []
    if size > MAX_FILE_BYTES:
        diagnostics.error(f"file is {size} bytes; manifests are limited to {MAX_FILE_BYTES}", Location(file))
        return []
    text = file.read_text(encoding="utf-8", errors="replace")
    loader = _Loader(text)
    documents: list[SourceDocument] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            builder = _Builder(file, env, diagnostics, sensitive)
            value = builder.build(node, ())
            if value is not None:
                documents.append(SourceDocument(file, len(documents), value, builder.positions, frozenset(builder.variables),
                                                frozenset(builder.unset)))
    except (_TooDeep, RecursionError) as exc:  # RecursionError: nodes composed deeper than the interpreter's stack
        diagnostics.error(f"values nested more than {MAX_DEPTH} levels deep; no manifest needs that many",
                          exc.location if isinstance(exc, _TooDeep) else Location(file))
        diagnostics.unparsed.add(file)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        diagnostics.error(f"YAML syntax error: {exc.problem or exc.context}", location)
        diagnostics.unparsed.add(file)
    except yaml.YAMLError as exc:
        diagnostics.error(f"YAML error: {exc}", Location(file))
        diagnostics.unparsed.add(file)
    finally:
        loader.dispose()
    return documents


class _TooDeep(InputError):
    """Values nested deeper than :data:`MAX_DEPTH`: the file is reported once, at the value that went too deep."""

    def __init__(self, location: Location) -> None:
        super().__init__(str(location))
        self.location = location


class _Builder:
    """Turns composed nodes into values, keeping positions and enforcing the safety rules."""

    def __init__(self, file: Path, env: Mapping[str, str], diagnostics: Diagnostics, sensitive: frozenset[str]) -> None:
        self.file = file
        self.env = env
        self.diagnostics = diagnostics
        self.sensitive = sensitive
        self.positions: dict[FieldPath, Position] = {}
        self.variables: set[str] = set()  # the environment variables the document's values refer to
        self.unset: set[FieldPath] = set()  # the fields whose value refers to a variable that is not set
        self.nodes_seen = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def where(self, node: yaml.Node) -> Location:
        return Location(self.file, *self.position(node))

    @staticmethod
    def position(node: yaml.Node) -> Position:
        mark = node.start_mark
        return mark.line + 1, mark.column + 1

    def build(self, node: yaml.Node, path: FieldPath) -> Any:
        self.nodes_seen += 1
        if self.nodes_seen > MAX_NODES:
            raise yaml.YAMLError(f"document expands to more than {MAX_NODES} values (alias expansion is bounded)")
        if len(path) > MAX_DEPTH:
            raise _TooDeep(self.where(node))
        if path not in self.positions:
            self.positions[path] = self.position(node)
        if node.tag not in _STANDARD_TAGS:
            self.diagnostics.error(f"tag {node.tag!r} is not allowed: manifests hold plain data only", self.where(node), format_path(path))
            return None
        if isinstance(node, yaml.MappingNode):
            return self.build_mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self.build_scalar(node, path)

    def build_mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, Any]:
        self.constructor.flatten_mapping(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            plain = key_node.tag == _STRING_TAG and isinstance(key_node, yaml.ScalarNode)
            key = key_node.value if plain else str(self.constructor.construct_object(key_node))
            child = path + (key,)
            if key in result:
                first_line = self.positions[child][0]
                self.diagnostics.error(
                    f"duplicate key {key!r} (first at line {first_line}); YAML would silently keep only the last",
                    self.where(key_node),
                    format_path(child),
                )
                continue
            self.positions[child] = self.position(key_node)
            result[key] = self.build(value_node, child)
        return result

    def build_scalar(self, node: yaml.ScalarNode, path: FieldPath) -> Any:
        if node.tag == "tag:yaml.org,2002:timestamp":
            return node.value
        value = node.value if node.tag == _STRING_TAG else self.constructor.construct_object(node)
        if not isinstance(value, str) or "$" not in value:
            return value
        substituted = self.substitute(value, node, path)
        if node.style is None and substituted != value:
            # An unquoted `${EPOCHS:-1}` becomes the int 1, as if written literally.
            resolved_tag = _RESOLVER.resolve(yaml.ScalarNode, substituted, (True, False))  # type: ignore[no-untyped-call]
            if resolved_tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool"):
                return self.constructor.construct_object(yaml.ScalarNode(resolved_tag, substituted))
        return substituted

    def substitute(self, text: str, node: yaml.Node, path: FieldPath) -> str:
        self.variables.update(match.group(1) for match in REFERENCE.finditer(text) if match.group(1))
        try:
            return substitute(text, self.env, self.sensitive)
        except UnsetVariable:
            for match in REFERENCE.finditer(text):
                name = match.group(1)
                if name and match.group(2) is None and name not in self.env and name not in self.sensitive:
                    self.diagnostics.error_once(f"unset variable {name}", str(UnsetVariable(name)), self.where(node), format_path(path))
            self.unset.add(path)
            return text


def plain_documents(file: Path) -> list[Any]:
    """The documents of ``file`` as plain values, nothing resolved; ``[]`` if it does not parse (:func:`load_documents` says why)."""
    try:
        return list(yaml.load_all(file.read_text(encoding="utf-8", errors="replace"), Loader=_Loader))
    except (OSError, yaml.YAMLError):
        return []
