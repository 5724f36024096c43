"""Short, safe renderings of attribute values for people to read."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fldecl.core.plan import ResourceChange
from fldecl.core.stack import owner_of
from fldecl.variables import SENSITIVE_VALUE, masked

MAX_WIDTH = 80


def short(value: Any, sensitive: Iterable[str] = ()) -> str:
    """One value on one line; what refers to a sensitive variable shows as ``(sensitive value)``."""
    value = masked(value, sensitive)
    if value == SENSITIVE_VALUE:
        return SENSITIVE_VALUE
    if isinstance(value, str) and value.startswith("sha256:") and len(value) > 26:
        value = value[:19] + "…"
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_WIDTH else text[: MAX_WIDTH - 3] + "..."


SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}
VERBS = {"create": "will be created", "update": "will be updated in place", "replace": "must be replaced", "delete": "will be destroyed"}


def change_lines(change: ResourceChange, sensitive: Iterable[str] = ()) -> list[str]:
    """The indented detail lines of one resource change: reasons, then changed fields."""
    secret = list(sensitive)
    lines = []
    if change.action_label in ("replace", "delete", "update"):
        lines += [f"    # {reason}" for reason in change.reasons]
    if change.action_label == "create":
        lines += [f"    + {key} = {short(value, secret)}" for key, value in sorted((change.after or {}).items())]
    for field in change.fields:
        marker = "  # forces replacement" if field.forces_replacement and change.is_replace else ""
        if field.before is None:
            lines.append(f"    + {field.name} = {short(field.after, secret)}{marker}")
        elif field.after is None:
            lines.append(f"    - {field.name} = {short(field.before, secret)}{marker}")
        else:
            lines.append(f"    ~ {field.name}: {short(field.before, secret)} -> {short(field.after, secret)}{marker}")
    return lines


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
