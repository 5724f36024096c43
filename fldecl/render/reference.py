"""The manifest reference in the README, generated from the JSON Schemas so the two never disagree.

``python -m fldecl.render.reference README.md`` rewrites the part of the README between the
reference markers; a test checks that it is current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from fldecl.core.schema import all_schemas

START, END = "<!-- reference:start -->", "<!-- reference:end -->"


def reference_markdown() -> str:
    lines: list[str] = []
    for kind, schema in all_schemas().items():
        lines += [f"### {kind}", "", schema.get("description", ""), ""]
        lines += [f"Schema: `schemas/{kind.lower()}.schema.json`.", ""]
        lines += ["| field | type | notes |", "|---|---|---|"]
        spec = schema["properties"].get("spec", {})
        lines += [_row(path, node, schema) for path, node in _fields(spec, schema, "spec")]
        if "lifecycle" in schema["properties"]:
            lines.append("| `lifecycle.prevent_destroy` | boolean | A plan that would delete or replace this resource fails. |")
        lines.append("")
    return "\n".join(lines)


def _fields(node: dict[str, Any], root: dict[str, Any], prefix: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    required = set(node.get("required", []))
    required_when = _required_when(node)
    for name, child in node.get("properties", {}).items():
        path = f"{prefix}.{name}"
        child = _resolve(child, root)
        if name in required_when:
            child = {**child, "x-fldecl-required-when": required_when[name]}
        found.append((path + (" (required)" if name in required else ""), child))
        if child.get("type") == "object" and "properties" in child and not child.get("readOnly"):
            found += _fields(child, root, path)
        items = child.get("items")
        if isinstance(items, dict) and "properties" in items:
            found += _fields(items, root, path + "[]")
    return found


def _required_when(node: dict[str, Any]) -> dict[str, str]:
    """Fields an ``if``/``then``/``else`` branch requires, with the branch's ``x-fldecl-when`` words."""
    found = {}
    for rule in node.get("allOf", []):
        for branch in (rule.get("then"), rule.get("else")):
            if branch and branch.get("x-fldecl-when"):
                found.update(dict.fromkeys(branch.get("required", []), branch["x-fldecl-when"]))
    return found


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref", "")
    if ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        resolved: dict[str, Any] = target
        return resolved
    return node


def _row(path: str, node: dict[str, Any], root: dict[str, Any]) -> str:
    notes = []
    if node.get("x-fldecl-required-when"):
        notes.append(f"Required when {node['x-fldecl-required-when']}.")
    if node.get("description"):
        notes.append(node["description"])
    if "enum" in node:
        notes.append("One of " + ", ".join(f"`{v}`" for v in node["enum"]) + ".")
    if "const" in node:
        notes.append(f"Always `{node['const']}`.")
    if "default" in node:
        notes.append(f"Default `{json.dumps(node['default'])}`.")
    if node.get("x-fldecl-ref"):
        notes.append(f"Name of a {node['x-fldecl-ref']}.")
    if node.get("x-fldecl-path"):
        notes.append("Path inside the stack directory.")
    if node.get("x-fldecl-force-new"):
        notes.append("Changing it replaces the resource.")
    if node.get("readOnly"):
        notes.append("Computed; not set in manifests.")
    kind = node.get("type", "one of several forms" if "oneOf" in node else "string" if "enum" in node else "any")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    text = " ".join(notes).replace("|", "\\|")
    return f"| `{path}` | {kind} | {text} |"


def update_readme(readme: Path) -> bool:
    """Rewrite the reference section; True when it changed."""
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    updated = f"{head}{START}\n{reference_markdown()}{END}{tail}"
    if updated != text:
        readme.write_text(updated)
    return updated != text


if __name__ == "__main__":
    update_readme(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md"))
