"""Manifests written from what a backend holds (``fldecl import --generate-into``), as Terraform's
``plan -generate-config-out`` writes the configuration of resources about to be imported.

A provider finds the resources (:class:`~fldecl.core.contract.Found`). Here each gets a manifest
name that is valid and unique (its backend name goes to ``spec.name`` where it differs), its
references become those names, what fldecl computes is left out, and its kind completes it (a
model's stored content becomes the zip its manifest names). Each importable one comes with the
import that takes it under management; once imported, the stack plans clean.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fldecl.core import schema
from fldecl.core.attributes import declared_by_backend_name
from fldecl.core.contract import NAME_ATTRIBUTE, Found
from fldecl.core.errors import PlanError
from fldecl.core.stack import API_VERSION, GeneratedSpec, Stack, owner_of

MAX_NAME_LENGTH = 128
_NOT_IN_A_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class GeneratedManifest:
    """One resource's manifest and the files it names; ``why`` says why it is written for reference only (not imported)."""

    kind: str
    name: str
    resource_id: str
    document: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    why: str = ""

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass
class Generated:
    manifests: list[GeneratedManifest] = field(default_factory=list)
    #: Found resources left out, with the reason (already managed by this stack).
    skipped: list[str] = field(default_factory=list)

    @property
    def imports(self) -> list[GeneratedManifest]:
        return sorted((manifest for manifest in self.manifests if not manifest.why), key=lambda manifest: manifest.address)

    @property
    def files(self) -> dict[str, bytes]:
        """The files the importable manifests name (a model's zip)."""
        return {path: content for manifest in self.imports for path, content in manifest.files.items()}


def generate(stack: Stack, found: Iterable[Found]) -> Generated:
    """Manifests for ``found``, named so they clash with nothing ``stack`` declares."""
    generated = Generated()
    kept, managed = [], {}
    for item in found:
        declared = declared_by_backend_name(stack, item.observed.kind, item.observed.name)
        if owner_of(item.observed.tags) == stack.name and declared is not None:
            generated.skipped.append(f"{declared.address} ({item.observed.id}) is already managed by this stack")
            managed[item.observed.id] = declared.name
        else:
            kept.append(item)
    names = {**managed, **_manifest_names(stack, kept)}
    generated.manifests = [_manifest(stack, item, names) for item in kept]
    _for_reference_where_references_are(generated.manifests)
    return generated


def stack_document(name: str, backend: str, tags: Iterable[str]) -> dict[str, Any]:
    """The Stack manifest of a directory that has none yet."""
    spec: dict[str, Any] = {"backend": backend}
    if tags:
        spec["tags"] = list(tags)
    return {"apiVersion": API_VERSION, "kind": "Stack", "metadata": {"name": manifest_name(name)}, "spec": spec}


def manifest_name(backend_name: str) -> str:
    """A manifest name for a backend name: what a name may not hold becomes ``_`` (``Remote Party 1`` -> ``Remote_Party_1``)."""
    name = _NOT_IN_A_NAME.sub("_", backend_name).strip("_.-")[:MAX_NAME_LENGTH]
    return name if name and name[0].isalnum() else f"r{name}"[:MAX_NAME_LENGTH]


def referenced_ids(found: Iterable[Found]) -> set[str]:
    """The ids that found resources refer to (a training's model and parties), to be read too."""
    return {value for item in found for _, value in _references(item.observed.kind, item.observed.attributes) if isinstance(value, str)}


def write_files(directory: Path, files: dict[str, bytes]) -> list[Path]:
    """Write ``files`` (paths relative to ``directory``), none of which may exist yet; nothing is written if one does."""
    targets = [directory / relative for relative in files]
    existing = [str(path) for path in targets if path.exists()]
    if existing:
        raise PlanError(f"{', '.join(existing)} exists already: generate into another directory, or move it away first")
    written = []
    try:
        for path, content in zip(targets, files.values(), strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            written.append(path)
    except OSError as exc:
        remove(written)
        raise PlanError(f"cannot write {exc.filename}: {exc.strerror}") from exc
    return written


def remove(paths: Iterable[Path]) -> None:
    """Remove files this run wrote (it is undoing itself)."""
    for path in paths:
        path.unlink(missing_ok=True)


@contextmanager
def new_directory(directory: Path) -> Iterator[Path]:
    """``directory``, made if it does not exist, and removed again if what runs inside fails."""
    made = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        yield directory
    except BaseException:
        if made:
            shutil.rmtree(directory, ignore_errors=True)
        raise


def _manifest_names(stack: Stack, found: list[Found]) -> dict[str, str]:
    """Resource id -> a manifest name unique within its kind, also among what the stack declares."""
    taken = {(decl.kind, decl.name) for decl in stack.declarations.values()}
    names = {}
    for item in sorted(found, key=lambda f: (f.observed.kind, f.observed.name, f.observed.id)):
        base = manifest_name(item.observed.name)
        name, suffix = base, 2
        while (item.observed.kind, name) in taken:
            name, suffix = f"{base[:MAX_NAME_LENGTH - 4]}_{suffix}", suffix + 1
        taken.add((item.observed.kind, name))
        names[item.observed.id] = name
    return names


def _manifest(stack: Stack, item: Found, names: dict[str, str]) -> GeneratedManifest:
    kind, name = item.observed.kind, names[item.observed.id]
    owner = owner_of(item.observed.tags)
    attributes = dict(item.observed.attributes)
    unresolved = _resolve_names(kind, attributes, names)
    for field_ in schema.annotated_fields(kind, "readOnly"):
        attributes.pop(field_.path[0], None)
    if attributes.get(NAME_ATTRIBUTE) == name:
        del attributes[NAME_ATTRIBUTE]
    complete = stack.kind(kind).from_backend
    generated = complete(attributes, name, item.content) if complete else GeneratedSpec(attributes)
    reasons = [item.why_not_importable, f"it is owned by stack {owner!r}" if owner else "", generated.why,
               f"it refers to {', '.join(unresolved)}, which was not found" if unresolved else ""]
    document = {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": _in_schema_order(kind, generated.spec)}
    return GeneratedManifest(kind, name, item.observed.id, document, generated.files, next((r for r in reasons if r), ""))


def _references(kind: str, attributes: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    for field_ in schema.annotated_fields(kind, "x-fldecl-ref"):
        yield from schema.values_at(attributes, field_.path)


def _resolve_names(kind: str, attributes: dict[str, Any], names: dict[str, str]) -> list[str]:
    """Replace the ids ``attributes`` refer to by manifest names, in place; the ids no found resource has."""
    unresolved = []
    for path, value in list(_references(kind, attributes)):
        if value not in names:
            unresolved.append(str(value))
            continue
        parent: Any = attributes
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = names[value]
    return unresolved


def _for_reference_where_references_are(manifests: list[GeneratedManifest]) -> None:
    """A manifest that refers to one written for reference only is written for reference only too."""
    changed = True
    while changed:
        changed = False
        reference_only = {manifest.address for manifest in manifests if manifest.why}
        for manifest in manifests:
            if manifest.why:
                continue
            targets = {f"{ref_kind}/{value}" for ref_kind, value in _reference_targets(manifest)}
            blocked = sorted(targets & reference_only)
            if blocked:
                manifest.why, changed = f"it refers to {', '.join(blocked)}, which is written for reference only", True


def _reference_targets(manifest: GeneratedManifest) -> Iterator[tuple[str, Any]]:
    for field_ in schema.annotated_fields(manifest.kind, "x-fldecl-ref"):
        for _, value in schema.values_at(manifest.document["spec"], field_.path):
            yield field_.value, value


def _in_schema_order(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The spec's fields in the order its schema lists them, as a person would write them."""
    order = list(schema.spec_schema(kind).get("properties", {}))
    return dict(sorted(spec.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)))
