"""Renderings of attribute values for people to read: nested values shown whole, one field a line,
as Terraform's plan shows them (unchanged nested fields folded into a count)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fldecl.core.plan import UNKNOWN, ResourceChange
from fldecl.core.stack import owner_of
from fldecl.core.yaml_source import FieldPath
from fldecl.variables import SENSITIVE_VALUE, masked

SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "adopt": "<="}
VERBS = {"create": "will be created", "update": "will be updated in place", "replace": "must be replaced", "delete": "will be destroyed",
         "adopt": "will be adopted from the files kept in the stack"}
#: What apply does to a part of a resource (a kit), in a plan's words.
PART_VERBS = {"create": "built", "update": "rebuilt", "delete": "removed"}
INDENT = "    "
_ABSENT = object()


def scalar(value: Any, sensitive: Iterable[str] = ()) -> str:
    """One scalar as a plan shows it: JSON, a digest shortened (its head identifies it), placeholders bare; what refers
    to a sensitive variable shows as ``(sensitive value)``."""
    value = masked(value, sensitive)
    if value in (SENSITIVE_VALUE, UNKNOWN):
        return str(value)
    if isinstance(value, str) and value.startswith("sha256:") and len(value) > 26:
        value = value[:19] + "…"
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def change_lines(change: ResourceChange, sensitive: Iterable[str] = ()) -> list[str]:
    """The indented detail lines of one resource change: reasons, what it does to the resource's parts, then its
    attributes as a nested diff."""
    lines = []
    if change.action_label in ("replace", "delete", "update"):
        lines += [f"{INDENT}# {reason}" for reason in change.reasons]
    lines += [f"{INDENT}{SYMBOLS[part.action]} {part.part}: {PART_VERBS[part.action]}{', ' + part.reason if part.reason else ''}"
              for part in change.parts]
    if change.action_label in ("delete", "adopt"):
        return lines
    before = {} if change.action_label == "create" else change.before or {}
    forcing = {field.path for field in change.fields if field.forces_replacement and change.is_replace}
    return lines + _NestedDiff(forcing, frozenset(sensitive)).entries(before, change.after or {}, (), INDENT)


@dataclass(frozen=True)
class _NestedDiff:
    """Two values compared as they are, shown masked: a changed secret is a change, its values never shown."""

    forcing: set[FieldPath]
    sensitive: frozenset[str]

    def entries(self, before: Any, after: Any, path: FieldPath, indent: str) -> list[str]:
        """The changed fields of two dicts (or lists), aligned, and a count of the unchanged ones."""
        if isinstance(after, dict) or isinstance(before, dict):
            keys: list[str | int] = sorted(set(before) | set(after), key=str)
            items = [(key, before.get(key, _ABSENT), after.get(key, _ABSENT)) for key in keys]
            noun = "attribute"
        else:
            length = max(len(before), len(after))
            items = [(i, before[i] if i < len(before) else _ABSENT, after[i] if i < len(after) else _ABSENT) for i in range(length)]
            noun = "element"
        width = max((len(str(key)) for key, old, new in items if old != new and isinstance(key, str)), default=0)
        lines: list[str] = []
        hidden = 0
        for key, old, new in items:
            if old == new:
                hidden += 1
                continue
            if hidden and noun == "element":  # list elements keep their places
                lines.append(f"{indent}  # ({_count(hidden, noun)} hidden)")
                hidden = 0
            label = f"{key!s:<{width}} = " if isinstance(key, str) else ""
            lines += self.field(old, new, path + (key,), label, indent)
        if hidden:
            lines.append(f"{indent}  # ({_count(hidden, noun)} hidden)")
        return lines

    def field(self, old: Any, new: Any, path: FieldPath, label: str, indent: str) -> list[str]:
        """One changed field: added, removed, changed in place (a nested diff), or changed whole."""
        note = "  # forces replacement" if path in self.forcing else ""
        close = "" if label else ","
        if old is _ABSENT or new is _ABSENT:
            sign, value = ("+", new) if old is _ABSENT else ("-", old)
            return self.whole(value, sign, label, indent, note, close)
        same_shape = (isinstance(old, dict) and isinstance(new, dict)) or (isinstance(old, list) and isinstance(new, list))
        if same_shape and (old or new):
            opening, closing = ("{", "}") if isinstance(new, dict) else ("[", "]")
            return ([f"{indent}~ {label}{opening}{note}"] + self.entries(old, new, path, indent + INDENT)
                    + [f"{indent}  {closing}{close}"])
        if _nested(old) or _nested(new):
            return self.whole(old, "-", label, indent, "", close) + self.whole(new, "+", label, indent, note, close)
        return [f"{indent}~ {label}{scalar(old, self.sensitive)} -> {scalar(new, self.sensitive)}{note}"]

    def whole(self, value: Any, sign: str, label: str, indent: str, note: str = "", close: str = "") -> list[str]:
        """A value shown whole, every nested field on its own line under ``sign``."""
        if not _nested(value) or not value:
            shown = json.dumps(value) if _nested(value) else scalar(value, self.sensitive)
            return [f"{indent}{sign} {label}{shown}{close}{note}"]
        inner = indent + INDENT
        if isinstance(value, dict):
            width = max(len(str(key)) for key in value)
            body = [line for key in sorted(value, key=str) for line in self.whole(value[key], sign, f"{key!s:<{width}} = ", inner)]
            return [f"{indent}{sign} {label}{{{note}"] + body + [f"{indent}  }}{close}"]
        body = [line for item in value for line in self.whole(item, sign, "", inner, close=",")]
        return [f"{indent}{sign} {label}[{note}"] + body + [f"{indent}  ]{close}"]


def _nested(value: Any) -> bool:
    return isinstance(value, (dict, list))


def _count(number: int, noun: str) -> str:
    return f"{number} unchanged {noun}{'' if number == 1 else 's'}"


def same_name_note(change: ResourceChange, stack_arg: str = ".") -> str:
    """For a create whose name the backend already holds without this stack's tag: what exists, and the
    import that adopts it instead of making a second one (``stack_arg`` is the stack directory as typed)."""
    if not change.same_name:
        return ""
    adoptable = [found for found in change.same_name if owner_of(found.tags) is None]
    if not adoptable:
        owners = ", ".join(sorted({f"{owner_of(found.tags)!r} (id {found.id})" for found in change.same_name}))
        return f"; a {change.kind} with this name exists, owned by stack {owners}"
    first = adoptable[0]
    more = f", and {len(adoptable) - 1} more" if len(adoptable) > 1 else ""
    command = f"fldecl import {change.address} {first.id}" + ("" if stack_arg in ("", ".") else f" {stack_arg}")
    return (f", but a {change.kind} named {json.dumps(first.name, ensure_ascii=False)} already exists without this stack's tag "
            f"(id {first.id}{more}); to adopt it instead: {command}")
