"""A loaded stack: its settings, its declarations, and the behaviour each kind adds to its schema.

The core knows kinds only through :class:`Kind` records that the stack carries; what a kind
derives, checks and forbids is written in :mod:`fldecl.kinds`, one module per kind, and handed
to :func:`fldecl.core.manifest.load_stack`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fldecl.core.diagnostics import Diagnostics, Location, shown_path
from fldecl.core.errors import PlanError
from fldecl.core.yaml_source import FieldPath, SourceDocument

API_VERSION = "fldecl/v1"
OWNER_TAG_PREFIX = "fldecl.stack."
STATE_DIRECTORY = ".fldecl"


def owner_of(tags: Iterable[str]) -> str | None:
    """The stack that owns a resource with these tags, if one does."""
    return next((tag.removeprefix(OWNER_TAG_PREFIX) for tag in tags if tag.startswith(OWNER_TAG_PREFIX)), None)


@dataclass
class Declaration:
    """One declared resource: kind, name, spec (with defaults) and where it was written."""

    kind: str
    name: str
    spec: dict[str, Any]
    source: SourceDocument
    prevent_destroy: bool = False
    #: False when the document broke its schema: kept so references to it resolve, never planned.
    schema_valid: bool = True
    #: The spec fields that broke the schema (already reported): rules judge the declaration without them.
    invalid_fields: frozenset[FieldPath] = frozenset()

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.name}"

    def locate(self, spec_path: FieldPath = ()) -> Location:
        return self.source.locate(("spec",) + tuple(spec_path) if spec_path else ("metadata", "name"))


Rule = Callable[[Declaration, "Stack", Diagnostics], None]
"""A semantic check of one declaration; it reports through ``diagnostics`` and never stops the others."""

Derivation = Callable[[dict[str, Any], "Stack"], None]
"""Adds the fields fldecl computes (a content hash, a fingerprint, a default) to a declaration's attributes."""


@dataclass
class GeneratedSpec:
    """A manifest's spec written from what a backend holds, and the files it names (path in the stack -> bytes).

    A non-empty ``why`` says why it cannot be managed as it is: it is written for reference only.
    """

    spec: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    why: str = ""


FromBackend = Callable[[dict[str, Any], str, "bytes | None"], GeneratedSpec]
"""Completes a discovered resource's spec (references already names) given its manifest name and stored content."""

Members = Callable[[Mapping[str, Any]], Collection[str]]
"""The addresses of the resources that join one of this kind, from its spec (a training's parties)."""


@dataclass(frozen=True)
class Kind:
    """What a kind adds to its JSON Schema.

    ``rules`` apply on every backend, ``backend_rules[backend]`` only on that one (what it cannot
    run); ``derive`` computes attributes; ``immutable`` means any change replaces the resource;
    ``from_backend`` completes the manifest generated for one found in a backend; ``members``
    says which resources join one of this kind.
    """

    name: str
    rules: tuple[Rule, ...] = ()
    backend_rules: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict)
    derive: Derivation | None = None
    immutable: bool = False
    from_backend: FromBackend | None = None
    members: Members | None = None


KindTable = Mapping[str, Kind]


@dataclass
class Stack:
    name: str
    directory: Path
    backend: str
    tags: list[str]
    kinds: KindTable = field(default_factory=dict)
    declarations: dict[str, Declaration] = field(default_factory=dict)
    #: Variables whose references are kept as written and shown as ``(sensitive value)`` (names only).
    sensitive_variables: frozenset[str] = frozenset()
    #: The Stack's settings blocks by backend name (``spec.<backend>``), as its schema validated them.
    backend_blocks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def backend_settings(self) -> dict[str, Any]:
        """What the Stack declares for the backend in use (its ``spec.<backend>`` block), empty if nothing."""
        return self.backend_blocks.get(self.backend, {})

    @property
    def owner_tag(self) -> str:
        return OWNER_TAG_PREFIX + self.name

    @property
    def all_tags(self) -> list[str]:
        return [self.owner_tag] + [t for t in self.tags if t != self.owner_tag]

    @property
    def state_dir(self) -> Path:
        return self.directory / STATE_DIRECTORY

    def inside(self, relative: str) -> Path | None:
        """``relative`` resolved in the stack directory, or None when it leaves the directory."""
        root = self.directory.resolve()
        resolved = (root / relative).resolve()
        return resolved if not Path(relative).is_absolute() and resolved.is_relative_to(root) else None

    def kind(self, name: str) -> Kind:
        """The behaviour of kind ``name``: its schema alone when no module adds to it."""
        return self.kinds.get(name) or Kind(name)

    def declared(self, address: str) -> Declaration:
        """The declaration at ``address``, or a :class:`PlanError` that says where it was looked for."""
        if address not in self.declarations:
            raise PlanError(f"{address} is not declared in {shown_path(self.directory)}")
        return self.declarations[address]
