"""Short, safe renderings of attribute values for people to read."""

from __future__ import annotations

import json
from typing import Any

MAX_WIDTH = 80


def short(value: Any) -> str:
    if isinstance(value, str) and value.startswith("sha256:") and len(value) > 26:
        value = value[:19] + "…"
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else json.dumps(value)
    return text if len(text) <= MAX_WIDTH else text[: MAX_WIDTH - 3] + "..."


SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}
VERBS = {"create": "will be created", "update": "will be updated in place", "replace": "must be replaced", "delete": "will be destroyed"}


def change_lines(change: Any) -> list[str]:
    """The indented detail lines of one resource change: reasons, then changed fields."""
    lines = []
    if change.action_label in ("replace", "delete", "update"):
        lines += [f"    # {reason}" for reason in change.reasons]
    if change.action_label == "create":
        lines += [f"    + {key} = {short(value)}" for key, value in sorted((change.after or {}).items())]
    for field in change.fields:
        marker = "  # forces replacement" if field.forces_replacement and change.is_replace else ""
        if field.before is None:
            lines.append(f"    + {field.name} = {short(field.after)}{marker}")
        elif field.after is None:
            lines.append(f"    - {field.name} = {short(field.before)}{marker}")
        else:
            lines.append(f"    ~ {field.name}: {short(field.before)} -> {short(field.after)}{marker}")
    return lines
