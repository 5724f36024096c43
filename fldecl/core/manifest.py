"""Loading a stack: the directory of manifests, read, schema-checked and turned into declarations.

``load_stack`` never stops at the first problem: it gathers every diagnostic (syntax, schema,
the generic rules of :mod:`fldecl.core.rules` and each kind's own) and raises
:class:`StackInvalid` with all of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from fldecl.core import rules, schema
from fldecl.core.diagnostics import Diagnostics, Location, shown_path
from fldecl.core.errors import StackInvalid
from fldecl.core.stack import API_VERSION, STATE_DIRECTORY, Declaration, KindTable, Stack
from fldecl.core.yaml_source import (
    FieldPath,
    ParsedManifests,
    SourceDocument,
    environment,
    format_path,
    iter_manifest_files,
)


def load_stack(directory: Path, kinds: KindTable, env: Mapping[str, str] | None = None,
               backend_override: str | None = None, sensitive: Iterable[str] = ()) -> Stack:
    """Load and validate the stack in ``directory`` with the behaviour of ``kinds``; raise :class:`StackInvalid` on any error.

    References to the ``sensitive`` variables, and to those the Stack lists, are kept as written.
    """
    diagnostics = Diagnostics()
    directory = directory.resolve()
    if not directory.is_dir():
        diagnostics.error(f"stack directory {shown_path(directory)} does not exist")
        raise StackInvalid(diagnostics)
    contents = _contents(_manifest_files(directory, diagnostics))
    secret_names = frozenset(sensitive) | _declared_sensitive(contents)
    parsed = ParsedManifests(directory / STATE_DIRECTORY / "cache" / "parsed-manifests", env or environment(), secret_names)
    documents = [doc for file, content in contents.items() for doc in parsed.load(file, content, diagnostics)]
    parsed.save()
    if not documents and not diagnostics.errors:
        diagnostics.error(f"no manifests (*.yaml) in {shown_path(directory)}")
    validated = schema.ValidatedDocuments(directory / STATE_DIRECTORY / "cache" / "valid-documents")
    stack_docs, declarations = _classify(documents, diagnostics, validated)
    validated.save()
    stack = _stack_settings(stack_docs, directory, kinds, diagnostics if documents else Diagnostics())
    stack.sensitive_variables = secret_names
    if backend_override:
        stack.backend = backend_override
    for decl in declarations:
        if decl.address in stack.declarations:
            first = stack.declarations[decl.address].locate()
            diagnostics.error(f"{decl.address} is declared twice (first at {first})", decl.locate(), "metadata.name")
        else:
            stack.declarations[decl.address] = decl
    rules.check(stack, diagnostics)
    if diagnostics.errors:
        raise StackInvalid(diagnostics)
    return stack


def _manifest_files(directory: Path, diagnostics: Diagnostics) -> list[Path]:
    """The manifests in ``directory``; a link to a file outside it is refused (it is not the stack's to review)."""
    files = []
    for file in iter_manifest_files(directory):
        if not file.resolve().is_relative_to(directory):
            diagnostics.error(f"{file.name} is a link to {file.resolve()}, outside the stack directory; "
                              "copy the manifest into the stack instead", Location(file))
        else:
            files.append(file)
    return files


def _contents(files: list[Path]) -> dict[Path, bytes | None]:
    """Each manifest's bytes, read once per load; None where the file cannot be read (its parse says why)."""
    contents: dict[Path, bytes | None] = {}
    for file in files:
        try:
            contents[file] = file.read_bytes()
        except OSError:
            contents[file] = None
    return contents


def _declared_sensitive(contents: Mapping[Path, bytes | None]) -> frozenset[str]:
    """The variables the Stack manifest lists as sensitive, read before any reference is resolved
    (only files that mention ``sensitive_variables`` are parsed for it)."""
    names: set[str] = set()
    mentioning = [file for file, content in contents.items() if content is not None and b"sensitive_variables" in content]
    if not mentioning:
        return frozenset()
    from fldecl.core.yaml_parser import plain_documents  # lazy: PyYAML, which an unchanged stack does not need

    for document in (document for file in mentioning for document in plain_documents(file)):
        spec = document.get("spec") if isinstance(document, dict) and document.get("kind") == "Stack" else None
        declared = spec.get("sensitive_variables") if isinstance(spec, dict) else None
        if isinstance(declared, list):
            names.update(name for name in declared if isinstance(name, str))
    return frozenset(names)


def _classify(documents: list[SourceDocument], diagnostics: Diagnostics,
              validated: schema.ValidatedDocuments) -> tuple[list[SourceDocument], list[Declaration]]:
    known = schema.kinds()
    stacks: list[SourceDocument] = []
    declarations: list[Declaration] = []
    for doc in documents:
        value = doc.value
        if not isinstance(value, dict):
            diagnostics.error("a manifest must be a mapping with apiVersion, kind, metadata and spec", doc.locate(()))
            continue
        kind = value.get("kind")
        if value.get("apiVersion") != API_VERSION:
            diagnostics.error(f"apiVersion must be {API_VERSION!r}", doc.locate(("apiVersion",)), "apiVersion")
            continue
        if kind not in known:
            hint = get_close_matches(str(kind), known, n=1)
            detail = f"did you mean {hint[0]!r}? " if hint else ""
            diagnostics.error(f"unknown kind {kind!r}", doc.locate(("kind",)), "kind", detail + "known kinds: " + ", ".join(known))
            continue
        invalid = _schema_errors(kind, doc, diagnostics, validated)
        valid = invalid is None
        if kind == "Stack":
            stacks.append(doc)
            continue
        name = (value.get("metadata") or {}).get("name") if isinstance(value.get("metadata"), dict) else None
        if not isinstance(name, str):
            continue
        spec: dict[str, Any] = value["spec"] if isinstance(value.get("spec"), dict) else {}
        if valid:
            spec = schema.with_defaults(kind, spec)
        lifecycle: dict[str, Any] = value["lifecycle"] if isinstance(value.get("lifecycle"), dict) else {}
        declarations.append(Declaration(kind, name, spec, doc, bool(lifecycle.get("prevent_destroy")), valid,
                                        frozenset(path[1:] for path in invalid or () if path[:1] == ("spec",))))
    return stacks, declarations


def _stack_settings(docs: list[SourceDocument], directory: Path, kinds: KindTable, diagnostics: Diagnostics) -> Stack:
    if not docs:
        diagnostics.error("no Stack manifest: declare exactly one `kind: Stack` (its name owns the resources)", Location(directory))
        return Stack(directory.name, directory, "local", [], kinds)
    for extra in docs[1:]:
        diagnostics.error(f"a second Stack manifest (the first is at {docs[0].locate(())})", extra.locate(("kind",)), "kind")
    value = docs[0].value
    metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
    spec = schema.with_defaults("Stack", value.get("spec") if isinstance(value.get("spec"), dict) else {})
    blocks = {key: block for key, block in spec.items() if isinstance(block, dict)}
    return Stack(str(metadata.get("name", directory.name)), directory, str(spec.get("backend")), list(spec.get("tags") or []), kinds,
                 backend_blocks=blocks)


def _schema_errors(kind: str, doc: SourceDocument, diagnostics: Diagnostics,
                   validated: schema.ValidatedDocuments) -> set[FieldPath] | None:
    """The fields of ``doc`` that break its schema (each reported), or None when it passes."""
    if validated.passed(kind, doc.value):
        return None
    errors = list(schema.validator(kind).iter_errors(doc.value))
    invalid: set[FieldPath] = set()
    for error in errors:
        if tuple(error.absolute_path) in doc.unset:
            invalid.add(tuple(error.absolute_path))
            continue  # the unset variable is the cause, already reported
        for path, message, detail in _explain(error):
            diagnostics.error(message, doc.locate(path), format_path(path), detail)
            if error.validator != "required":  # a missing field is absent anyway
                invalid.add(path)
    if not errors:
        validated.record(kind, doc.value)
        return None
    return invalid


def _explain(error: Any) -> list[tuple[FieldPath, str, str]]:
    """Turn a jsonschema error into (path, message, detail) lines a person can act on."""
    path: FieldPath = tuple(error.absolute_path)
    validator = error.validator
    if validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extras = [key for key in error.instance if key not in allowed]
        lines = []
        for key in extras:
            hint = get_close_matches(key, allowed, n=1)
            detail = f"did you mean {hint[0]!r}?" if hint else "allowed: " + ", ".join(allowed)
            lines.append((path + (key,), f"unknown field {key!r}", detail))
        return lines
    if validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        when = error.schema.get("x-fldecl-when")
        return [(path, f"missing required field {(missing or [error.message])[0]!r}", f"required when {when}" if when else "")]
    if validator in ("oneOf", "anyOf") and error.context:
        return _explain_alternatives(error)
    if validator == "not":
        return [(path, "these fields cannot be used together: " + ", ".join(error.validator_value.get("required", [])), "")]
    if validator in ("maxProperties", "minProperties") and isinstance(error.instance, dict):
        options = ", ".join(error.schema.get("properties", {}))
        return [(path, f"set exactly one of: {options}", "")]
    if validator == "const":
        return [(path, f"must be {error.validator_value!r}, not {error.instance!r}", "")]
    if validator == "enum":
        options = ", ".join(repr(v) for v in error.validator_value)
        hint = get_close_matches(str(error.instance), [str(v) for v in error.validator_value], n=1)
        return [(path, f"{error.instance!r} is not one of {options}", f"did you mean {hint[0]!r}?" if hint else "")]
    if validator in ("maximum", "exclusiveMaximum") and isinstance(error.instance, (int, float)):
        shown = str(error.instance) if len(str(error.instance)) <= 20 else f"{error.instance:.3g}"
        return [(path, f"{shown} is too large: at most {error.validator_value}", "")]
    if validator == "pattern":
        return [(path, f"{error.instance!r} does not have the expected form", f"pattern: {error.validator_value}")]
    return [(path, error.message, "")]


def _explain_alternatives(error: Any) -> list[tuple[FieldPath, str, str]]:
    """Explain the branch the user most likely meant: the one whose discriminating ``const`` matched."""
    branches: dict[Any, list[Any]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    plausible = [errs for errs in branches.values() if not any(e.validator == "const" for e in errs)]
    if plausible:
        return [line for sub in min(plausible, key=len) for line in _explain(sub)]
    return [(tuple(error.absolute_path), "matches none of the allowed forms", _alternatives(error.schema))]


def _alternatives(node: dict[str, Any]) -> str:
    names = [", ".join(branch.get("required", [])) for branch in node.get("oneOf", []) if branch.get("required")]
    return "alternatives: " + " | ".join(names) if names else ""
