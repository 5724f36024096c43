"""Short, safe renderings of attribute values for people to read."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fldecl.core.plan import ResourceChange
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
