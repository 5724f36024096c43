"""Manifest sources: YAML documents with the position of every field, and the cache of parsed files.

Parsing itself is :mod:`fldecl.core.yaml_parser`'s; :class:`ParsedManifests` calls it only for a
file that changed since the last load of the stack, so a plan of unchanged manifests does not even
import PyYAML.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fldecl import __version__
from fldecl.core.cache import write_cache
from fldecl.core.diagnostics import Diagnostics, Location

FieldPath = tuple[str | int, ...]
Position = tuple[int, int]  # (line, column), 1-based


@dataclass
class SourceDocument:
    """One YAML document: its value and the position of each field path inside it."""

    file: Path
    index: int
    value: Any
    positions: dict[FieldPath, Position] = field(default_factory=dict)
    variables: frozenset[str] = frozenset()  # the environment variables its values refer to
    #: Fields whose value refers to a variable that is not set (reported once, not again by later checks).
    unset: frozenset[FieldPath] = frozenset()

    def locate(self, path: FieldPath) -> Location:
        """The closest known position of ``path`` (walking up to its parents)."""
        while path not in self.positions and path:
            path = path[:-1]
        return Location(self.file, *self.positions.get(path, (1, 1)))


def format_path(path: FieldPath) -> str:
    """``("spec", "remote_training", "remote_training_systems", 0)`` -> ``spec.remote_training.remote_training_systems[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass(frozen=True)
class _ParsedFile:
    """A cache entry: the file's digest, the variables its values came from (and what they were), its documents."""

    content: str
    variables: tuple[str, ...]
    environment: str
    documents: list[tuple[Any, dict[FieldPath, Position]]]

    def marshalled(self) -> tuple[str, tuple[str, ...], str, list[tuple[Any, dict[FieldPath, Position]]]]:
        return self.content, self.variables, self.environment, self.documents


class ParsedManifests:
    """The documents of manifests parsed before, kept in the stack's state directory as ``.pyc`` files keep
    compiled modules: a plan of unchanged manifests neither parses them nor imports PyYAML.

    A file is taken from here only if its bytes are the same and so is every environment variable its
    values were resolved from (by digest; a sensitive variable, never resolved here, only by being
    sensitive). Only files that parsed without a problem are kept, so every diagnostic comes from a
    real parse. Entries name this fldecl version; like a ``.pyc``, the file is trusted as the stack's own.
    """

    FORMAT = f"fldecl {__version__} parsed manifests 2"

    def __init__(self, path: Path, env: Mapping[str, str], sensitive: frozenset[str]) -> None:
        self.path, self.env, self.sensitive = path, env, sensitive
        self._known: dict[str, _ParsedFile] = {}
        try:
            header, known = marshal.loads(path.read_bytes())
            if header == self.FORMAT:
                self._known = {name: _ParsedFile(*entry) for name, entry in known.items()}
        except (OSError, EOFError, ValueError, TypeError):
            pass  # no cache yet, or one of another version: parse everything
        self._kept: dict[str, _ParsedFile] = {}
        self._parsed_again = False

    def load(self, file: Path, content: bytes | None, diagnostics: Diagnostics) -> list[SourceDocument]:
        """The documents of ``file`` (whose bytes are ``content``, None where it cannot be read: the parser
        says why): from the cache where nothing they depend on changed, else parsed."""
        digest = hashlib.sha256(content).hexdigest() if content is not None else ""
        known = self._known.get(file.name)
        if known is not None and digest and (known.content, known.environment) == (digest, self._environment(known.variables)):
            self._kept[file.name] = known
            return [SourceDocument(file, index, value, positions, frozenset(known.variables))
                    for index, (value, positions) in enumerate(known.documents)]
        from fldecl.core.yaml_parser import load_documents  # lazy: PyYAML, for a file not parsed before

        problems = len(diagnostics.errors)
        documents = load_documents(file, self.env, diagnostics, self.sensitive)
        if digest and len(diagnostics.errors) == problems and not any(document.unset for document in documents):
            variables = tuple(sorted(set().union(*(document.variables for document in documents))))
            self._kept[file.name] = _ParsedFile(digest, variables, self._environment(variables),
                                                [(document.value, document.positions) for document in documents])
            self._parsed_again = True
        return documents

    def _environment(self, variables: tuple[str, ...]) -> str:
        values = [(name, True, None) if name in self.sensitive else (name, False, self.env.get(name)) for name in variables]
        return hashlib.sha256(json.dumps(values).encode()).hexdigest()

    def save(self) -> None:
        """Keep the files of this load (and no others), if anything changed."""
        if self._parsed_again or self._kept.keys() != self._known.keys():
            write_cache(self.path, marshal.dumps((self.FORMAT, {name: entry.marshalled() for name, entry in self._kept.items()})))


def iter_manifest_files(stack_dir: Path) -> Iterator[Path]:
    """The stack's manifests: ``*.yaml`` / ``*.yml`` directly in the directory, in name order."""
    for path in sorted(stack_dir.iterdir()):
        if path.suffix in (".yaml", ".yml") and path.is_file():
            yield path


def environment() -> Mapping[str, str]:
    return os.environ
